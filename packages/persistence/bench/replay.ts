/**
 * Replay and recovery figures on a 1,000,000-event SQLite journal (one stream):
 * - replay into an in-memory fold through `Replay.all` (decoding every event with its Schema),
 *   against bare node:sqlite paged `all()` + `JSON.parse` over the same rows;
 * - recovery of the stream from its latest snapshot (snapshots every 1,000 events, worst case:
 *   the last 1,000 events after it) against a full replay.
 */
import { Journal, Replay, Snapshot, SqliteClient, SqlJournal, Upcast } from "@mailroom/persistence"
import { Effect, Layer, Schema } from "effect"
import { rmSync } from "node:fs"
import { DatabaseSync } from "node:sqlite"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Figure, median } from "./report.ts"

// The same event two ways: a plain tagged struct (as apps/bank defines its events) and a
// tagged class (decoding also constructs a class instance, which Schema makes cost about twice
// the struct's decode).
const Deposited = Schema.TaggedStruct("Deposited", { cents: Schema.Int })
class DepositedClass extends Schema.TaggedClass<DepositedClass>()("Deposited", { cents: Schema.Int }) {}
const fold: Replay.Fold<number, typeof Deposited.Type> = {
  types: Upcast.registry(Upcast.eventType("Deposited", Deposited)),
  initial: 0,
  apply: (sum, e) => sum + e.cents,
  pageSize: 10_000
}
const foldClass: Replay.Fold<number, DepositedClass> = {
  types: Upcast.registry(Upcast.eventType("Deposited", DepositedClass)),
  initial: 0,
  apply: (sum, e) => sum + e.cents,
  pageSize: 10_000
}

const EVENTS = 1_000_000
const STREAM = "account-1"

const seed = async (file: string) => {
  // The journal creates its schema; bare inserts fill it (seeding through group commit would
  // take most of the bench's time budget and is measured by the writers figure).
  await Effect.runPromise(
    Effect.asVoid(Journal.Journal).pipe(
      Effect.provide(Layer.mergeAll(SqlJournal.layer(), Snapshot.layerSql()).pipe(Layer.provide(SqliteClient.layer({ filename: file }))))
    )
  )
  const db = new DatabaseSync(file)
  db.exec("PRAGMA synchronous=OFF")
  const insert = db.prepare("INSERT INTO mailroom_events (position, stream, version, event_id, type, schema_version, data) VALUES (?, ?, ?, ?, 'Deposited', 1, ?)")
  let expected = 0
  for (let start = 1; start <= EVENTS; start += 20_000) {
    db.exec("BEGIN")
    for (let i = start; i < start + 20_000 && i <= EVENTS; i++) {
      const cents = i % 100
      expected += cents
      insert.run(i, STREAM, i, `e-${i}`, JSON.stringify({ _tag: "Deposited", cents }))
    }
    db.exec("COMMIT")
  }
  db.close()
  return expected
}

/** Bare node:sqlite: `position, data` as row objects, or (`allColumns`) the journal's 7 columns as arrays. */
const bareReplay = (file: string, allColumns = false) => {
  const db = new DatabaseSync(file, { readOnly: true })
  const page = db.prepare(
    `SELECT ${allColumns ? "position, stream, version, event_id, type, schema_version, data" : "position, data"} FROM mailroom_events WHERE position > ? ORDER BY position LIMIT 10000`
  )
  page.setReturnArrays(allColumns)
  const started = performance.now()
  let sum = 0
  let after = 0
  let count = 0
  while (true) {
    if (allColumns) {
      const rows = page.all(after) as unknown as Array<[number, string, number, string, string, number, string]>
      if (rows.length === 0) break
      for (const row of rows) sum += (JSON.parse(row[6]) as { cents: number }).cents
      after = rows[rows.length - 1]![0]
      count += rows.length
      continue
    }
    const rows = page.all(after) as Array<{ position: number; data: string }>
    if (rows.length === 0) break
    for (const row of rows) sum += (JSON.parse(row.data) as { cents: number }).cents
    after = rows[rows.length - 1]!.position
    count += rows.length
  }
  const seconds = (performance.now() - started) / 1000
  db.close()
  return { rate: count / seconds, sum, seconds }
}

