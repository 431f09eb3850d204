/**
 * Processes starting together on one PostgreSQL create the same tables at the same moment:
 * `Ddl.run` must let every one of them succeed (plain `CREATE TABLE IF NOT EXISTS` does not).
 */
import { assert, describe, it } from "@effect/vitest"
import { PgClient } from "@effect/sql-pg"
import { Effect, Exit, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import { Ddl, SqlJournal } from "@mailroom/persistence"

const url = process.env["MAILROOM_PG_URL"]
if (url === undefined) console.log("Ddl PostgreSQL test skipped: set MAILROOM_PG_URL=postgres://postgres@127.0.0.1:5432/test to run it")

const client = (schema?: string) =>
  PgClient.layer({ url: Redacted.make(url ?? ""), maxConnections: 2, ...(schema === undefined ? {} : { startupParameters: { search_path: schema } }) })

describe.skipIf(url === undefined)("Ddl on PostgreSQL", () => {
  it.live("eight processes creating the journal's, snapshots' and their own tables at once all succeed", () =>
    Effect.gen(function*() {
      const schema = `mrd_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`
      const admin = yield* SqlClient
      yield* admin.unsafe(`CREATE SCHEMA "${schema}"`)
      try {
        // Each "process" has its own pool (own sessions), like runners starting together.
        const one = Effect.gen(function*() {
          const sql = yield* SqlClient
          yield* Ddl.run(sql, [`CREATE TABLE IF NOT EXISTS own (id TEXT PRIMARY KEY)`])
          yield* Effect.scoped(Layer.build(SqlJournal.layer()))
        }).pipe(Effect.provide(Layer.fresh(client(schema))), Effect.exit)
        const exits = yield* Effect.all(Array.from({ length: 8 }, () => one), { concurrency: "unbounded" })
        assert.deepStrictEqual(exits.map((e) => Exit.isSuccess(e) ? "ok" : String(e).slice(0, 200)), exits.map(() => "ok"))
      } finally {
        yield* admin.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      }
    }).pipe(Effect.provide(client())))
})
