import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorSystem, Mailbox, Message } from "@mailroom/core"
import { drainLetters, settle } from "./helpers.js"

class Item extends Schema.TaggedClass<Item>()("Item", { n: Schema.Number }) {}
class Seen extends Message.Request<Seen>()("Seen", {}, { success: Schema.Array(Schema.Number) }) {}
const P = Actor.protocol(Item, Seen)

/** An actor held by a gate: its first message blocks until the gate opens. */
const gated = (mailbox: Mailbox.Mailbox, gate: Deferred.Deferred<void>) =>
  Actor.behavior(P, {
    initial: () => [] as Array<number>,
    mailbox,
    receive: (seen, msg, ctx) => {
      if (msg._tag === "Seen") {
        ctx.reply(msg, seen)
        return Effect.succeed(seen)
      }
      return Deferred.await(gate).pipe(Effect.as([...seen, msg.n]))
    }
  })

const fill = (strategy: Mailbox.OverflowStrategy, options?: Mailbox.BoundedOptions) =>
  Effect.gen(function*() {
    const sub = yield* ActorSystem.subscribeDeadLetters
    const gate = yield* Deferred.make<void>()
    const ref = yield* ActorSystem.spawn(gated(Mailbox.bounded(2, strategy, options), gate))
    // 0 is taken by the handler (blocked on the gate); 1 and 2 fill the mailbox.
    for (const n of [0, 1, 2]) expect(ref.tellUnsafe(new Item({ n }))).toBe(true)
    return { sub, gate, ref }
  })

