import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Schedule, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorSystem, Message, Supervision } from "@mailroom/core"
import { drainLetters, settle } from "./helpers.js"

class Boom extends Schema.TaggedError<Boom>()("Boom", { id: Schema.Number }) {}
class Minor extends Schema.TaggedError<Minor>()("Minor", { id: Schema.Number }) {}

class Work extends Schema.TaggedClass<Work>()("Work", {
  id: Schema.Number,
  fail: Schema.Literals(["none", "boom", "minor", "defect", "hang"])
}) {}
class State extends Message.Request<State>()("State", {}, {
  success: Schema.Struct({ handled: Schema.Array(Schema.Number), incarnation: Schema.Number })
}) {}
const P = Actor.protocol(Work, State)

interface S {
  readonly handled: ReadonlyArray<number>
  readonly incarnation: number
}

const worker = (options: {
  readonly supervision: Supervision.Strategy
  readonly timeout?: Duration.Input
  readonly starts: { n: number }
}) =>
  Actor.behavior<typeof P, S, Boom | Minor>(P, {
    initial: (): S => ({ handled: [], incarnation: options.starts.n++ }),
    supervision: options.supervision,
    ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    receive: (s, msg, ctx) => {
      if (msg._tag === "State") {
        ctx.reply(msg, s)
        return Effect.succeed(s)
      }
      switch (msg.fail) {
        case "boom":
          return Effect.fail(new Boom({ id: msg.id }))
        case "minor":
          return Effect.fail(new Minor({ id: msg.id }))
        case "defect":
          return Effect.die(new Error(`bug on ${msg.id}`))
        case "hang":
          return Effect.never
        case "none":
          return Effect.succeed({ ...s, handled: [...s.handled, msg.id] })
      }
    }
  })

const ok = (id: number) => new Work({ id, fail: "none" })

