/**
 * Group-commit figures: 1,000 concurrent writers (fibers), each appending single events to its
 * own stream, through the journal with group commit, against the same journal with one
 * transaction per event (`maxBatch: 1`), on durable SQLite (synchronous=FULL) and PostgreSQL.
 */
import { PgClient } from "@effect/sql-pg"
import { Journal, SqliteClient, SqlJournal, Upcast } from "@mailroom/persistence"
import { Deferred, Effect, Layer, Queue, Redacted } from "effect"
import { rmSync } from "node:fs"
import { DatabaseSync } from "node:sqlite"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Figure, median, type Result } from "./report.ts"

/**
 * Appends `perWriter` single events from each of `writers` fibers; answers events/s. Event ids
 * are `<stream>-<k>` (they scatter over the id index), or with `timeOrderedIds` the library's
 * own `Upcast.eventId()` (time-ordered: new ids land at the end of the index).
 */
const drive = (writers: number, perWriter: number, tag: string, timeOrderedIds = false) =>
  Effect.gen(function*() {
    const journal = yield* Journal.Journal
    const started = performance.now()
    yield* Effect.forEach(
      Array.from({ length: writers }, (_, w) => w),
      (w) =>
        Effect.gen(function*() {
          for (let k = 0; k < perWriter; k++) {
            yield* journal.append(`${tag}-${w}`, [{ id: timeOrderedIds ? Upcast.eventId() : `${tag}-${w}-${k}`, type: "Deposited", schemaVersion: 1, data: { _tag: "Deposited", cents: k } }], k)
          }
        }),
      { concurrency: "unbounded", discard: true }
    )
    return (writers * perWriter) / ((performance.now() - started) / 1000)
  })

const sqliteFile = (name: string) => {
  const file = join(tmpdir(), `mailroom-bench-${process.pid}-${name}.db`)
  const remove = () => ["", "-wal", "-shm", "-lock"].forEach((s) => rmSync(file + s, { force: true }))
  remove()
  return { file, remove }
}

const runSqlite = (maxBatch: number, writers: number, perWriter: number, timeOrderedIds = false) => {
  const { file, remove } = sqliteFile(`gc${maxBatch}`)
  return Effect.runPromise(
    drive(writers, perWriter, "w", timeOrderedIds).pipe(
      Effect.provide(SqlJournal.layer({ maxBatch }).pipe(Layer.provide(SqliteClient.layer({ filename: file, durability: "full" }))))
    )
  ).finally(remove)
}

/** The same rows written by bare node:sqlite, in `batch`-event transactions. */
const bareSqlite = (events: number, batch: number) => {
  const { file, remove } = sqliteFile(`bare${batch}`)
  try {
    const db = new DatabaseSync(file)
    // The pragmas SqliteClient sets for durability "full".
    db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-65536; PRAGMA wal_autocheckpoint=16384; PRAGMA journal_size_limit=67108864")
    db.exec("CREATE TABLE mailroom_events (position INTEGER PRIMARY KEY, stream TEXT NOT NULL, version INTEGER NOT NULL, event_id TEXT NOT NULL, type TEXT NOT NULL, schema_version INTEGER NOT NULL, data TEXT NOT NULL, UNIQUE (stream, version))")
    db.exec("CREATE UNIQUE INDEX ev_id ON mailroom_events (event_id, stream)")
    const insert = db.prepare("INSERT INTO mailroom_events VALUES (?, ?, ?, ?, ?, ?, ?)")
    const writers = 1000
    const started = performance.now()
    let position = 0
    for (let done = 0; done < events; done += batch) {
      db.exec("BEGIN")
      for (let i = 0; i < batch; i++) {
        position++
        const w = (position - 1) % writers
        const k = Math.floor((position - 1) / writers)
        insert.run(position, `w-${w}`, k + 1, `w-${w}-${k}`, "Deposited", 1, JSON.stringify({ _tag: "Deposited", cents: k }))
      }
      db.exec("COMMIT")
    }
    const rate = events / ((performance.now() - started) / 1000)
    db.close()
    return rate
  } finally {
    remove()
  }
}

/** The harness alone: 1,000 fibers each waiting on a deferred completed by one batching fiber. */
const fiberFloor = (writers: number, perWriter: number) =>
  Effect.runPromise(Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Deferred.Deferred<number>>()
    yield* Effect.forkChild(Effect.forever(Effect.flatMap(Queue.takeBetween(queue, 1, 1024), (items) =>
      Effect.sync(() => {
        for (const d of items) Deferred.doneUnsafe(d, Effect.succeed(1))
      }))))
    const started = performance.now()
    yield* Effect.forEach(
      Array.from({ length: writers }, (_, w) => w),
      () =>
        Effect.gen(function*() {
          for (let k = 0; k < perWriter; k++) {
            const d = Deferred.makeUnsafe<number>()
            Queue.offerUnsafe(queue, d)
            yield* Deferred.await(d)
          }
        }),
      { concurrency: "unbounded", discard: true }
    )
    return (writers * perWriter) / ((performance.now() - started) / 1000)
  }).pipe(Effect.scoped))

