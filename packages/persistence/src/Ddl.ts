/**
 * Creating tables from several processes at once. `CREATE TABLE IF NOT EXISTS` is not safe
 * against itself on PostgreSQL: two sessions creating the same table at the same moment can both
 * pass the "not exists" check, and the second fails on the catalog's unique index
 * (`pg_type_typname_nsp_index`). Runner processes of a cluster start together, so every DDL of
 * Mailroom's SQL stores goes through `run`: on PostgreSQL the statements run in one transaction
 * behind a transaction-scoped advisory lock (one DDL at a time per database, released at commit);
 * elsewhere (SQLite: one writer anyway) they run as they are.
 */
import { Effect } from "effect"
import type { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"

/** The advisory lock key of Mailroom's DDL ("mrdd"). */
const LOCK = 0x6d726464

/** Runs `statements` in order, serialized across processes on PostgreSQL (see the module comment). */
export const run = (sql: SqlClient, statements: ReadonlyArray<string>): Effect.Effect<void, SqlError> => {
  const pg = sql.onDialectOrElse({ orElse: () => false, pg: () => true })
  const each = Effect.forEach(statements, (statement) => sql.unsafe(statement), { discard: true })
  return pg ? sql.withTransaction(Effect.andThen(sql.unsafe(`SELECT pg_advisory_xact_lock(${LOCK})`), each)) : each
}
