/** The README's example, on a fresh schema and a free port instead of the defaults. */
import { describe, expect, it } from "@effect/vitest"
import { Actor, Message } from "@mailroom/core"
import { Effect, Layer, Schema } from "effect"
import { Runner, ShardedActor } from "../src/index.js"
import { adminLayer, freePort, pgUrl, skipMessage, testSchema } from "./support/pg.js"

if (pgUrl === undefined) console.log(skipMessage)

class Deposit extends Schema.TaggedClass<Deposit>()("Deposit", { amount: Schema.Number }) {}
class Balance extends Message.Request<Balance>()("Balance", {}, { success: Schema.Number }) {}

const account = Actor.behavior(Actor.protocol(Deposit, Balance), {
  initial: () => 0,
  receive: (balance, msg, ctx) => {
    if (msg._tag === "Deposit") return Effect.succeed(balance + msg.amount)
    ctx.reply(msg, balance)
    return Effect.succeed(balance)
  }
})

const Account = ShardedActor.entity("Account", account, { persisted: true })

const program = Effect.gen(function*() {
  const alice = yield* ShardedActor.ref(Account, "alice")
  yield* alice.tell(new Deposit({ amount: 100 }))
  return yield* alice.ask(new Balance())
})

describe.skipIf(pgUrl === undefined)("README", () => {
  it.live("the example runs", () =>
    Effect.gen(function*() {
      const { url, schema, prefix } = yield* testSchema
      const port = yield* Effect.promise(freePort)
      const Live = ShardedActor.layer(Account).pipe(
        Layer.provideMerge(Runner.layerPg({ url, port, schema, prefix }))
      )
      expect(yield* program.pipe(Effect.provide(Live))).toBe(100)
    }).pipe(Effect.scoped, Effect.provide(adminLayer())))
})