export const replayAndRecovery = async (rounds: number): Promise<Array<Figure>> => {
  const file = join(tmpdir(), `mailroom-bench-${process.pid}-replay.db`)
  const remove = () => ["", "-wal", "-shm", "-lock"].forEach((s) => rmSync(file + s, { force: true }))
  remove()
  try {
    const seedStarted = performance.now()
    const expected = await seed(file)
    console.log(`   seeded ${EVENTS.toLocaleString("en-US")} events in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`)
    const layer = Layer.mergeAll(SqlJournal.layer({ migrate: false }), Snapshot.layerSql()).pipe(
      Layer.provide(SqliteClient.layer({ filename: file, durability: "full" }))
    )
    const measure = <A>(effect: Effect.Effect<A, unknown, Journal.Journal | Snapshot.SnapshotStore>) =>
      Effect.runPromise(
        Effect.gen(function*() {
          const started = performance.now()
          const value = yield* effect
          return { value, seconds: (performance.now() - started) / 1000 }
        }).pipe(Effect.provide(layer))
      )

    const replayAll: Array<number> = []
    const replayAllClass: Array<number> = []
    const bareAll: Array<number> = []
    const replayStream: Array<number> = []
    const bare: Array<number> = []
    const fullRecovery: Array<number> = []
    const snapshotRecovery: Array<number> = []
    // Snapshots are taken every 1,000 events; the worst case leaves 1,000 events after the latest.
    await measure(Effect.flatMap(Snapshot.SnapshotStore, (store) =>
      Effect.flatMap(Replay.stream(STREAM, { ...fold, pageSize: 10_000 }), ({ state }) => store.save(STREAM, EVENTS, state))))
    const snapshotVersion = EVENTS - 1000
    const stateAtSnapshot = await measure(Effect.map(Replay.all({ ...fold, filter: (r) => r.version <= snapshotVersion }), (r) => r.state))
    for (let r = 0; r < rounds; r++) {
      const all = await measure(Replay.all(fold))
      if (all.value.state !== expected) throw new Error(`replay answered ${all.value.state}, expected ${expected}`)
      replayAll.push(EVENTS / all.seconds)
      const allClass = await measure(Replay.all(foldClass))
      if (allClass.value.state !== expected) throw new Error("class replay answered a wrong state")
      replayAllClass.push(EVENTS / allClass.seconds)
      const stream = await measure(Replay.stream(STREAM, fold))
      if (stream.value.state !== expected) throw new Error("stream replay answered a wrong state")
      replayStream.push(EVENTS / stream.seconds)
      const b = bareReplay(file)
      if (b.sum !== expected) throw new Error("bare replay answered a wrong state")
      bare.push(b.rate)
      const b7 = bareReplay(file, true)
      if (b7.sum !== expected) throw new Error("bare replay answered a wrong state")
      bareAll.push(b7.rate)
      fullRecovery.push(stream.seconds * 1000)
      const recovered = await measure(Effect.flatMap(Effect.succeed(stateAtSnapshot.value), (state) =>
        Replay.stream(STREAM, fold, { state, version: snapshotVersion })))
      if (recovered.value.state !== expected || recovered.value.events !== 1000) throw new Error("snapshot recovery answered a wrong state")
      snapshotRecovery.push(recovered.seconds * 1000)
    }
    // Also through the snapshot store, end to end (load + replay of the rest).
    const endToEnd = await measure(Snapshot.recover(STREAM, fold))
    if (endToEnd.value.state !== expected) throw new Error("Snapshot.recover answered a wrong state")

    const subject = median(replayAll)
    const full = median(fullRecovery)
    const snap = median(snapshotRecovery)
    return [
      {
        figure: "replay",
        title: "Replay 1,000,000 SQLite events into an in-memory fold",
        unit: "events/s",
        results: [
          { name: "Replay.all (Schema-decoded events)", role: "subject", how: "journal.scanAllLean (the fold takes (state, event): the SQL journal reads position, version, type, schema version and data, not stream name and event id; each row checked, decoded and folded as read) pages of 10,000 + EventTypes.decodeSync (Schema.TaggedStruct, Int check) + fold", unit: "events/s", value: subject, runs: replayAll },
          { name: "Replay.all, events as Schema.TaggedClass", role: "reference", how: "same, the event schema a TaggedClass: each decode also constructs a class instance", unit: "events/s", value: median(replayAllClass), runs: replayAllClass },
          { name: "Replay.stream (one stream, by version)", role: "reference", how: "journal.scanStreamLean pages of 10,000 via the (stream, version) index, TaggedStruct events", unit: "events/s", value: median(replayStream), runs: replayStream },
          { name: "bare node:sqlite paged all() + JSON.parse", role: "baseline", how: "prepared SELECT position, data by position, pages of 10,000, row objects, JSON.parse, sum", unit: "events/s", value: median(bare), runs: bare },
          { name: "bare node:sqlite, the journal's 7 columns", role: "reference", how: "same with all 7 columns read, as arrays (what the journal reads), no Schema", unit: "events/s", value: median(bareAll), runs: bareAll }
        ],
        targets: [{ description: "replay >= 1,000,000 events/s", value: subject, required: 1_000_000, met: subject >= 1_000_000 }]
      },
      {
        figure: "recovery",
        title: "Recovery of a 1,000,000-event stream, snapshots every 1,000 events",
        unit: "ms",
        results: [
          { name: "snapshot + replay of the last 1,000 events", role: "subject", how: "state at version 999,000 + Replay.stream from there (worst case)", unit: "ms", value: snap, runs: snapshotRecovery },
          { name: "full replay", role: "baseline", how: "Replay.stream from version 1", unit: "ms", value: full, runs: fullRecovery },
          { name: "Snapshot.recover end to end", role: "reference", how: "SnapshotStore.load (latest, at 1,000,000) + replay of the rest", unit: "ms", value: endToEnd.seconds * 1000, runs: [endToEnd.seconds * 1000] }
        ],
        targets: [{ description: "recovery time / full replay <= 1/100", value: snap / full, required: 0.01, met: snap / full <= 0.01 }]
      }
    ]
  } finally {
    remove()
  }
}
