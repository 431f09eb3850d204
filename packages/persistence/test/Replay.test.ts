import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Journal, Replay, Upcast } from "../src/index.js"
import { backends } from "./support/backends.js"

class Deposited extends Schema.TaggedClass<Deposited>()("Deposited", { cents: Schema.Int }) {}
class Withdrawn extends Schema.TaggedClass<Withdrawn>()("Withdrawn", { cents: Schema.Int }) {}
const Events = Upcast.registry(Upcast.eventType("Deposited", Deposited), Upcast.eventType("Withdrawn", Withdrawn))
type Event = Deposited | Withdrawn

const sqlite = backends.find((b) => b.name === "sqlite")!

describe("Replay", () => {
  it.live("rebuilds a stream's state; a fixed handler replayed gives the right state", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      const events: Array<Event> = []
      for (let i = 1; i <= 25; i++) events.push(i % 5 === 0 ? new Withdrawn({ cents: i }) : new Deposited({ cents: i }))
      let version = 0
      for (const e of events) {
        yield* journal.append("acc", [yield* Events.encode(e)], version++)
        yield* journal.append("other", [yield* Events.encode(new Deposited({ cents: 1000 }))], "any")
      }
      const expected = events.reduce((n, e) => (e._tag === "Deposited" ? n + e.cents : n - e.cents), 0)
      // The buggy handler forgot withdrawals...
      const buggy = yield* Replay.stream("acc", {
        types: Events,
        initial: 0,
        apply: (n, e) => (e._tag === "Deposited" ? n + e.cents : n),
        pageSize: 4
      })
      expect(buggy.state).not.toBe(expected)
      // ...fix it, replay, the state is right.
      const fixed = yield* Replay.stream("acc", {
        types: Events,
        initial: 0,
        apply: (n, e) => (e._tag === "Deposited" ? n + e.cents : n - e.cents),
        pageSize: 4
      })
      expect(fixed).toEqual({ state: expected, last: 25, events: 25 })
      // From a snapshot: state at version 10 plus the rest.
      const head = yield* Replay.stream("acc", { types: Events, initial: 0, apply: (n, e) => (e._tag === "Deposited" ? n + e.cents : n - e.cents) })
      const firstTen = events.slice(0, 10).reduce((n, e) => (e._tag === "Deposited" ? n + e.cents : n - e.cents), 0)
      const resumed = yield* Replay.stream(
        "acc",
        { types: Events, initial: 0, apply: (n, e) => (e._tag === "Deposited" ? n + e.cents : n - e.cents) },
        { state: firstTen, version: 10 }
      )
      expect(resumed).toEqual({ state: head.state, last: 25, events: 15 })
      // Everything, by global position.
      const total = yield* Replay.all({ types: Events, initial: 0, apply: (n) => n + 1, pageSize: 7 })
      expect(total.state).toBe(50)
      const onlyAcc = yield* Replay.all({ types: Events, initial: 0, apply: (n) => n + 1, filter: (r) => r.stream === "acc" })
      expect(onlyAcc.state).toBe(25)
    }).pipe(Effect.provide(sqlite.layer())))

  it.live("an undecodable event stops the replay with a typed error", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      yield* journal.append("acc", [
        yield* Events.encode(new Deposited({ cents: 1 })),
        { id: "bad", type: "Deposited", schemaVersion: 1, data: { _tag: "Deposited", cents: "x" } }
      ], 0)
      const error = yield* Effect.flip(Replay.stream("acc", { types: Events, initial: 0, apply: (n) => n + 1 }))
      expect(error).toMatchObject({ _tag: "UndecodableEvent", stream: "acc", position: 2 })
    }).pipe(Effect.provide(sqlite.layer())))
})
