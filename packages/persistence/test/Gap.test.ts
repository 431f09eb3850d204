/**
 * A journal read that finds events missing (a row deleted from the table, a damaged file) fails
 * with `JournalGap` naming the stream, the version or position it expected and what it found,
 * instead of carrying on as if the events never existed. Per-stream versions are checked on
 * every SQL journal; global positions only on SQLite, where they are contiguous (on PostgreSQL a
 * rolled-back transaction leaves holes in the sequence, so there they are normal).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Schema, Stream } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import { join } from "node:path"
import { Journal, Replay, SqliteClient, SqlJournal, Upcast } from "../src/index.js"
import { pgLayer, pgUrl, tempDir, uniqueTable } from "./support/backends.js"

const Noted = Schema.TaggedStruct("Noted", { n: Schema.Number })
const Events = Upcast.registry(Upcast.eventType("Noted", Noted))
const note = (stream: string, n: number): Journal.EventData => ({ id: `${stream}-${n}`, type: "Noted", schemaVersion: 1, data: { _tag: "Noted", n } })

/** Streams `a` (versions 1..5) and `b` (1..3), interleaved; answers the position of each of `a`'s events. */
const fill = Effect.gen(function*() {
  const journal = yield* Journal.Journal
  const positionsOfA: Array<number> = []
  for (let n = 1; n <= 5; n++) {
    positionsOfA.push((yield* journal.append("a", [note("a", n)], n - 1)).positions[0]!)
    if (n <= 3) yield* journal.append("b", [note("b", n)], n - 1)
  }
  return positionsOfA
})

const deleteRow = (table: string, position: number) =>
  Effect.flatMap(SqlClient, (sql) => sql.unsafe(`DELETE FROM ${table} WHERE position = ${position}`))

// Folds of two parameters are replayed with the lean scans, of three with the full ones.
const leanFold = { types: Events, initial: 0, apply: (sum: number, e: typeof Noted.Type) => sum + e.n }
const fullFold = { types: Events, initial: 0, apply: (sum: number, e: typeof Noted.Type, _r: Journal.RecordedEvent) => sum + e.n }

const sqlite = (table: string) =>
  Layer.unwrap(Effect.map(tempDir, (dir) =>
    SqlJournal.layer({ table }).pipe(Layer.provideMerge(SqliteClient.layer({ filename: join(dir, "journal.db") })))))

describe("Journal gaps (SQLite)", () => {
  it.live("a deleted event fails stream reads and replays with JournalGap naming stream, expected and found version", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      const a = yield* fill
      yield* deleteRow("events", a[2]!)
      const expected = { _tag: "JournalGap", kind: "version", stream: "a", expected: 3, found: 4, position: a[3] }
      const fromStart = yield* Effect.flip(journal.readStream("a"))
      expect(fromStart).toMatchObject(expected)
      expect(fromStart.message).toContain(`Stream "a"`)
      expect(fromStart.message).toContain("expected version 3, found version 4")
      expect(yield* Effect.flip(journal.readStream("a", 3))).toMatchObject(expected)
      expect(yield* Effect.flip(journal.readStream("a", 2, 10))).toMatchObject(expected)
      expect(yield* Effect.flip(Replay.stream("a", leanFold))).toMatchObject(expected)
      expect(yield* Effect.flip(Replay.stream("a", fullFold))).toMatchObject(expected)
      expect(yield* Effect.flip(Replay.stream("a", { ...leanFold, pageSize: 2 }))).toMatchObject(expected)
      // Reading from after the gap, or before it, and other streams are fine.
      expect((yield* journal.readStream("a", 4)).map((e) => e.version)).toEqual([4, 5])
      expect((yield* journal.readStream("a", 1, 2)).map((e) => e.version)).toEqual([1, 2])
      expect((yield* journal.readStream("b")).map((e) => e.version)).toEqual([1, 2, 3])
      expect(yield* Replay.stream("b", leanFold)).toMatchObject({ state: 6, last: 3 })
    }).pipe(Effect.provide(sqlite("events"))))

  it.live("a deleted event fails global reads, scans, replays and subscriptions with JournalGap naming the position", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      const a = yield* fill
      const hole = a[2]!
      yield* deleteRow("events", hole)
      // The first event after the hole is a's version 4... or b's, when b was appended in between.
      const after = (yield* journal.readAll(hole, 1))[0]!
      const expected = { _tag: "JournalGap", kind: "position", stream: after.stream, expected: hole, found: hole + 1, position: hole + 1 }
      const all = yield* Effect.flip(journal.readAll())
      expect(all).toMatchObject(expected)
      expect(all.message).toContain(`expected position ${hole}, found position ${hole + 1}`)
      expect(yield* Effect.flip(journal.readAll(hole - 1))).toMatchObject(expected)
      expect(yield* Effect.flip(Replay.all(leanFold))).toMatchObject(expected)
      expect(yield* Effect.flip(Replay.all(fullFold))).toMatchObject(expected)
      expect(yield* Effect.flip(Replay.all({ ...fullFold, filter: (r) => r.stream === "b" }))).toMatchObject(expected)
      expect(yield* Effect.flip(Replay.all({ ...leanFold, pageSize: 2 }))).toMatchObject(expected)
      expect(yield* Effect.flip(Stream.runCollect(journal.subscribe(0)))).toMatchObject(expected)
      // Pages before the hole, and from after it, read as before.
      expect((yield* journal.readAll(0, hole - 1)).length).toBe(hole - 1)
      expect((yield* journal.readAll(hole)).length).toBeGreaterThan(0)
    }).pipe(Effect.provide(sqlite("events"))))

  it.live("journals without gaps read as before (positions start at 1; readAll after the end is empty)", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      yield* fill
      expect((yield* journal.readAll()).map((e) => e.position)).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
      expect(yield* journal.readAll(8)).toEqual([])
      expect(yield* journal.readAll(100)).toEqual([])
      expect((yield* Replay.all(leanFold)).state).toBe(21)
    }).pipe(Effect.provide(sqlite("events"))))
})

describe.skipIf(pgUrl === undefined)("Journal gaps (PostgreSQL)", () => {
  it.live("a deleted event fails stream reads and replays; global reads treat the hole as a rolled-back write", () => {
    // Dropped with the suite's other tables when the file ends (see support/backends.ts).
    const table = uniqueTable()
    return Effect.gen(function*() {
      const journal = yield* Journal.Journal
      const a = yield* fill
      yield* deleteRow(table, a[2]!)
      const expected = { _tag: "JournalGap", kind: "version", stream: "a", expected: 3, found: 4, position: a[3] }
      expect(yield* Effect.flip(journal.readStream("a"))).toMatchObject(expected)
      expect(yield* Effect.flip(Replay.stream("a", leanFold))).toMatchObject(expected)
      expect(yield* Effect.flip(Replay.stream("a", fullFold))).toMatchObject(expected)
      // Paged by position, everything else is read (a: 1 + 2 + 4 + 5, b: 1 + 2 + 3).
      expect(yield* Replay.all(leanFold)).toMatchObject({ state: 18, events: 7 })
    }).pipe(Effect.provide(SqlJournal.layer({ table }).pipe(Layer.provideMerge(pgLayer()))))
  })
})
