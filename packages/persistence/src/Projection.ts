/**
 * Projections: the read side. A projection consumes the journal by global position and keeps
 * a read model (tables, an index, a cache) up to date.
 *
 * Exactly-once by construction: each page of events is applied and the projection's
 * checkpoint (the last applied position) is stored in ONE transaction (`Checkpoints.layerSql`:
 * the read model lives in the same database as the checkpoint), so after a crash the
 * projection resumes exactly after the last committed page — nothing is applied twice, nothing
 * skipped. The checkpoint update is a compare-and-set, so two runners of the same projection
 * cannot both apply a page. Rebuild from zero clears the read model and the checkpoint in one
 * transaction, then catches up.
 *
 * Never skipping also depends on the journal: `Journal.readAll` only returns gap-safe pages (on
 * PostgreSQL it waits for in-flight transactions holding lower positions; see `SqlJournal`).
 *
 * @example
 * ```ts
 * const balances = Projection.make({
 *   name: "balances",
 *   handle: (events) => Effect.gen(function*() {
 *     const sql = yield* SqlClient
 *     for (const e of events) yield* sql`UPDATE balances SET cents = cents + ${e.data.cents} WHERE id = ${e.stream}`
 *   }),
 *   reset: Effect.flatMap(SqlClient, (sql) => sql`DELETE FROM balances`)
 * })
 * yield* Projection.catchUp(balances)
 * ```
 */
import { Context, Effect, Layer, Option, Ref, Schema, Stream } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import { isSqlError, type SqlError } from "effect/sql/SqlError"
import { Journal, type ReadError, type RecordedEvent } from "./Journal.js"
import { validateTable } from "./SqlJournal.js"
import * as Ddl from "./Ddl.js"

/** A projection: a name (its checkpoint key), how to apply a page of events, how to clear its output. */
export interface Projection<E = never, R = never> {
  readonly name: string
  /** Applies events (in position order) to the read model; runs inside the checkpoint's transaction. */
  readonly handle: (events: ReadonlyArray<RecordedEvent>) => Effect.Effect<void, E, R>
  /** Clears the read model (used by `rebuild`); runs inside the checkpoint's transaction. */
  readonly reset: Effect.Effect<void, E, R>
}

/** Declares a projection. */
export const make = <E = never, R = never>(projection: Projection<E, R>): Projection<E, R> => projection

