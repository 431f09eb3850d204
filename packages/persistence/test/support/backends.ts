/**
 * The journal backends the shared suite runs against, each giving a fresh, isolated journal
 * per test plus a hook that damages a stored payload (to test corruption handling).
 */
import { afterAll, beforeAll } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Context, Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Journal, SqliteClient, SqlJournal } from "../../src/index.js"

/** Overwrites the stored payload at a position. */
export class Corrupt extends Context.Service<Corrupt, (position: number, json: string) => Effect.Effect<void>>()(
  "test/Corrupt"
) {}

export interface Backend {
  readonly name: string
  readonly skip: boolean
  readonly layer: () => Layer.Layer<Journal.Journal | Corrupt | SqlClient, unknown>
}

export const pgUrl = process.env["MAILROOM_PG_URL"]
export const runId = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`
let counter = 0
/** A table name unique to this run and call, so concurrent runs never collide. */
export const uniqueTable = (prefix = "ev") => `t_${prefix}_${runId}_${counter++}`

if (pgUrl === undefined) {
  console.log("PostgreSQL tests skipped: set MAILROOM_PG_URL=postgres://postgres@127.0.0.1:5432/test to run them")
}

/** The prefixes `uniqueTable` is called with in this suite. */
const PREFIXES = ["ev", "rm", "cp"]
/** A run older than this is over (a whole test run takes well under a minute). */
const STALE_MS = 10 * 60_000

/** When a test table was created, read from the base-36 timestamp that starts its run id. */
const createdAt = (name: string): number | undefined => {
  const stamp = /^t_[a-z]+_([0-9a-z]{8})/.exec(name)?.[1]
  const ms = stamp === undefined ? Number.NaN : parseInt(stamp, 36)
  return Number.isSafeInteger(ms) ? ms : undefined
}

/** Drops this suite's tables and sequences (`t_ev_…`, `t_rm_…`, `t_cp_…`) that `which` selects. */
const dropTestTables = (which: (name: string) => boolean) =>
  Effect.gen(function*() {
    const sql = yield* PgClient.PgClient
    const rows = yield* sql.unsafe<{ name: string; kind: string }>(
      `SELECT c.relname AS name, c.relkind::text AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'S') AND c.relname ~ $1`,
      [`^t_(${PREFIXES.join("|")})_`]
    )
    // Tables first (their indexes go with them), then the journals' position sequences.
    for (const kind of ["r", "S"]) {
      for (const row of rows) {
        if (row.kind !== kind || !which(row.name)) continue
        yield* sql.unsafe(`DROP ${kind === "r" ? "TABLE" : "SEQUENCE"} IF EXISTS "${row.name.replace(/"/g, "\"\"")}" CASCADE`)
      }
    }
  }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(pgUrl ?? ""), maxConnections: 1 })))

if (pgUrl !== undefined) {
  // Leftovers of earlier runs (killed or older versions of this suite); runs still going on
  // (started less than STALE_MS ago, e.g. a concurrent `nx test`) are left alone.
  beforeAll(() =>
    Effect.runPromise(dropTestTables((name) => {
      const at = createdAt(name)
      return at === undefined || Date.now() - at > STALE_MS
    }))
  )
  // Everything this test file created.
  afterAll(() => Effect.runPromise(dropTestTables((name) => name.includes(`_${runId}_`))))
}

/** A fresh temp directory removed with the layer's scope. */
export const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "mailroom-persistence-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

export const sqliteLayer = (durability: SqliteClient.Durability = "normal") =>
  Layer.unwrap(Effect.map(tempDir, (dir) => SqliteClient.layer({ filename: join(dir, "journal.db"), durability })))

export const pgLayer = () => PgClient.layer({ url: Redacted.make(pgUrl ?? ""), maxConnections: 8 })

const sqlCorrupt = (table: string) =>
  Layer.effect(
    Corrupt,
    Effect.gen(function*() {
      const sql = yield* SqlClient
      return (position: number, json: string) =>
        Effect.orDie(Effect.asVoid(sql.unsafe(`UPDATE ${table} SET data = ${sql.onDialectOrElse({ pg: () => "$1", orElse: () => "?" })} WHERE position = ${position}`, [json])))
    })
  )

const sqlBackend = (client: () => Layer.Layer<SqlClient, unknown>) => () => {
  const table = uniqueTable()
  return Layer.mergeAll(SqlJournal.layer({ table, pollInterval: 20 }), sqlCorrupt(table)).pipe(
    Layer.provideMerge(client())
  )
}

export const backends: ReadonlyArray<Backend> = [
  {
    name: "memory",
    skip: false,
    layer: () =>
      Layer.effectContext(Effect.map(Journal.makeMemory({ pollInterval: 20 }), (m) =>
        Context.make(Journal.Journal, m.journal).pipe(Context.add(Corrupt, m.corrupt)))).pipe(
          Layer.provideMerge(SqliteClient.layer({ filename: ":memory:" }))
        )
  },
  { name: "sqlite", skip: false, layer: sqlBackend(() => sqliteLayer()) },
  { name: "postgres", skip: pgUrl === undefined, layer: sqlBackend(pgLayer) }
]
