import { describe, expect, it } from "@effect/vitest"
import { Actor, ActorSystem, Message } from "@mailroom/core"
import { Effect, Exit, Layer, Option, Schema } from "effect"
import { EventSourced, Journal, Snapshot, Upcast } from "../src/index.js"

class Deposited extends Schema.TaggedClass<Deposited>()("Deposited", { cents: Schema.Int }) {}
class Withdrawn extends Schema.TaggedClass<Withdrawn>()("Withdrawn", { cents: Schema.Int }) {}
const AccountEvents = Upcast.registry(Upcast.eventType("Deposited", Deposited), Upcast.eventType("Withdrawn", Withdrawn))

class Deposit extends Message.Request<Deposit>()("Deposit", { cents: Schema.Int }, { success: Schema.Number }) {}
class Withdraw extends Message.Request<Withdraw>()("Withdraw", { cents: Schema.Int }, { success: Schema.Boolean }) {}
class Balance extends Message.Request<Balance>()("Balance", {}, { success: Schema.Number }) {}

const account = (stream: string) =>
  EventSourced.behavior(Actor.protocol(Deposit, Withdraw, Balance), {
    stream,
    events: AccountEvents,
    initial: 0,
    apply: (balance, event) => (event._tag === "Deposited" ? balance + event.cents : balance - event.cents),
    decide: (balance, msg) => {
      switch (msg._tag) {
        case "Deposit":
          return EventSourced.persist([new Deposited({ cents: msg.cents })], (after: number) => after)
        case "Withdraw":
          return msg.cents > balance
            ? EventSourced.reply(false)
            : EventSourced.persist([new Withdrawn({ cents: msg.cents })], () => true)
        case "Balance":
          return EventSourced.reply(balance)
      }
    },
    snapshotEvery: 3
  })

/** A journal whose appends fail while `failing.on` is set (storage outage). */
const flakyJournal = (failing: { on: boolean }) =>
  Layer.effect(
    Journal.Journal,
    Effect.map(Journal.makeMemory(), ({ journal }) =>
      Journal.Journal.of({
        ...journal,
        append: (stream, events, expected) =>
          failing.on
            ? Effect.fail(new Journal.JournalError({ operation: "append", reason: "disk unplugged" }))
            : journal.append(stream, events, expected)
      }))
  )

const setup = (failing = { on: false }) =>
  Layer.mergeAll(ActorSystem.layer(), Snapshot.layerMemory).pipe(Layer.provideMerge(flakyJournal(failing)))

describe("EventSourced", () => {
  it.live("commands persist events, replies follow the write, recovery restores the state", () =>
    Effect.gen(function*() {
      const first = yield* ActorSystem.spawn(account("acc-1"))
      expect(yield* first.ask(new Deposit({ cents: 100 }))).toBe(100)
      expect(yield* first.ask(new Withdraw({ cents: 30 }))).toBe(true)
      expect(yield* first.ask(new Withdraw({ cents: 500 }))).toBe(false)
      expect(yield* first.ask(new Deposit({ cents: 5 }))).toBe(75)
      expect(yield* first.ask(new Deposit({ cents: 1 }))).toBe(76)
      const journal = yield* Journal.Journal
      expect((yield* journal.readStream("acc-1")).map((e) => e.type)).toEqual(["Deposited", "Withdrawn", "Deposited", "Deposited"])
      // Snapshot every 3 events: one at version 3.
      const snapshots = yield* Snapshot.SnapshotStore
      expect(yield* snapshots.load("acc-1")).toEqual(Option.some({ stream: "acc-1", version: 3, state: 75 }))
      yield* first.stop
      // A new incarnation recovers: snapshot at 3 + event 4.
      const second = yield* ActorSystem.spawn(account("acc-1"))
      expect(yield* second.ask(new Balance())).toBe(76)
      expect(yield* second.ask(new Deposit({ cents: 4 }))).toBe(80)
      expect((yield* journal.readStream("acc-1")).length).toBe(5)
    }).pipe(Effect.provide(setup())))

  it.live("a failed persist never advances the state; the actor restarts and recovers", () => {
    const failing = { on: false }
    return Effect.gen(function*() {
      const ref = yield* ActorSystem.spawn(account("acc-2"))
      expect(yield* ref.ask(new Deposit({ cents: 10 }))).toBe(10)
      failing.on = true
      const failed = yield* Effect.exit(ref.ask(new Deposit({ cents: 1000 })))
      expect(Exit.isFailure(failed)).toBe(true)
      failing.on = false
      // After the restart (with backoff) the state is what the journal says: the lost deposit is not there.
      let balance = -1
      for (let i = 0; i < 100 && balance === -1; i++) {
        const answer = yield* Effect.exit(ref.ask(new Balance(), { timeout: "200 millis" }))
        if (Exit.isSuccess(answer)) balance = answer.value
        else yield* Effect.sleep(20)
      }
      expect(balance).toBe(10)
      expect(yield* ref.ask(new Deposit({ cents: 5 }))).toBe(15)
    }).pipe(Effect.provide(setup(failing)))
  })

  it.live("a write behind the actor's back is caught by the expected version, then recovered", () =>
    Effect.gen(function*() {
      const ref = yield* ActorSystem.spawn(account("acc-3"))
      expect(yield* ref.ask(new Deposit({ cents: 10 }))).toBe(10)
      const journal = yield* Journal.Journal
      // Another writer (a second instance, a migration) appends to the same stream.
      yield* journal.append("acc-3", [yield* AccountEvents.encode(new Deposited({ cents: 7 }))], 1)
      const conflicted = yield* Effect.exit(ref.ask(new Deposit({ cents: 1 })))
      expect(Exit.isFailure(conflicted)).toBe(true)
      let balance = -1
      for (let i = 0; i < 100 && balance === -1; i++) {
        const answer = yield* Effect.exit(ref.ask(new Balance(), { timeout: "200 millis" }))
        if (Exit.isSuccess(answer)) balance = answer.value
        else yield* Effect.sleep(20)
      }
      expect(balance).toBe(17)
      expect((yield* journal.readStream("acc-3")).length).toBe(2)
    }).pipe(Effect.provide(setup())))
})