describe("Mailbox", () => {
  it.effect("dropNewest: a message arriving at a full mailbox is dead-lettered", () =>
    Effect.gen(function*() {
      const { gate, ref, sub } = yield* fill("dropNewest")
      expect(ref.tellUnsafe(new Item({ n: 3 }))).toBe(false)
      yield* ref.tell(new Item({ n: 4 }))
      yield* Deferred.succeed(gate, undefined)
      expect(yield* ref.ask(new Seen())).toStrictEqual([0, 1, 2])
      const letters = yield* drainLetters(sub)
      expect(letters.map((l) => [(l.message as Item).n, l.reason])).toStrictEqual([[3, "MailboxFull"], [4, "MailboxFull"]])
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("dropOldest: the oldest waiting message is dead-lettered, the new one kept", () =>
    Effect.gen(function*() {
      const { gate, ref, sub } = yield* fill("dropOldest")
      expect(ref.tellUnsafe(new Item({ n: 3 }))).toBe(true)
      yield* ref.tell(new Item({ n: 4 }))
      yield* Deferred.succeed(gate, undefined)
      expect(yield* ref.ask(new Seen())).toStrictEqual([0, 3, 4])
      const letters = yield* drainLetters(sub)
      expect(letters.map((l) => [(l.message as Item).n, l.reason])).toStrictEqual([[1, "DroppedOldest"], [2, "DroppedOldest"]])
      // the dropped ones left the depth gauge too
      expect((yield* ActorSystem.stats).mailboxDepth).toBe(0)
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("fail: the sender gets MailboxFull and nothing is dead-lettered", () =>
    Effect.gen(function*() {
      const { gate, ref, sub } = yield* fill("fail")
      expect(ref.tellUnsafe(new Item({ n: 3 }))).toBe(false)
      const err = yield* Effect.flip(ref.tell(new Item({ n: 4 })))
      expect(err._tag).toBe("MailboxFull")
      expect(err.capacity).toBe(2)
      const askErr = yield* Effect.flip(ref.ask(new Seen()))
      expect(askErr._tag).toBe("MailboxFull")
      yield* Deferred.succeed(gate, undefined)
      expect(yield* ref.ask(new Seen())).toStrictEqual([0, 1, 2])
      expect(yield* drainLetters(sub)).toStrictEqual([])
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("suspend: the sender waits for room (backpressure); nothing is lost", () =>
    Effect.gen(function*() {
      const { gate, ref, sub } = yield* fill("suspend")
      expect(ref.tellUnsafe(new Item({ n: 3 }))).toBe(false)
      const sender = yield* Effect.forkChild(Effect.forEach([4, 5, 6], (n) => ref.tell(new Item({ n })), { discard: true }))
      yield* settle
      expect(sender.pollUnsafe()).toBeUndefined() // still waiting
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(sender)
      expect(yield* ref.ask(new Seen())).toStrictEqual([0, 1, 2, 4, 5, 6])
      expect(yield* drainLetters(sub)).toStrictEqual([])
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("system messages overtake user messages: stopNow does not wait for the mailbox", () =>
    Effect.gen(function*() {
      const { ref, sub } = yield* fill("suspend")
      yield* ref.stopNow
      const letters = yield* drainLetters(sub)
      // 0 was interrupted in the handler; 1 and 2 never ran
      expect(letters.map((l) => [(l.message as Item).n, l.reason])).toStrictEqual([
        [0, "ActorStopped"],
        [1, "ActorStopped"],
        [2, "ActorStopped"]
      ])
    }).pipe(Effect.provide(ActorSystem.layer())))
})

/** The thrown configuration error, or undefined. */
const thrown = (f: () => unknown): any => {
  try {
    f()
    return undefined
  } catch (e) {
    return e
  }
}

/** Runs `effect` and requires it to have finished without waiting (for "refused at once"). */
const atOnce = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(effect)
    yield* settle
    expect(fiber.pollUnsafe(), "finished without waiting").toBeDefined()
    return yield* Fiber.join(fiber)
  })

describe("Mailbox: stopping and withdrawn requests", () => {
  it.effect("dropOldest: a graceful stop is not pushed out of a full mailbox; later messages are dead-lettered", () =>
    Effect.gen(function*() {
      const { gate, ref, sub } = yield* fill("dropOldest")
      const stopping = yield* Effect.forkChild(ref.stop)
      yield* settle
      for (const n of [3, 4, 5]) yield* ref.tell(new Item({ n }))
      yield* Deferred.succeed(gate, undefined)
      yield* settle
      expect(stopping.pollUnsafe(), "the actor stopped").toBeDefined()
      expect(ref.isAlive).toBe(false)
      // 1 and 2 were in the mailbox before the stop: handled, not pushed out by later messages
      const letters = yield* drainLetters(sub)
      expect(letters.map((l) => [(l.message as Item).n, l.reason])).toStrictEqual([
        [3, "ActorStopped"],
        [4, "ActorStopped"],
        [5, "ActorStopped"]
      ])
    }).pipe(Effect.provide(ActorSystem.layer({ shutdown: "immediate" }))))

  it.effect("suspend: a graceful stop answers the waiting senders at once (their messages come after the stop)", () =>
    Effect.gen(function*() {
      const { gate, ref, sub } = yield* fill("suspend")
      const waitingTell = yield* Effect.forkChild(ref.tell(new Item({ n: 3 })))
      const waitingAsk = yield* Effect.forkChild(Effect.flip(ref.ask(new Seen())))
      yield* settle
      const stopping = yield* Effect.forkChild(ref.stop)
      yield* settle
      expect(waitingTell.pollUnsafe(), "the waiting tell was answered").toBeDefined()
      expect(waitingAsk.pollUnsafe(), "the waiting ask was answered").toBeDefined()
      expect((yield* Fiber.join(waitingAsk))._tag).toBe("ActorStopped")
      const letters = yield* drainLetters(sub)
      expect(letters.map((l) => [l.message instanceof Item ? l.message.n : "Seen", l.reason])).toStrictEqual([
        [3, "ActorStopped"],
        ["Seen", "ActorStopped"]
      ])
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(stopping)
      expect(yield* drainLetters(sub)).toStrictEqual([]) // 1 and 2 were in the mailbox: handled
    }).pipe(Effect.provide(ActorSystem.layer({ shutdown: "immediate" }))))

  it.effect("dropOldest: a withdrawn ask no longer takes room, and is not dropped a second time", () =>
    Effect.gen(function*() {
      const sub = yield* ActorSystem.subscribeDeadLetters
      const gate = yield* Deferred.make<void>()
      const ref = yield* ActorSystem.spawn(gated(Mailbox.bounded(2, "dropOldest"), gate))
      yield* ref.tell(new Item({ n: 0 })) // taken, blocked on the gate
      const gaveUp = yield* Effect.forkChild(Effect.flip(ref.ask(new Seen(), { timeout: "1 second" })))
      yield* ref.tell(new Item({ n: 1 }))
      yield* settle
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(gaveUp))._tag).toBe("AskTimeout")
      yield* ref.tell(new Item({ n: 2 })) // room: the withdrawn ask does not count
      yield* Deferred.succeed(gate, undefined)
      expect(yield* ref.ask(new Seen())).toStrictEqual([0, 1, 2])
      const letters = yield* drainLetters(sub)
      expect(letters.map((l) => [l.message instanceof Item ? l.message.n : "Seen", l.reason])).toStrictEqual([
        ["Seen", "AskTimeout"]
      ])
    }).pipe(Effect.provide(ActorSystem.layer({ shutdown: "immediate" }))))
})

describe("Mailbox: waiting senders of a suspend mailbox are bounded", () => {
  it.effect("past maxWaitingSenders a sender gets TooManyWaitingSenders at once (tell and ask); the waiting ones get in", () =>
    Effect.gen(function*() {
      const { gate, ref, sub } = yield* fill("suspend", { maxWaitingSenders: 2 })
      const waiting = yield* Effect.forkChild(
        Effect.forEach([3, 4], (n) => ref.tell(new Item({ n })), { concurrency: "unbounded", discard: true })
      )
      yield* settle
      expect(waiting.pollUnsafe()).toBeUndefined()
      const refused = yield* atOnce(Effect.flip(ref.tell(new Item({ n: 5 }))))
      expect(refused._tag).toBe("TooManyWaitingSenders")
      if (refused._tag !== "TooManyWaitingSenders") return
      expect(refused.actor).toBe(ref.path)
      expect(refused.maxWaitingSenders).toBe(2)
      expect(refused.message).toBe(
        `mailbox of ${ref.path} is full (capacity 2) and 2 senders already wait for room: Item was refused; ` +
          "retry later, slow the senders down or raise maxWaitingSenders"
      )
      const askRefused = yield* atOnce(Effect.flip(ref.ask(new Seen())))
      expect(askRefused._tag).toBe("TooManyWaitingSenders")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(waiting)
      expect(yield* ref.ask(new Seen())).toStrictEqual([0, 1, 2, 3, 4])
      // refused senders knew at once: nothing was accepted, so nothing is dead-lettered
      expect(yield* drainLetters(sub)).toStrictEqual([])
    }).pipe(Effect.provide(ActorSystem.layer({ shutdown: "immediate" }))))

  it.effect("the default bound is 1024 waiting senders", () =>
    Effect.gen(function*() {
      const { gate, ref } = yield* fill("suspend")
      const waiting = yield* Effect.forEach(Array.from({ length: 1024 }, (_, i) => i), (i) =>
        Effect.forkChild(ref.tell(new Item({ n: 10 + i }))))
      yield* settle
      for (const w of waiting) expect(w.pollUnsafe()).toBeUndefined()
      const refused = yield* atOnce(Effect.flip(ref.tell(new Item({ n: -1 }))))
      expect(refused._tag).toBe("TooManyWaitingSenders")
      if (refused._tag === "TooManyWaitingSenders") expect(refused.maxWaitingSenders).toBe(1024)
      yield* Deferred.succeed(gate, undefined)
      yield* Effect.forEach(waiting, Fiber.join, { discard: true })
      expect((yield* ref.ask(new Seen())).length).toBe(3 + 1024)
    }).pipe(Effect.provide(ActorSystem.layer({ shutdown: "immediate" }))))

  it.effect("a tell interrupted while waiting leaves the line: not enqueued later, dead-lettered, its place freed", () =>
    Effect.gen(function*() {
      const { gate, ref, sub } = yield* fill("suspend", { maxWaitingSenders: 1 })
      const gaveUp = yield* Effect.forkChild(ref.tell(new Item({ n: 3 })))
      yield* settle
      yield* Fiber.interrupt(gaveUp)
      expect(Exit.hasInterrupts(yield* Fiber.await(gaveUp))).toBe(true)
      const letters = yield* drainLetters(sub)
      expect(letters.map((l) => [(l.message as Item).n, l.reason])).toStrictEqual([[3, "SenderInterrupted"]])
      // its place in the bound is free again
      const next = yield* Effect.forkChild(ref.tell(new Item({ n: 4 })))
      yield* settle
      expect(next.pollUnsafe()).toBeUndefined()
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(next)
      expect(yield* ref.ask(new Seen())).toStrictEqual([0, 1, 2, 4])
      expect(yield* drainLetters(sub)).toStrictEqual([])
    }).pipe(Effect.provide(ActorSystem.layer({ shutdown: "immediate" }))))

  it.effect("a bad configuration is a typed InvalidMailboxConfig naming the option", () =>
    Effect.gen(function*() {
      const negative = thrown(() => Mailbox.bounded(2, "suspend", { maxWaitingSenders: -1 }))
      expect(negative?._tag).toBe("InvalidMailboxConfig")
      expect(negative?.option).toBe("maxWaitingSenders")
      expect(negative?.message).toBe("Mailbox.bounded: option maxWaitingSenders must be a non-negative integer, got -1")
      expect(thrown(() => Mailbox.bounded(2, "suspend", { maxWaitingSenders: Number.POSITIVE_INFINITY }))?.option)
        .toBe("maxWaitingSenders")
      const notSuspend = thrown(() => Mailbox.bounded(2, "fail", { maxWaitingSenders: 5 }))
      expect(notSuspend?._tag).toBe("InvalidMailboxConfig")
      expect(notSuspend?.message).toContain("only with the \"suspend\" strategy")
      expect(thrown(() => Mailbox.bounded(0))?.option).toBe("capacity")
      expect(thrown(() => Mailbox.bounded(2, "block" as never))?.option).toBe("strategy")
      // configuration read at run time: the same error in the error channel
      const fromConfig = yield* Effect.flip(
        Mailbox.validate({ _tag: "Bounded", capacity: 2, strategy: "suspend", maxWaitingSenders: 1.5 })
      )
      expect(fromConfig._tag).toBe("InvalidMailboxConfig")
      expect(fromConfig.option).toBe("maxWaitingSenders")
      const ok = yield* Mailbox.validate({ _tag: "Bounded", capacity: 2, strategy: "suspend", maxWaitingSenders: 0 })
      expect(ok).toStrictEqual({ _tag: "Bounded", capacity: 2, strategy: "suspend", maxWaitingSenders: 0 })
      expect(Mailbox.bounded(2)).toStrictEqual({ _tag: "Bounded", capacity: 2, strategy: "suspend", maxWaitingSenders: 1024 })
    }))
})