describe("Supervision", () => {
  it.effect("resume keeps the state and dead-letters the failing message", () =>
    Effect.gen(function*() {
      const sub = yield* ActorSystem.subscribeDeadLetters
      const ref = yield* ActorSystem.spawn(worker({ supervision: Supervision.always(Supervision.resume), starts: { n: 0 } }))
      yield* ref.tell(ok(1))
      yield* ref.tell(new Work({ id: 2, fail: "boom" }))
      yield* ref.tell(ok(3))
      expect(yield* ref.ask(new State())).toStrictEqual({ handled: [1, 3], incarnation: 0 })
      const letters = yield* drainLetters(sub)
      expect(letters.length).toBe(1)
      expect(letters[0]!.reason).toBe("HandlerFailed")
      expect((letters[0]!.message as Work).id).toBe(2)
      expect(letters[0]!.detail).toContain("Boom")
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("restart gives fresh state after the backoff schedule, measured on the TestClock", () =>
    Effect.gen(function*() {
      const starts = { n: 0 }
      const ref = yield* ActorSystem.spawn(worker({
        supervision: Supervision.always(Supervision.restart({ backoff: Schedule.spaced("1 second"), maxRestarts: 5 })),
        starts
      }))
      yield* ref.tell(ok(1))
      yield* ref.tell(new Work({ id: 2, fail: "boom" }))
      yield* ref.tell(ok(3))
      yield* settle
      // Suspended in backoff: message 3 waits, the old incarnation is gone.
      expect(starts.n).toBe(1)
      yield* TestClock.adjust("999 millis")
      yield* settle
      expect(starts.n).toBe(1)
      yield* TestClock.adjust("1 millis")
      expect(yield* ref.ask(new State())).toStrictEqual({ handled: [3], incarnation: 1 })
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("restart intensity: more than N restarts within T stops the actor and tells its parent", () =>
    Effect.gen(function*() {
      const sub = yield* ActorSystem.subscribeDeadLetters
      const starts = { n: 0 }
      const terminated: Array<Actor.Terminated> = []
      const childBehavior = worker({
        supervision: Supervision.always(Supervision.restart({ backoff: Schedule.spaced("10 millis"), maxRestarts: 2, within: "1 minute" })),
        starts
      })
      class Spawn extends Message.Request<Spawn>()("Spawn", {}, { success: Schema.Any }) {}
      const parent = Actor.behavior(Actor.protocol(Spawn), {
        initial: () => 0,
        receive: (s, msg, ctx) =>
          Effect.map(ctx.spawn(childBehavior), (child) => {
            ctx.reply(msg, child)
            return s
          }).pipe(Effect.orDie),
        onTerminated: (s, t) => Effect.sync(() => (terminated.push(t), s))
      })
      const p = yield* ActorSystem.spawn(parent)
      const child = (yield* p.ask(new Spawn())) as Actor.ActorRef<Work | State>
      for (let i = 0; i < 3; i++) {
        yield* child.tell(new Work({ id: i, fail: "boom" }))
        yield* settle
        yield* TestClock.adjust("10 millis")
        yield* settle
      }
      expect(child.isAlive).toBe(false)
      expect(starts.n).toBe(3) // initial + 2 restarts
      const reason = yield* child.awaitTermination
      expect(reason._tag).toBe("Failed")
      expect(terminated.length).toBe(1)
      expect(terminated[0]!.actor).toBe(child)
      expect(terminated[0]!.reason._tag).toBe("Failed")
      const letters = yield* drainLetters(sub)
      expect(letters.map((l) => (l.message as Work).id)).toStrictEqual([0, 1, 2])
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("restart intensity window: restarts older than T do not count", () =>
    Effect.gen(function*() {
      const starts = { n: 0 }
      const ref = yield* ActorSystem.spawn(worker({
        supervision: Supervision.always(Supervision.restart({ backoff: Schedule.spaced("1 millis"), maxRestarts: 1, within: "1 second" })),
        starts
      }))
      for (let i = 0; i < 4; i++) {
        yield* ref.tell(new Work({ id: i, fail: "boom" }))
        yield* settle
        yield* TestClock.adjust("2 seconds")
        yield* settle
      }
      expect(ref.isAlive).toBe(true)
      expect(starts.n).toBe(5)
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("redeliver: the failing message is retried first after the restart", () =>
    Effect.gen(function*() {
      let attempts = 0
      const flaky = Actor.behavior(P, {
        initial: (): S => ({ handled: [], incarnation: 0 }),
        supervision: Supervision.always(Supervision.restart({ backoff: Schedule.spaced("1 millis"), redeliver: true })),
        receive: (s, msg, ctx) => {
          if (msg._tag === "State") {
            ctx.reply(msg, s)
            return Effect.succeed(s)
          }
          if (msg.id === 1 && ++attempts < 3) return Effect.fail(new Boom({ id: 1 }))
          return Effect.succeed({ ...s, handled: [...s.handled, msg.id] })
        }
      })
      const ref = yield* ActorSystem.spawn(flaky)
      yield* ref.tell(ok(1))
      yield* ref.tell(ok(2))
      for (let i = 0; i < 3; i++) {
        yield* settle
        yield* TestClock.adjust("1 millis")
      }
      expect(yield* ref.ask(new State())).toStrictEqual({ handled: [1, 2], incarnation: 0 })
      expect(attempts).toBe(3)
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("stop: the actor stops, the failing and the waiting messages are dead-lettered", () =>
    Effect.gen(function*() {
      const sub = yield* ActorSystem.subscribeDeadLetters
      const ref = yield* ActorSystem.spawn(worker({ supervision: Supervision.always(Supervision.stop), starts: { n: 0 } }))
      ref.tellUnsafe(new Work({ id: 1, fail: "defect" }))
      ref.tellUnsafe(ok(2))
      const reason = yield* ref.awaitTermination
      expect(reason._tag).toBe("Failed")
      if (reason._tag === "Failed") expect(reason.detail).toContain("bug on 1")
      const letters = yield* drainLetters(sub)
      expect(letters.map((l) => [(l.message as Work).id, l.reason])).toStrictEqual([[1, "HandlerFailed"], [2, "ActorStopped"]])
      const late = yield* Effect.flip(ref.ask(new State()))
      expect(late._tag).toBe("ActorStopped")
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("byTag selects the directive by error type", () =>
    Effect.gen(function*() {
      const starts = { n: 0 }
      const ref = yield* ActorSystem.spawn(worker({
        supervision: Supervision.byTag({
          tags: { Minor: Supervision.resume },
          otherwise: Supervision.restart({ backoff: Schedule.spaced("0 millis") })
        }),
        starts
      }))
      yield* ref.tell(ok(1))
      yield* ref.tell(new Work({ id: 2, fail: "minor" }))
      expect(yield* ref.ask(new State())).toStrictEqual({ handled: [1], incarnation: 0 })
      yield* ref.tell(new Work({ id: 3, fail: "boom" }))
      yield* settle
      yield* TestClock.adjust("1 millis")
      expect(yield* ref.ask(new State())).toStrictEqual({ handled: [], incarnation: 1 })
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("escalate: the child stops and its failure is decided by the parent's supervision", () =>
    Effect.gen(function*() {
      const parentStarts = { n: 0 }
      const childBehavior = worker({ supervision: Supervision.always(Supervision.escalate), starts: { n: 0 } })
      class Spawn extends Message.Request<Spawn>()("Spawn", {}, { success: Schema.Any }) {}
      const parent = Actor.behavior(Actor.protocol(Spawn), {
        initial: () => parentStarts.n++,
        supervision: Supervision.always(Supervision.stop),
        receive: (s, msg, ctx) =>
          Effect.map(ctx.spawn(childBehavior), (child) => {
            ctx.reply(msg, child)
            return s
          }).pipe(Effect.orDie)
      })
      const p = yield* ActorSystem.spawn(parent)
      const child = (yield* p.ask(new Spawn())) as Actor.ActorRef<Work>
      yield* child.tell(new Work({ id: 1, fail: "boom" }))
      const childReason = yield* child.awaitTermination
      const parentReason = yield* p.awaitTermination
      expect(childReason._tag).toBe("Failed")
      expect(parentReason._tag).toBe("Failed")
      if (parentReason._tag === "Failed") expect(parentReason.detail).toContain("Boom")
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("a per-message timeout turns a stuck handler into a failure", () =>
    Effect.gen(function*() {
      const sub = yield* ActorSystem.subscribeDeadLetters
      const ref = yield* ActorSystem.spawn(worker({
        supervision: Supervision.byTag({ tags: {}, timeout: Supervision.resume, otherwise: Supervision.stop }),
        timeout: "100 millis",
        starts: { n: 0 }
      }))
      yield* ref.tell(new Work({ id: 1, fail: "hang" }))
      yield* ref.tell(ok(2))
      yield* settle
      yield* TestClock.adjust("100 millis")
      expect(yield* ref.ask(new State())).toStrictEqual({ handled: [2], incarnation: 0 })
      const letters = yield* drainLetters(sub)
      expect(letters.map((l) => l.reason)).toStrictEqual(["Timeout"])
      expect(letters[0]!.detail).toContain("100 ms")
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("an asker whose message was dropped by supervision gets HandlerFailed", () =>
    Effect.gen(function*() {
      class Risky extends Message.Request<Risky>()("Risky", {}, { success: Schema.Number }) {}
      const b = Actor.behavior(Actor.protocol(Risky), {
        initial: () => 0,
        supervision: Supervision.always(Supervision.resume),
        receive: () => Effect.fail(new Boom({ id: 9 }))
      })
      const ref = yield* ActorSystem.spawn(b)
      const err = yield* Effect.flip(ref.ask(new Risky()))
      expect(err._tag).toBe("HandlerFailed")
      expect(err.message).toContain("Boom")
    }).pipe(Effect.provide(ActorSystem.layer())))
})