/** The checkpoint store failed, or another runner moved the checkpoint meanwhile. */
export class ProjectionError extends Schema.TaggedError<ProjectionError>()("ProjectionError", {
  projection: Schema.String,
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message() {
    return `Projection ${this.projection}: ${this.reason}`
  }
}

/** Where projections keep their checkpoints, and the transaction that binds output and checkpoint. */
export class Checkpoints extends Context.Service<Checkpoints, {
  /** The last applied position (0 before the first page). */
  readonly load: (name: string) => Effect.Effect<number, ProjectionError>
  /**
   * Runs `apply` and moves the checkpoint from `from` to `to` atomically; fails with
   * `ProjectionError` (and applies nothing) if the checkpoint is no longer at `from`.
   */
  readonly commit: <E, R>(
    name: string,
    from: number,
    to: number,
    apply: Effect.Effect<void, E, R>
  ) => Effect.Effect<void, E | ProjectionError, R>
}>()("@mailroom/persistence/Projection/Checkpoints") {}

const sqlFailure = (name: string, operation: string) => (cause: SqlError) =>
  new ProjectionError({ projection: name, reason: `${operation} failed: ${cause.message}`, cause })

/** Checkpoints in a SQL table (default `mailroom_checkpoints`), committed with the read model. */
export const layerSql = (options: { readonly table?: string | undefined } = {}): Layer.Layer<
  Checkpoints,
  ProjectionError,
  SqlClient
> =>
  Layer.effect(
    Checkpoints,
    Effect.gen(function*() {
      const sql = yield* SqlClient
      const table = options.table ?? "mailroom_checkpoints"
      if (validateTable(table) !== undefined) {
        return yield* new ProjectionError({ projection: "*", reason: `checkpoint table name ${JSON.stringify(table)} is not an identifier` })
      }
      const ph = sql.onDialectOrElse({ pg: () => (i: number) => `$${i}`, orElse: () => () => "?" })
      yield* Ddl.run(sql, [`CREATE TABLE IF NOT EXISTS ${table} (name TEXT PRIMARY KEY, position BIGINT NOT NULL)`]).pipe(
        Effect.mapError(sqlFailure("*", "creating the checkpoint table"))
      )
      const load = (name: string) =>
        sql.unsafe<{ position: unknown }>(`SELECT position FROM ${table} WHERE name = ${ph(1)}`, [name]).pipe(
          Effect.map((rows) => (rows.length === 0 ? 0 : Number(rows[0]!.position))),
          Effect.mapError(sqlFailure(name, "loading the checkpoint"))
        )
      const move = (name: string, from: number, to: number) =>
        Effect.gen(function*() {
          const changed = yield* sql.unsafe<{ name: string }>(
            `UPDATE ${table} SET position = ${ph(1)} WHERE name = ${ph(2)} AND position = ${ph(3)} RETURNING name`,
            [to, name, from]
          )
          if (changed.length === 1) return
          const inserted = from === 0
            ? yield* sql.unsafe<{ name: string }>(
              `INSERT INTO ${table} (name, position) VALUES (${ph(1)}, ${ph(2)}) ON CONFLICT (name) DO NOTHING RETURNING name`,
              [name, to]
            )
            : []
          if (inserted.length === 1) return
          const actual = yield* load(name)
          return yield* new ProjectionError({
            projection: name,
            reason: `checkpoint moved to ${actual} while this runner applied ${from}..${to}; another runner is active`
          })
        }).pipe(Effect.catchTag("SqlError", (e) => Effect.fail(sqlFailure(name, "storing the checkpoint")(e))))
      return Checkpoints.of({
        load,
        commit: (name, from, to, apply) =>
          sql.withTransaction(Effect.andThen(apply, move(name, from, to))).pipe(
            Effect.mapError((e) => isSqlError(e) ? sqlFailure(name, "the projection transaction")(e) : e)
          ) as Effect.Effect<void, Exclude<typeof apply extends Effect.Effect<any, infer E, any> ? E : never, SqlError> | ProjectionError>
      })
    })
  )

/**
 * Checkpoints in memory, for in-memory read models. Atomic only as far as `apply` is: if it
 * fails halfway, its partial effects stay (the checkpoint does not move).
 */
export const layerMemory: Layer.Layer<Checkpoints> = Layer.effect(
  Checkpoints,
  Effect.map(Ref.make(new Map<string, number>()), (ref) =>
    Checkpoints.of({
      load: (name) => Effect.map(Ref.get(ref), (m) => m.get(name) ?? 0),
      commit: <E, R>(name: string, from: number, to: number, apply: Effect.Effect<void, E, R>) =>
        Effect.flatMap(Ref.get(ref), (m): Effect.Effect<void, E | ProjectionError, R> =>
          (m.get(name) ?? 0) !== from
            ? Effect.fail(new ProjectionError({ projection: name, reason: `checkpoint is not at ${from}; another runner is active` }))
            : Effect.andThen(apply, Ref.update(ref, (m) => new Map(m).set(name, to))))
    }))
)

/** Options of the projection runner. */
export interface RunOptions {
  /** Events per transaction (default 1000). */
  readonly batchSize?: number | undefined
}

/** Applies every event after the checkpoint, page by page; answers the final checkpoint. */
export const catchUp = Effect.fnUntraced(function*<E, R>(projection: Projection<E, R>, options: RunOptions = {}) {
  const journal = yield* Journal
  const checkpoints = yield* Checkpoints
  const batchSize = options.batchSize ?? 1000
  let position = yield* checkpoints.load(projection.name)
  while (true) {
    const events = yield* journal.readAll(position, batchSize)
    if (events.length === 0) return position
    const to = events[events.length - 1]!.position
    yield* checkpoints.commit(projection.name, position, to, projection.handle(events))
    position = to
  }
}) as <E, R>(
  projection: Projection<E, R>,
  options?: RunOptions
) => Effect.Effect<number, E | ReadError | ProjectionError, R | Journal | Checkpoints>

/** Keeps the projection up to date forever: catch up, wait for the next commit, repeat. */
export const run = <E, R>(
  projection: Projection<E, R>,
  options: RunOptions = {}
): Effect.Effect<never, E | ReadError | ProjectionError, R | Journal | Checkpoints> =>
  Effect.gen(function*() {
    const journal = yield* Journal
    while (true) {
      const position = yield* catchUp(projection, options)
      yield* Stream.runHead(journal.subscribe(position)).pipe(Effect.map(Option.getOrUndefined))
    }
  })

/** Clears the read model and the checkpoint (one transaction), then replays everything. */
export const rebuild = Effect.fnUntraced(function*<E, R>(projection: Projection<E, R>, options: RunOptions = {}) {
  const checkpoints = yield* Checkpoints
  const current = yield* checkpoints.load(projection.name)
  yield* checkpoints.commit(projection.name, current, 0, projection.reset)
  return yield* catchUp(projection, options)
}) as <E, R>(
  projection: Projection<E, R>,
  options?: RunOptions
) => Effect.Effect<number, E | ReadError | ProjectionError, R | Journal | Checkpoints>
