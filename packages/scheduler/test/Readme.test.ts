/**
 * Every example of the README, verbatim apart from assertions (which replace its `console.log`s)
 * and the few definitions a fragment leaves to the reader, so they cannot rot. `tools/pack-check`
 * runs the first example's text itself from the packed package.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Schema } from "effect"
import { Actor, ActorSystem, Message } from "@mailroom/core"
import { ActorTarget, Operation, Policy, Scheduler, Target } from "@mailroom/scheduler"

// The first example.
const db = new Map<string, number>()
let items = 0

// A target: a handler that takes a whole batch, and how many batches it can have in flight.
const kv = Target.make<string, number | undefined, number | undefined>({
  name: "kv",
  capacity: 4, // credits, e.g. connections in a pool
  handle: (batch) =>
    Effect.sync(() =>
      batch.map((work) => {
        items++
        if (work.kind === "last-wins") db.set(work.key, work.input!)
        return db.get(work.key)
      })
    )
})

// Written against the Scheduler service; a Layer decides which scheduler runs it.
const program = Effect.gen(function*() {
  const lane = yield* Scheduler.attach(kv)
  // Six operations on one key, submitted together: the three writes collapse to the last
  // one, the three reads run once after it. The store sees two items, everyone gets 3.
  const exits = yield* lane.submitAll([
    Operation.write("a", 1),
    Operation.write("a", 2),
    Operation.write("a", 3),
    Operation.read("a"),
    Operation.read("a"),
    Operation.read("a")
  ])
  const { submitted, dispatched, superseded, coalesced } = lane.stats()
  return { exits, stats: { submitted, dispatched, superseded, coalesced } }
}).pipe(Effect.scoped)

const run = <A, E>(self: Effect.Effect<A, E>) =>
  Effect.suspend(() => {
    db.clear()
    items = 0
    return self
  })

describe("README", () => {
  it.effect("first example: writes collapse, reads coalesce", () =>
    Effect.gen(function*() {
      const { exits, stats } = yield* run(program.pipe(Effect.provide(Scheduler.layer({ policy: Policy.elevator }))))
      expect(exits.map(String).join(" ")).toBe("Success(3) Success(3) Success(3) Success(3) Success(3) Success(3)")
      expect(exits).toEqual(Array.from({ length: 6 }, () => Exit.succeed(3)))
      expect(stats).toStrictEqual({ submitted: 6, dispatched: 2, superseded: 2, coalesced: 2 })
      expect(items).toBe(2)
    }))

  it.effect("actors behind the scheduler", () => {
    // What the fragment leaves to the reader: an account actor with the protocol Get | Put | Add.
    class Get extends Message.Request<Get>()("Get", {}, { success: Schema.Number }) {}
    class Put extends Message.Request<Put>()("Put", { value: Schema.Number }, { success: Schema.Number }) {}
    class Add extends Message.Request<Add>()("Add", { amount: Schema.Number }, { success: Schema.Number }) {}
    type Msg = Get | Put | Add
    const accountBehavior = Actor.behavior(Actor.protocol(Get, Put, Add), {
      initial: () => 0,
      receive: (value, msg, ctx) => {
        const next = msg._tag === "Get" ? value : msg._tag === "Put" ? msg.value : value + msg.amount
        ctx.reply(msg, next)
        return Effect.succeed(next)
      }
    })

    const accounts = Effect.gen(function*() {
      const account = yield* ActorSystem.spawn(accountBehavior)          // protocol: Get | Put | Add
      const lane = yield* Scheduler.attach(ActorTarget.ask<string, Msg>(account))
      yield* lane.submit(Operation.write("acc-1", new Put({ value: 3 })))
      return yield* lane.submit(Operation.read("acc-1", new Get()))      // 3
    }).pipe(Effect.scoped, Effect.provide([Scheduler.layer(), ActorSystem.layer()]))

    return Effect.map(accounts, (balance) => expect(balance).toBe(3))
  })

  it.effect("a custom policy and a custom scheduler run the first example's program", () =>
    Effect.gen(function*() {
      // A policy: largest merged operations first.
      const biggestFirst = Policy.make("biggest-first", (candidates, limit) =>
        candidates.sort((a, b) => b.size - a.size).slice(0, limit))

      const underPolicy = yield* run(program.pipe(Effect.provide(Scheduler.layer({ policy: biggestFirst }))))
      expect(underPolicy.stats).toStrictEqual({ submitted: 6, dispatched: 2, superseded: 2, coalesced: 2 })

      // A whole scheduler: no merging, no waiting — each operation is its own batch.
      const direct = Layer.succeed(Scheduler.Scheduler, Scheduler.custom((target) =>
        Effect.map(Effect.context(), (context) => (op) =>
          target.handle([{ ...op, size: 1 }]).pipe(
            Effect.flatMap((results) => Effect.fromResult(results[0]!)),
            Effect.provideContext(context)
          ))))

      const underDirect = yield* run(program.pipe(Effect.provide(direct)))
      // Nothing merged: the store sees all six operations.
      expect(items).toBe(6)
      expect(underDirect.stats).toStrictEqual({ submitted: 6, dispatched: 6, superseded: 0, coalesced: 0 })
      expect(underDirect.exits.map(String).join(" ")).toBe("Success(1) Success(2) Success(3) Success(3) Success(3) Success(3)")
    }))
})
