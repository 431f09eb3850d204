import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema, SchemaTransformation } from "effect"
import { Journal, Replay, Upcast } from "../src/index.js"
import { backends, Corrupt } from "./support/backends.js"

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

// The SQL journals give replay a fast path (`scanAll` / `scanStream`: each row decoded and
// applied as it is read); the memory journal and PostgreSQL's `readAll` go page by page. The
// guarantees are the same on every backend.
const DepositedV1 = Schema.Struct({ _tag: Schema.Literal("Deposited"), euros: Schema.Int }).pipe(
  Schema.decodeTo(
    Deposited,
    SchemaTransformation.transform({
      decode: (v1) => ({ _tag: "Deposited" as const, cents: v1.euros * 100 }),
      encode: (v2) => ({ _tag: "Deposited" as const, euros: v2.cents / 100 })
    })
  )
)
const Evolved = Upcast.registry(
  Upcast.eventType("Deposited", Deposited, { version: 2, upcasts: { 1: DepositedV1 } }),
  Upcast.eventType("Withdrawn", Withdrawn)
)
const record = (n: number, e: Event): number => (e._tag === "Deposited" ? n + e.cents : n - e.cents)

for (const backend of backends) {
  describe.skipIf(backend.skip)(`Replay (${backend.name})`, () => {
    it.live("applies every event once, in order, upcasting old versions, across pages", () =>
      Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const stored: Array<{ stream: string; cents: number; old: boolean }> = []
        for (let i = 1; i <= 23; i++) {
          const stream = i % 2 === 0 ? "a" : "b"
          const old = i % 4 === 1
          stored.push({ stream, cents: old ? i * 100 : i, old })
          yield* journal.append(stream, [
            old
              ? { id: `e${i}`, type: "Deposited", schemaVersion: 1, data: { _tag: "Deposited", euros: i } }
              : { ...(yield* Evolved.encode(new Deposited({ cents: i }))), id: `e${i}` }
          ], "any")
        }
        const seen: Array<Journal.RecordedEvent> = []
        const all = yield* Replay.all({
          types: Evolved,
          initial: 0,
          apply: (n, e, r) => {
            seen.push(r)
            expect(e).toBeInstanceOf(Deposited)
            return record(n, e)
          },
          pageSize: 5
        })
        expect(all.state).toBe(stored.reduce((n, s) => n + s.cents, 0))
        expect(all.events).toBe(23)
        expect(seen.map((r) => r.id)).toEqual(stored.map((_, i) => `e${i + 1}`))
        expect(all.last).toBe(seen[22]!.position)
        for (let i = 1; i < seen.length; i++) expect(seen[i]!.position).toBeGreaterThan(seen[i - 1]!.position)
        expect(seen.every((r) => typeof r.stream === "string" && r.version >= 1 && r.type === "Deposited")).toBe(true)
        // The same through pages of `readAll` (what journals without the fast path do).
        const pages: Array<Journal.RecordedEvent> = []
        let after = 0
        while (true) {
          const page = yield* journal.readAll(after, 5)
          if (page.length === 0) break
          pages.push(...page)
          after = page[page.length - 1]!.position
        }
        expect(seen).toEqual(pages)
        // A fold that does not take the recorded event replays through the lean scan where the
        // journal has one (fewer columns per row): same state, same events, same last position.
        const lean = yield* Replay.all({ types: Evolved, initial: 0, apply: record, pageSize: 5 })
        expect(lean).toEqual(all)
        // One stream, by version; pages ending exactly at the stream's end too.
        const b = yield* Replay.stream("b", { types: Evolved, initial: 0, apply: record, pageSize: 4 })
        expect(b).toEqual({
          state: stored.filter((s) => s.stream === "b").reduce((n, s) => n + s.cents, 0),
          last: 12,
          events: 12
        })
        const a = yield* Replay.stream("a", { types: Evolved, initial: 0, apply: record, pageSize: 11 })
        expect(a).toMatchObject({ last: 11, events: 11 })
        const filtered = yield* Replay.all({ types: Evolved, initial: 0, apply: (n) => n + 1, filter: (r) => r.stream === "a", pageSize: 3 })
        expect(filtered).toMatchObject({ state: 11, events: 11, last: seen[22]!.position })
        expect(yield* Replay.stream("none", { types: Evolved, initial: 7, apply: record })).toEqual({ state: 7, last: 0, events: 0 })
      }).pipe(Effect.provide(backend.layer())))

    it.live("a corrupt row or an undecodable event stops replay with a typed error naming stream and position", () =>
      Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const corrupt = yield* Corrupt
        const { positions } = yield* journal.append("s", [
          yield* Evolved.encode(new Deposited({ cents: 1 })),
          yield* Evolved.encode(new Deposited({ cents: 2 })),
          yield* Evolved.encode(new Deposited({ cents: 3 })),
          { id: "v9", type: "Deposited", schemaVersion: 9, data: { _tag: "Deposited", cents: 4 } }
        ], 0)
        const fold = { types: Evolved, initial: 0, apply: record, pageSize: 2 }
        yield* corrupt(positions[1]!, "{not json")
        const fromAll = yield* Effect.flip(Replay.all(fold))
        expect(fromAll).toMatchObject({ _tag: "CorruptEvent", stream: "s", position: positions[1] })
        const fromStream = yield* Effect.flip(Replay.stream("s", fold))
        expect(fromStream).toMatchObject({ _tag: "CorruptEvent", stream: "s", position: positions[1] })
        // A payload that is JSON but fails the schema.
        yield* corrupt(positions[1]!, JSON.stringify({ _tag: "Deposited", cents: 1.5 }))
        const badPayload = yield* Effect.flip(Replay.all(fold))
        expect(badPayload).toMatchObject({ _tag: "UndecodableEvent", stream: "s", position: positions[1] })
        expect(badPayload.message).toContain("cents")
        yield* corrupt(positions[1]!, JSON.stringify({ _tag: "Deposited", cents: 2 }))
        const unknownVersion = yield* Effect.flip(Replay.stream("s", fold))
        expect(unknownVersion).toMatchObject({ _tag: "UndecodableEvent", stream: "s", position: positions[3], schemaVersion: 9 })
        const unknownAll = yield* Effect.flip(Replay.all(fold))
        expect(unknownAll).toMatchObject({ _tag: "UndecodableEvent", stream: "s", position: positions[3] })
        // The same errors when the fold takes the recorded event (the scan that reads every column).
        const full = { ...fold, apply: (n: number, e: Event, _r: Journal.RecordedEvent) => record(n, e) }
        expect(yield* Effect.flip(Replay.all(full))).toMatchObject({ _tag: "UndecodableEvent", stream: "s", position: positions[3] })
        yield* corrupt(positions[1]!, "{not json")
        expect(yield* Effect.flip(Replay.all(full))).toMatchObject({ _tag: "CorruptEvent", stream: "s", position: positions[1] })
        expect(yield* Effect.flip(Replay.stream("s", full))).toMatchObject({ _tag: "CorruptEvent", stream: "s", position: positions[1] })
      }).pipe(Effect.provide(backend.layer())))
  })
}
