import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema } from "effect"
import { Actor, ActorSystem, Message } from "@mailroom/core"
import { ActorTarget, Operation, Scheduler } from "@mailroom/scheduler"
import { tick } from "./fixtures.js"

class Get extends Message.Request<Get>()("Get", {}, { success: Schema.Number }) {}
class Put extends Message.Request<Put>()("Put", { value: Schema.Number }, { success: Schema.Number }) {}
class Add extends Message.Request<Add>()("Add", { amount: Schema.Number }, { success: Schema.Number }) {}
const Register = Actor.protocol(Get, Put, Add)
type Msg = Get | Put | Add

/** A register actor that records every message it handles; the first message waits for `gate`. */
const register = (gate: Deferred.Deferred<void>, seen: Array<string>) =>
  Actor.behavior(Register, {
    initial: () => 0,
    receive: (value, msg, ctx) =>
      Effect.gen(function*() {
        if (seen.length === 0) yield* Deferred.await(gate)
        seen.push(msg._tag === "Get" ? "Get" : `${msg._tag} ${msg._tag === "Put" ? msg.value : msg.amount}`)
        switch (msg._tag) {
          case "Get":
            ctx.reply(msg, value)
            return value
          case "Put":
            ctx.reply(msg, msg.value)
            return msg.value
          case "Add":
            ctx.reply(msg, value + msg.amount)
            return value + msg.amount
        }
      })
  })

const sumAdds = Operation.combiner<Msg, number>(
  (inputs) => new Add({ amount: inputs.reduce((s, m) => s + (m as Add).amount, 0) }),
  (total, inputs) => inputs.map(() => total)
)

describe("ActorTarget", () => {
  it.effect("an empty pool is refused by attach with a typed error (no handler without an actor)", () =>
    Effect.gen(function*() {
      const bad = yield* Effect.flip(Scheduler.attach(ActorTarget.ask<string, Msg>([], { capacity: 4 })))
      expect(bad._tag).toBe("InvalidConfig")
      expect(bad.message).toContain("needs at least one actor")
    }).pipe(Effect.scoped, Effect.provide(Scheduler.layer())))

  it.effect("messages to an actor are merged and ordered by the scheduler", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const seen: Array<string> = []
      const ref = yield* ActorSystem.spawn(register(gate, seen))
      const lane = yield* Scheduler.attach(ActorTarget.ask<string, Msg>(ref))
      // the first request occupies the actor; everything after it waits in the scheduler
      const first = yield* Effect.forkChild(lane.submit(Operation.write("r", new Put({ value: 1 }))))
      yield* tick
      const rest = yield* Effect.forkChild(lane.submitAll([
        Operation.write("r", new Put({ value: 2 })),
        Operation.write("r", new Put({ value: 3 })),
        Operation.read("r", new Get()),
        Operation.read("r", new Get()),
        Operation.combine("r", new Add({ amount: 10 }), sumAdds),
        Operation.combine("r", new Add({ amount: 5 }), sumAdds),
        Operation.read("r", new Get())
      ]))
      yield* tick
      yield* Deferred.succeed(gate, undefined)
      expect(yield* Fiber.join(first)).toBe(1)
      const exits = yield* Fiber.join(rest)
      expect(exits.map((e) => (e._tag === "Success" ? e.value : "failed"))).toEqual([3, 3, 3, 3, 18, 18, 18])
      // 8 submissions, 5 messages, in submission order
      expect(seen).toEqual(["Put 1", "Put 3", "Get", "Add 15", "Get"])
    }).pipe(Effect.scoped, Effect.provide([Scheduler.layer(), ActorSystem.layer()])))

  it.effect("a pool of actors takes batches round-robin", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      yield* Deferred.succeed(gate, undefined)
      const seenA: Array<string> = []
      const seenB: Array<string> = []
      const a = yield* ActorSystem.spawn(register(gate, seenA))
      const b = yield* ActorSystem.spawn(register(gate, seenB))
      const lane = yield* Scheduler.attach(ActorTarget.ask<number, Msg>([a, b], { maxBatch: 2 }))
      const exits = yield* lane.submitAll([1, 2, 3, 4].map((k) => Operation.write(k, new Put({ value: k }))))
      expect(exits.every((e) => e._tag === "Success")).toBe(true)
      expect(seenA.length).toBe(2)
      expect(seenB.length).toBe(2)
    }).pipe(Effect.scoped, Effect.provide([Scheduler.layer(), ActorSystem.layer()])))
})
