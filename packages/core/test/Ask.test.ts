import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Schedule, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorSystem, Mailbox, Message, Supervision } from "@mailroom/core"
import { drainLetters, settle } from "./helpers.js"

class Block extends Schema.TaggedClass<Block>()("Block", {}) {}
class Req extends Message.Request<Req>()("Req", { n: Schema.Number }, { success: Schema.Number }) {}
const P = Actor.protocol(Block, Req)

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/** `Block` holds the handler until the latch opens; each `Req` is recorded and answered. */
const latched = (mailbox: Mailbox.Mailbox, latch: Deferred.Deferred<void>, handled: Array<number>) =>
  Actor.behavior(P, {
    initial: () => 0,
    mailbox,
    receive: (s, msg, ctx) => {
      if (msg._tag === "Block") return Effect.as(Deferred.await(latch), s)
      handled.push(msg.n)
      ctx.reply(msg, msg.n)
      return Effect.succeed(s + 1)
    }
  })

/** What went to dead letters, as [n, reason] pairs sorted by n. */
/** Immediate shutdown: a failed assertion must not leave the layer waiting on a blocked handler. */
const system = ActorSystem.layer({ shutdown: "immediate" })

const lettered = (letters: ReadonlyArray<{ readonly message: unknown; readonly reason: string }>) =>
  letters.map((l) => [(l.message as Req).n, l.reason] as const).sort((a, b) => a[0] - b[0])

