/**
 * The README's example, verbatim apart from assertions (which replace its `console.log`s), so it
 * cannot rot. `tools/pack-check` runs the README's text itself from the packed package.
 */
import { expect, it } from "@effect/vitest"
import { Effect, Schedule, Schema } from "effect"
import { Actor, ActorSystem, Message, Supervision } from "@mailroom/core"

class InsufficientFunds extends Schema.TaggedError<InsufficientFunds>()("InsufficientFunds", {
  balance: Schema.Number
}) {}
class Deposit extends Schema.TaggedClass<Deposit>()("Deposit", { amount: Schema.Number }) {}
class Withdraw extends Message.Request<Withdraw>()("Withdraw", { amount: Schema.Number }, {
  success: Schema.Number,
  error: InsufficientFunds
}) {}

const account = Actor.behavior(Actor.protocol(Deposit, Withdraw), {
  initial: () => 0,
  supervision: Supervision.always(Supervision.restart({ backoff: Schedule.exponential("10 millis") })),
  receive: (balance, msg, ctx) => {
    switch (msg._tag) {
      case "Deposit":
        return Effect.succeed(balance + msg.amount)
      case "Withdraw":
        if (msg.amount > balance) {
          ctx.fail(msg, new InsufficientFunds({ balance })) // a typed reply, not a crash
          return Effect.succeed(balance)
        }
        ctx.reply(msg, balance - msg.amount)
        return Effect.succeed(balance - msg.amount)
    }
  }
})

it.effect("README example", () =>
  Effect.gen(function*() {
    const alice = yield* ActorSystem.spawn(account, { name: "alice" })
    yield* alice.tell(new Deposit({ amount: 100 }))
    const left: number = yield* alice.ask(new Withdraw({ amount: 30 }))
    expect(left).toBe(70)
    const refused = yield* alice.ask(new Withdraw({ amount: 500 })).pipe(
      Effect.catchTag("InsufficientFunds", (e) => Effect.succeed(`refused, balance ${e.balance}`))
    )
    expect(refused).toBe("refused, balance 70")
  }).pipe(Effect.provide(ActorSystem.layer())))