const result = (name: string, role: Result["role"], how: string, runs: Array<number>): Result => ({
  name,
  role,
  how,
  unit: "events/s",
  value: median(runs),
  runs
})

/** The two group-commit targets: at least `required` events/s, and 10× per-event commits. */
const groupCommitTargets = (subject: Result, baseline: Result, required: number): Figure["targets"] => [
  { description: `group commit >= ${required.toLocaleString("en-US")} events/s`, value: subject.value, required, met: subject.value >= required },
  { description: "group commit / per-event transactions >= 10", value: subject.value / baseline.value, required: 10, met: subject.value / baseline.value >= 10 }
]

export const sqliteGroupCommit = async (rounds: number): Promise<Figure> => {
  const group: Array<number> = []
  const perEvent: Array<number> = []
  const bare1000: Array<number> = []
  const bare1: Array<number> = []
  const memory: Array<number> = []
  const floor: Array<number> = []
  const timeOrdered: Array<number> = []
  for (let r = 0; r < rounds; r++) {
    floor.push(await fiberFloor(1000, 100))
    memory.push(await Effect.runPromise(drive(1000, 100, "w").pipe(Effect.provide(Journal.layerMemory()))))
    group.push(await runSqlite(1024, 1000, 100))
    timeOrdered.push(await runSqlite(1024, 1000, 100, true))
    perEvent.push(await runSqlite(1, 1000, 2))
    bare1000.push(bareSqlite(100_000, 1000))
    bare1.push(bareSqlite(1000, 1))
  }
  const subject = result("journal, group commit", "subject", "SqlJournal on SqliteClient (synchronous=FULL), 1,000 fibers x 100 single-event appends, own stream each", group)
  const baseline = result("journal, one transaction per event", "baseline", "same journal with maxBatch 1, 1,000 fibers x 2 appends", perEvent)
  return {
    figure: "sqlite-group-commit",
    title: "SQLite durable appends, 1,000 concurrent writers, single events",
    unit: "events/s",
    results: [
      subject,
      baseline,
      result("journal, group commit, time-ordered ids", "reference", "same as the subject with Upcast.eventId() ids instead of <stream>-<k>", timeOrdered),
      result("bare node:sqlite, 1,000-event transactions", "reference", "same table, indexes and pragmas, the same 100,000 rows (1,000 streams x 100), prepared INSERT, no framework", bare1000),
      result("bare node:sqlite, one event per transaction", "reference", "same table, indexes and pragmas, prepared INSERT, no framework", bare1),
      result("journal, memory (no storage)", "reference", "Journal.layerMemory, same 1,000 x 100 workload: the framework's ceiling", memory),
      result("fiber harness alone (no journal)", "reference", "1,000 fibers x 100 deferreds completed by one batching fiber", floor)
    ],
    targets: groupCommitTargets(subject, baseline, 100_000)
  }
}

export const pgGroupCommit = async (rounds: number): Promise<Figure> => {
  const url = process.env["MAILROOM_PG_URL"]
  if (url === undefined) {
    return {
      figure: "pg-group-commit",
      title: "PostgreSQL appends, 1,000 concurrent writers, single events",
      unit: "events/s",
      results: [],
      targets: [],
      skipped: "set MAILROOM_PG_URL=postgres://postgres@127.0.0.1:5432/test to run it"
    }
  }
  const run = (maxBatch: number, writers: number, perWriter: number) => {
    const table = `bench_ev_${process.pid}_${maxBatch}_${Date.now().toString(36)}`
    const client = PgClient.layer({ url: Redacted.make(url), maxConnections: 4 })
    return Effect.runPromise(
      Effect.gen(function*() {
        const rate = yield* drive(writers, perWriter, "w").pipe(Effect.provide(SqlJournal.layer({ table, maxBatch })))
        const sql = yield* PgClient.PgClient
        yield* sql.unsafe(`DROP TABLE ${table}`)
        yield* sql.unsafe(`DROP SEQUENCE ${table}_position_seq`)
        return rate
      }).pipe(Effect.provide(client))
    )
  }
  const group: Array<number> = []
  const perEvent: Array<number> = []
  for (let r = 0; r < rounds; r++) {
    group.push(await run(1024, 1000, 50))
    perEvent.push(await run(1, 1000, 2))
  }
  const subject = result("journal, group commit", "subject", "SqlJournal on @effect/sql-pg, 1,000 fibers x 50 single-event appends, own stream each", group)
  const baseline = result("journal, one transaction per event", "baseline", "same journal with maxBatch 1, 1,000 fibers x 2 appends", perEvent)
  return {
    figure: "pg-group-commit",
    title: "PostgreSQL appends, 1,000 concurrent writers, single events",
    unit: "events/s",
    results: [subject, baseline],
    targets: groupCommitTargets(subject, baseline, 30_000)
  }
}
