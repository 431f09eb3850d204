/**
 * PostgreSQL for cluster tests: a fresh schema per test (the cluster's tables and the test's
 * own tables live in it, and a unique table prefix keeps the advisory lock namespaces of
 * concurrent runs apart), dropped when the test's scope closes. Schemas of runs that were
 * killed before cleaning up are dropped after `STALE_MS`.
 *
 * Without MAILROOM_PG_URL the tests that need PostgreSQL skip, saying how to enable them.
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted } from "effect"
import { createServer } from "node:net"

export const pgUrl: string | undefined = process.env["MAILROOM_PG_URL"]

export const skipMessage =
  "PostgreSQL cluster tests skipped: set MAILROOM_PG_URL=postgres://postgres@127.0.0.1:5432/test to run them"

/** Schemas created by these helpers are named `mrc_<base36 ms>_<random>_<n>`. */
const SCHEMA = /^mrc_([0-9a-z]{8,9})_[0-9a-z]+_\d+$/
/** A test run is over after this long; its schema can go. */
const STALE_MS = 10 * 60_000

const runId = `${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`
let counter = 0

/** One connection to the test database, for setup and checks. */
export const adminLayer = (url: string = pgUrl ?? "") =>
  PgClient.layer({ url: Redacted.make(url), maxConnections: 2 })

/** A fresh schema with a matching table prefix; the schema (and everything in it) is dropped with the scope. */
export interface TestSchema {
  readonly url: string
  readonly schema: string
  /** Table prefix for the cluster's tables (also unique, for the advisory lock namespace). */
  readonly prefix: string
}

const dropSchema = (schema: string) =>
  Effect.flatMap(PgClient.PgClient, (sql) => sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`))

/** Drops schemas left by runs older than `STALE_MS` (killed runs never cleaned up). */
export const dropStaleSchemas = Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const rows = yield* sql.unsafe<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'mrc\\_%'`)
  for (const { nspname } of rows) {
    const stamp = SCHEMA.exec(nspname)?.[1]
    const at = stamp === undefined ? Number.NaN : parseInt(stamp, 36)
    if (Number.isFinite(at) && Date.now() - at > STALE_MS) yield* dropSchema(nspname)
  }
})

/** Creates a schema for one test and drops it when the scope closes. */
export const testSchema = Effect.acquireRelease(
  Effect.gen(function*() {
    const schema = `mrc_${runId}_${counter++}`
    const sql = yield* PgClient.PgClient
    yield* sql.unsafe(`CREATE SCHEMA "${schema}"`)
    return { url: pgUrl ?? "", schema, prefix: `c_${schema.slice(4)}` } satisfies TestSchema
  }),
  ({ schema }) => Effect.ignore(dropSchema(schema))
)

/** `testSchema` with its own admin connection. */
export const withTestSchema = <A, E, R>(use: (schema: TestSchema) => Effect.Effect<A, E, R>) =>
  Effect.scoped(Effect.flatMap(testSchema, use)).pipe(Effect.provide(Layer.fresh(adminLayer())))

/** A TCP port that was free a moment ago. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