describe("ask: an asker that gives up withdraws its request", () => {
  it.effect("bounded(2, suspend), handler blocked: 1,000 asks time out, none is handled later, all are dead-lettered", () =>
    Effect.gen(function*() {
      const sub = yield* ActorSystem.subscribeDeadLetters
      const latch = yield* Deferred.make<void>()
      const handled: Array<number> = []
      const ref = yield* ActorSystem.spawn(latched(Mailbox.bounded(2, "suspend"), latch, handled))
      yield* ref.tell(new Block()) // the handler is now blocked on the latch
      const asking = yield* Effect.forkChild(
        Effect.forEach(range(1000), (n) => Effect.flip(ref.ask(new Req({ n }), { timeout: "20 millis" })), {
          concurrency: "unbounded"
        })
      )
      yield* settle
      yield* TestClock.adjust("20 millis")
      const errors = yield* Fiber.join(asking)
      expect(errors.length).toBe(1000)
      expect(errors.filter((e) => e._tag === "AskTimeout").length).toBe(1000)
      const letteredAtTimeout = (yield* ActorSystem.stats).deadLetters
      yield* Deferred.succeed(latch, undefined)
      // a fresh ask goes behind whatever is left in the mailbox: when it is answered, the rest ran
      expect(yield* ref.ask(new Req({ n: -1 }))).toBe(-1)
      expect(handled).toStrictEqual([-1])
      const letters = yield* drainLetters(sub)
      expect(lettered(letters)).toStrictEqual(range(1000).map((n) => [n, "AskTimeout"]))
      expect(letters[0]!.detail).toContain("20 ms")
      // each was accounted for when its asker gave up, not when the handler freed up
      expect(letteredAtTimeout).toBe(1000)
      expect((yield* ActorSystem.stats).mailboxDepth).toBe(0)
    }).pipe(Effect.provide(system)))

  it.effect("bounded(2, suspend), handler blocked: 1,000 asks interrupted by their scope closing are withdrawn", () =>
    Effect.gen(function*() {
      const sub = yield* ActorSystem.subscribeDeadLetters
      const latch = yield* Deferred.make<void>()
      const handled: Array<number> = []
      const ref = yield* ActorSystem.spawn(latched(Mailbox.bounded(2, "suspend"), latch, handled))
      yield* ref.tell(new Block())
      const fibers = yield* Effect.scoped(Effect.gen(function*() {
        const fibers = yield* Effect.forEach(range(1000), (n) => Effect.forkScoped(ref.ask(new Req({ n }), { timeout: "1 hour" })))
        yield* settle
        return fibers
      }))
      for (const f of fibers) expect(Exit.hasInterrupts(yield* Fiber.await(f))).toBe(true)
      yield* Deferred.succeed(latch, undefined)
      expect(yield* ref.ask(new Req({ n: -1 }))).toBe(-1)
      expect(handled).toStrictEqual([-1])
      const letters = yield* drainLetters(sub)
      expect(lettered(letters)).toStrictEqual(range(1000).map((n) => [n, "SenderInterrupted"]))
      expect((yield* ActorSystem.stats).mailboxDepth).toBe(0)
    }).pipe(Effect.provide(system)))

  it.effect("unbounded mailbox: an ask that timed out while queued is not handled; the ones still wanted are", () =>
    Effect.gen(function*() {
      const sub = yield* ActorSystem.subscribeDeadLetters
      const latch = yield* Deferred.make<void>()
      const handled: Array<number> = []
      const ref = yield* ActorSystem.spawn(latched(Mailbox.unbounded, latch, handled))
      yield* ref.tell(new Block())
      const early = yield* Effect.forkChild(Effect.flip(ref.ask(new Req({ n: 1 }), { timeout: "1 second" })))
      const patient = yield* Effect.forkChild(ref.ask(new Req({ n: 2 }), { timeout: "1 minute" }))
      yield* settle
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(early))._tag).toBe("AskTimeout")
      yield* Deferred.succeed(latch, undefined)
      expect(yield* Fiber.join(patient)).toBe(2)
      expect(handled).toStrictEqual([2])
      expect(lettered(yield* drainLetters(sub))).toStrictEqual([[1, "AskTimeout"]])
    }).pipe(Effect.provide(system)))

  it.effect("batch receive: withdrawn asks are left out of the batch", () =>
    Effect.gen(function*() {
      const sub = yield* ActorSystem.subscribeDeadLetters
      const latch = yield* Deferred.make<void>()
      const batches: Array<Array<number>> = []
      const ref = yield* ActorSystem.spawn(Actor.behavior(P, {
        initial: () => 0,
        batch: {
          max: 10,
          receive: (s, msgs, ctx) => {
            if (msgs.some((m) => m._tag === "Block")) return Effect.as(Deferred.await(latch), s)
            batches.push(msgs.map((m) => (m as Req).n))
            for (const m of msgs) if (m._tag === "Req") ctx.reply(m, m.n)
            return Effect.succeed(s)
          }
        }
      }))
      yield* ref.tell(new Block())
      yield* settle
      const fibers = yield* Effect.forEach(
        range(6),
        (n) => Effect.forkChild(Effect.exit(ref.ask(new Req({ n }), { timeout: n % 2 === 0 ? "1 second" : "1 minute" })))
      )
      yield* settle
      yield* TestClock.adjust("1 second")
      yield* Deferred.succeed(latch, undefined)
      const exits = yield* Effect.forEach(fibers, Fiber.join)
      expect(exits.map((e) => (Exit.isSuccess(e) ? e.value : "timeout"))).toStrictEqual(["timeout", 1, "timeout", 3, "timeout", 5])
      expect(batches).toStrictEqual([[1, 3, 5]])
      expect(lettered(yield* drainLetters(sub))).toStrictEqual([[0, "AskTimeout"], [2, "AskTimeout"], [4, "AskTimeout"]])
    }).pipe(Effect.provide(system)))

  it.effect("restart with redeliver does not hand a request whose asker gave up to the next incarnation", () =>
    Effect.gen(function*() {
      const sub = yield* ActorSystem.subscribeDeadLetters
      const latch = yield* Deferred.make<void>()
      const attempts: Array<number> = []
      const ref = yield* ActorSystem.spawn(Actor.behavior(P, {
        initial: () => 0,
        supervision: Supervision.always(Supervision.restart({ backoff: Schedule.spaced(0), redeliver: true })),
        receive: (s, msg, ctx) => {
          if (msg._tag === "Block") return Effect.succeed(s)
          attempts.push(msg.n)
          // the first attempt fails once the latch opens; a redelivered one succeeds
          if (attempts.length === 1) return Effect.andThen(Deferred.await(latch), Effect.fail("boom"))
          ctx.reply(msg, msg.n)
          return Effect.succeed(s)
        }
      }))
      const asking = yield* Effect.forkChild(Effect.flip(ref.ask(new Req({ n: 7 }), { timeout: "1 second" })))
      yield* settle
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(asking))._tag).toBe("AskTimeout")
      yield* Deferred.succeed(latch, undefined)
      expect(yield* ref.ask(new Req({ n: 8 }))).toBe(8)
      expect(attempts).toStrictEqual([7, 8])
      const letters = yield* drainLetters(sub)
      expect(lettered(letters)).toStrictEqual([[7, "HandlerFailed"]])
    }).pipe(Effect.provide(system)))

  it.effect("an ask the handler already started runs to its end after its asker gave up; nothing is dead-lettered", () =>
    Effect.gen(function*() {
      const sub = yield* ActorSystem.subscribeDeadLetters
      const latch = yield* Deferred.make<void>()
      const handled: Array<number> = []
      const ref = yield* ActorSystem.spawn(Actor.behavior(P, {
        initial: () => 0,
        receive: (s, msg, ctx) => {
          if (msg._tag === "Block") return Effect.succeed(s)
          return Effect.map(Deferred.await(latch), () => {
            handled.push(msg.n)
            ctx.reply(msg, msg.n)
            return s
          })
        }
      }))
      const asking = yield* Effect.forkChild(Effect.flip(ref.ask(new Req({ n: 1 }), { timeout: "1 second" })))
      yield* settle
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(asking))._tag).toBe("AskTimeout")
      yield* Deferred.succeed(latch, undefined)
      expect(yield* ref.ask(new Req({ n: 2 }))).toBe(2)
      expect(handled).toStrictEqual([1, 2])
      expect(yield* drainLetters(sub)).toStrictEqual([])
    }).pipe(Effect.provide(system)))

  it.effect("a request its handler answered is not dead-lettered when the handler is interrupted right after", () =>
    Effect.gen(function*() {
      const sub = yield* ActorSystem.subscribeDeadLetters
      const ref = yield* ActorSystem.spawn(Actor.behavior(P, {
        initial: () => 0,
        receive: (s, msg, ctx) => {
          if (msg._tag === "Block") return Effect.succeed(s)
          // an effectful handler: the reply resumes the asker while the handler's fiber is still running
          return Effect.map(Effect.yieldNow, () => {
            ctx.reply(msg, msg.n)
            return s + 1
          })
        }
      }))
      expect(yield* ref.ask(new Req({ n: 1 }))).toBe(1)
      yield* ref.stopNow // may land before the handler's fiber has ended
      expect(yield* drainLetters(sub)).toStrictEqual([])
    }).pipe(Effect.provide(system)))
})
