/**
 * Snapshots: a stream's folded state at a version, so recovery replays only the events after
 * it (see `Replay.stream`'s `from` and `recover` below). Only the latest snapshot per stream is
 * kept; saving an older version than the stored one is ignored. A snapshot is an optimisation:
 * if it cannot be read, recovery falls back to a full replay and says so in the log.
 */
import { Context, Effect, Layer, Option, Ref, Schema } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import type { Journal, ReadError } from "./Journal.js"
import * as Replay from "./Replay.js"
import { validateTable } from "./SqlJournal.js"
import type { UndecodableEvent } from "./Upcast.js"
import * as Ddl from "./Ddl.js"

/** A stored snapshot. */
export interface Snapshot {
  readonly stream: string
  readonly version: number
  readonly state: unknown
}

/** The snapshot store failed, or a stored snapshot cannot be read. */
export class SnapshotError extends Schema.TaggedError<SnapshotError>()("SnapshotError", {
  stream: Schema.String,
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message() {
    return `Snapshot of stream "${this.stream}": ${this.reason}`
  }
}

/** Where snapshots are kept. */
export class SnapshotStore extends Context.Service<SnapshotStore, {
  /** Stores `state` (a JSON value) as the stream's snapshot at `version`. */
  readonly save: (stream: string, version: number, state: unknown) => Effect.Effect<void, SnapshotError>
  /** The latest snapshot of the stream, if any. */
  readonly load: (stream: string) => Effect.Effect<Option.Option<Snapshot>, SnapshotError>
}>()("@mailroom/persistence/Snapshot/SnapshotStore") {}

const encode = (stream: string, state: unknown): Effect.Effect<string, SnapshotError> =>
  Effect.suspend(() => {
    try {
      const json = JSON.stringify(state)
      if (json !== undefined) return Effect.succeed(json)
    } catch {
      // handled below
    }
    return Effect.fail(new SnapshotError({ stream, reason: "the state is not a JSON value" }))
  })

/** Snapshots in memory. */
export const layerMemory: Layer.Layer<SnapshotStore> = Layer.effect(
  SnapshotStore,
  Effect.map(Ref.make(new Map<string, { version: number; json: string }>()), (ref) =>
    SnapshotStore.of({
      save: (stream, version, state) =>
        Effect.flatMap(encode(stream, state), (json) =>
          Ref.update(ref, (m) => ((m.get(stream)?.version ?? -1) >= version ? m : new Map(m).set(stream, { version, json })))),
      load: (stream) =>
        Effect.map(Ref.get(ref), (m) => {
          const found = m.get(stream)
          return found ? Option.some({ stream, version: found.version, state: JSON.parse(found.json) }) : Option.none()
        })
    }))
)

const failure = (stream: string, what: string) => (cause: SqlError) =>
  new SnapshotError({ stream, reason: `${what} failed: ${cause.message}`, cause })

/** Snapshots in a SQL table (default `mailroom_snapshots`). */
export const layerSql = (options: { readonly table?: string | undefined } = {}): Layer.Layer<
  SnapshotStore,
  SnapshotError,
  SqlClient
> =>
  Layer.effect(
    SnapshotStore,
    Effect.gen(function*() {
      const sql = yield* SqlClient
      const table = options.table ?? "mailroom_snapshots"
      if (validateTable(table) !== undefined) {
        return yield* new SnapshotError({ stream: "*", reason: `table name ${JSON.stringify(table)} is not an identifier` })
      }
      const ph = sql.onDialectOrElse({ pg: () => (i: number) => `$${i}`, orElse: () => () => "?" })
      yield* Ddl.run(sql, [`CREATE TABLE IF NOT EXISTS ${table} (stream TEXT PRIMARY KEY, version BIGINT NOT NULL, state TEXT NOT NULL)`])
        .pipe(Effect.mapError(failure("*", "creating the snapshot table")))
      return SnapshotStore.of({
        save: (stream, version, state) =>
          Effect.flatMap(encode(stream, state), (json) =>
            sql.unsafe(
              `INSERT INTO ${table} (stream, version, state) VALUES (${ph(1)}, ${ph(2)}, ${ph(3)}) ` +
                `ON CONFLICT (stream) DO UPDATE SET version = excluded.version, state = excluded.state ` +
                `WHERE excluded.version > ${table}.version`,
              [stream, version, json]
            ).pipe(Effect.asVoid, Effect.mapError(failure(stream, "saving"))))
        ,
        load: (stream) =>
          sql.unsafe<{ version: unknown; state: unknown }>(`SELECT version, state FROM ${table} WHERE stream = ${ph(1)}`, [stream])
            .pipe(
              Effect.mapError(failure(stream, "loading")),
              Effect.flatMap((rows) => {
                if (rows.length === 0) return Effect.succeed(Option.none())
                const row = rows[0]!
                const version = Number(row.version)
                try {
                  if (typeof row.state !== "string" || !Number.isSafeInteger(version)) throw new Error("bad row")
                  return Effect.succeed(Option.some({ stream, version, state: JSON.parse(row.state) as unknown }))
                } catch (cause) {
                  return Effect.fail(new SnapshotError({ stream, reason: `the stored snapshot at version ${String(row.version)} is unreadable`, cause }))
                }
              })
            )
      })
    })
  )

/**
 * Recovers a stream's state: the latest snapshot (decoded with `decodeState`) plus the events
 * after it. An unreadable snapshot falls back to a full replay (logged), never to a wrong state.
 */
export const recover = Effect.fnUntraced(function*<S, A extends { readonly _tag: string }>(
  stream: string,
  fold: Replay.Fold<S, A>,
  decodeState: (json: unknown) => S = (json) => json as S
) {
  const store = yield* SnapshotStore
  const loaded = yield* Effect.catch(store.load(stream), (error) =>
    Effect.as(Effect.logWarning(`${error.message}; replaying from the first event`), Option.none<Snapshot>()))
  let from: { state: S; version: number } | undefined
  if (Option.isSome(loaded)) {
    try {
      from = { state: decodeState(loaded.value.state), version: loaded.value.version }
    } catch (cause) {
      yield* Effect.logWarning(`Snapshot of ${stream} could not be decoded (${String(cause)}); replaying from the first event`)
    }
  }
  return yield* Replay.stream(stream, fold, from)
}) as <S, A extends { readonly _tag: string }>(
  stream: string,
  fold: Replay.Fold<S, A>,
  decodeState?: (json: unknown) => S
) => Effect.Effect<Replay.Replayed<S>, ReadError | UndecodableEvent, Journal | SnapshotStore>
