/**
 * The idempotency guard: handlers run behind it, keyed by task id, so a task dispatched again
 * (by the reconciler, or after a restart) never applies its effect twice. The guard remembers
 * each key's output once the handler succeeded and answers it to later runs instead of running
 * the handler again.
 *
 * - `layerMemory`: in-process. A key is kept from the handler's success until the task's final
 *   status is durable in the log (then the log answers), so its size is bounded by the tasks in
 *   flight. It does not survive a crash: after a restart, a task whose handler finished but
 *   whose status was not yet logged runs again (at-least-once for effects outside the process).
 * - `layerSql`: the check, the handler and the record of its output run in ONE transaction on
 *   the `SqlClient`. A handler whose effect is written through the same `SqlClient` is then
 *   applied exactly once, across crashes: either the effect and the record commit together, or
 *   neither does. While the transaction is open it holds the connection (SQLite: the only one),
 *   so such a handler must not wait for a journal append on the same database.
 */
import { Context, Effect, Layer, Schema } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import { SqlError } from "effect/sql/SqlError"
import { Ddl } from "@mailroom/persistence"

/** The guard's storage failed. */
export class GuardError extends Schema.TaggedError<GuardError>()("GuardError", {
  operation: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `idempotency guard ${this.operation} failed: ${this.reason}`
  }
}

/** The guard service. */
export class Guard extends Context.Service<Guard, {
  /**
   * Runs `apply` for the keys that have no recorded output (`fresh`: their indices in `keys`,
   * ascending) and records the outputs it returns (one per fresh key); answers the output of
   * every key, recorded ones included.
   */
  readonly once: <E, R>(
    keys: ReadonlyArray<string>,
    apply: (fresh: ReadonlyArray<number>) => Effect.Effect<ReadonlyArray<unknown>, E, R>
  ) => Effect.Effect<ReadonlyArray<unknown>, E | GuardError, R>
  /** The keys' final statuses are durable elsewhere; the guard may forget them. */
  readonly release: (keys: ReadonlyArray<string>) => void
  /** Keys currently remembered (for tests and metrics; -1 when unknown). */
  readonly size: () => number
}>()("@mailroom/tasks/Guard") {}

const merge = (keys: ReadonlyArray<string>, known: ReadonlyMap<string, unknown>, fresh: ReadonlyArray<number>, outputs: ReadonlyArray<unknown>) => {
  const out: Array<unknown> = []
  out.length = keys.length
  for (let i = 0; i < keys.length; i++) out[i] = known.get(keys[i]!)
  for (let j = 0; j < fresh.length; j++) out[fresh[j]!] = outputs[j]
  return out
}

/** An in-process guard (see the module comment). */
export const makeMemory = (): Guard["Service"] => {
  const done = new Map<string, unknown>()
  return Guard.of({
    once: (keys, apply) =>
      Effect.suspend(() => {
        const fresh: Array<number> = []
        for (let i = 0; i < keys.length; i++) if (!done.has(keys[i]!)) fresh.push(i)
        if (fresh.length === 0) return Effect.succeed(keys.map((k) => done.get(k)))
        return Effect.map(apply(fresh), (outputs) => {
          for (let j = 0; j < fresh.length; j++) done.set(keys[fresh[j]!]!, outputs[j])
          return merge(keys, done, fresh, outputs)
        })
      }),
    release: (keys) => {
      for (const k of keys) done.delete(k)
    },
    size: () => done.size
  })
}

/** The in-process guard as a layer. */
export const layerMemory: Layer.Layer<Guard> = Layer.sync(Guard, makeMemory)

const storage = (operation: string) => (e: SqlError) => new GuardError({ operation, reason: e.message })

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

/**
 * A guard in a SQL table (`mailroom_task_guard` by default), atomic with the handler's own
 * writes through the same `SqlClient` (see the module comment).
 *
 * @example
 * ```ts
 * const GuardLive = Idempotency.layerSql().pipe(Layer.provide(SqliteClient.layer({ filename: "app.db" })))
 * ```
 */
export const makeSql = Effect.fnUntraced(function*(options: { readonly table?: string | undefined } = {}) {
  const sql = yield* SqlClient
  const table = options.table ?? "mailroom_task_guard"
  if (!IDENT.test(table)) {
    return yield* new GuardError({ operation: "open", reason: `table name ${JSON.stringify(table)} is not an identifier` })
  }
  yield* Ddl.run(sql, [`CREATE TABLE IF NOT EXISTS ${table} (key TEXT PRIMARY KEY, output TEXT NOT NULL)`]).pipe(
    Effect.mapError(storage("migrate"))
  )
  const pg = sql.onDialectOrElse({ orElse: () => false, pg: () => true })
  const ph = (i: number) => pg ? `$${i}` : "?"
  return Guard.of({
    once: <E, R>(
      keys: ReadonlyArray<string>,
      apply: (fresh: ReadonlyArray<number>) => Effect.Effect<ReadonlyArray<unknown>, E, R>
    ) =>
      sql.withTransaction(Effect.gen(function*() {
        const rows = yield* sql.unsafe<{ key: string; output: string }>(
          `SELECT key, output FROM ${table} WHERE key IN (${keys.map((_, i) => ph(i + 1)).join(", ")})`,
          keys
        ).pipe(Effect.mapError(storage("read")))
        const known = new Map<string, unknown>()
        for (const row of rows) known.set(row.key, JSON.parse(row.output))
        const fresh: Array<number> = []
        for (let i = 0; i < keys.length; i++) if (!known.has(keys[i]!)) fresh.push(i)
        if (fresh.length === 0) return keys.map((k) => known.get(k))
        const outputs = yield* apply(fresh)
        const params: Array<unknown> = []
        const values: Array<string> = []
        for (let j = 0; j < fresh.length; j++) {
          values.push(`(${ph(params.length + 1)}, ${ph(params.length + 2)})`)
          params.push(keys[fresh[j]!], JSON.stringify(outputs[j] === undefined ? null : outputs[j]))
        }
        yield* sql.unsafe(`INSERT INTO ${table} (key, output) VALUES ${values.join(", ")}`, params).pipe(
          Effect.mapError(storage("record"))
        )
        return merge(keys, known, fresh, outputs)
      })).pipe(
        Effect.mapError((e): E | GuardError =>
          e instanceof SqlError ? new GuardError({ operation: "transaction", reason: e.message }) : e as E | GuardError
        )
      ),
    release: () => {},
    size: () => -1
  })
})

/** The SQL guard as a layer. */
export const layerSql = (options: { readonly table?: string | undefined } = {}): Layer.Layer<Guard, GuardError, SqlClient> =>
  Layer.effect(Guard, makeSql(options))
