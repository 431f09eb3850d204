import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Schema } from "effect"
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

const fill = (strategy: Mailbox.OverflowStrategy) =>
  Effect.gen(function*() {
    const sub = yield* ActorSystem.subscribeDeadLetters
    const gate = yield* Deferred.make<void>()
    const ref = yield* ActorSystem.spawn(gated(Mailbox.bounded(2, strategy), gate))
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
