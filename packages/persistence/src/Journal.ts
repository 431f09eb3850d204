/**
 * The journal: an append-only log of events, grouped into streams.
 *
 * Every event belongs to one stream (an actor, an aggregate, a saga) and has a stream version
 * (1, 2, 3, ... within the stream) and a global position (increasing across all streams).
 * Writers append with an expected version (optimistic concurrency); readers read one stream by
 * version, or everything by global position (projections, see `Projection`), or subscribe to
 * what comes next. Events are stored encoded: a type name, a schema version and a JSON payload;
 * `EventTypes` (in `Upcast.ts`) turns domain events into that form and back, upcasting old
 * schema versions on read.
 *
 * Implementations: `Journal.layerMemory` (here), and `SqlJournal.layer` over any `SqlClient`
 * (SQLite via `SqliteClient`, PostgreSQL via `@effect/sql-pg`). All of them:
 * - check the expected version and fail with `WrongExpectedVersion` naming stream, expected and
 *   actual version;
 * - treat re-appending event ids already in the stream as a no-op answering the original
 *   positions (a client retrying after a lost acknowledgement);
 * - group commit: appends arriving together, from any streams, are written in one transaction
 *   in arrival order, and each is acknowledged only after that transaction committed;
 * - never skip or crash on a bad row: an undecodable row fails with `CorruptEvent` naming the
 *   stream and position;
 * - never skip missing events: a read that finds a stream's versions (or, on SQLite, the global
 *   positions) skipping fails with `JournalGap` naming the stream and what it expected and found.
 */
import { Context, Deferred, Effect, Layer, Option, Ref, Stream } from "effect"
import * as GroupCommit from "./internal/groupCommit.js"
import * as Plan from "./internal/plan.js"
import {
  CorruptEvent,
  EventIdConflict,
  InvalidAppend,
  JournalError,
  type JournalGap,
  type StorageFull,
  WrongExpectedVersion
} from "./JournalError.js"

export {
  CorruptEvent,
  EventIdConflict,
  InvalidAppend,
  JournalError,
  JournalGap,
  StorageFull,
  WrongExpectedVersion
} from "./JournalError.js"

/** The version a writer expects the stream to be at: a number (0 = stream must be empty), or `"any"`. */
export type ExpectedVersion = number | "any"

/** An event to append, already encoded (see `EventTypes.encode`). */
export interface EventData {
  /** Unique within the stream; appending an id again is a no-op (idempotent retries). */
  readonly id: string
  /** The event type name, e.g. `"Deposited"`. */
  readonly type: string
  /** The schema version of `data`, starting at 1. */
  readonly schemaVersion: number
  /** The encoded payload: a JSON value. */
  readonly data: unknown
}

/** An event read back from the journal. */
export interface RecordedEvent {
  readonly position: number
  readonly stream: string
  /** The version of the stream after this event (1 for the first event). */
  readonly version: number
  readonly id: string
  readonly type: string
  readonly schemaVersion: number
  readonly data: unknown
}

/** What an append answers. */
export interface AppendResult {
  /** The global position of each appended event, in order. */
  readonly positions: ReadonlyArray<number>
  /** The stream version of each appended event, in order. */
  readonly versions: ReadonlyArray<number>
  /** True when every event id was already in the stream: nothing was written. */
  readonly duplicate: boolean
}

/** Every failure of `append`. */
export type AppendError = WrongExpectedVersion | EventIdConflict | InvalidAppend | StorageFull | JournalError

/** Every failure of the read operations. */
export type ReadError = CorruptEvent | JournalGap | JournalError

/** The journal service. */
export class Journal extends Context.Service<Journal, {
  /**
   * Appends `events` to `stream` if it is at `expectedVersion`; answers the positions and
   * versions once the write is durable (committed).
   */
  readonly append: (
    stream: string,
    events: ReadonlyArray<EventData>,
    expectedVersion: ExpectedVersion
  ) => Effect.Effect<AppendResult, AppendError>
  /** Events of `stream` with version >= `fromVersion` (default 1), in version order. */
  readonly readStream: (
    stream: string,
    fromVersion?: number,
    limit?: number
  ) => Effect.Effect<ReadonlyArray<RecordedEvent>, ReadError>
  /**
   * Events with position > `afterPosition` (default 0), in position order, at most `limit`
   * (default 10,000): page through with the last position. Never skips: a returned page is
   * gap-safe (no event with a lower position than the last returned one can appear later).
   */
  readonly readAll: (afterPosition?: number, limit?: number) => Effect.Effect<ReadonlyArray<RecordedEvent>, ReadError>
  /** The current version of `stream` (0 when empty). */
  readonly streamVersion: (stream: string) => Effect.Effect<number, JournalError>
  /** Every event after `afterPosition`, then each new event as it is committed; never ends. */
  readonly subscribe: (afterPosition?: number) => Stream.Stream<RecordedEvent, ReadError>
  /**
   * Optional fast path of `readAll` for replay: reads the same page (same order, same checks,
   * a damaged row fails with `CorruptEvent`) but hands each event to `visit` as it is read
   * instead of building the page. `visit` answers `undefined` to go on, or a value to stop
   * there (answered in `stopped`). Journals without it are read through `readAll`.
   */
  readonly scanAll?: <E>(
    afterPosition: number,
    limit: number,
    visit: (event: RecordedEvent) => E | undefined
  ) => Effect.Effect<Scanned<E>, ReadError>
  /** Optional fast path of `readStream` for replay, as `scanAll` is of `readAll`. */
  readonly scanStream?: <E>(
    stream: string,
    fromVersion: number,
    limit: number,
    visit: (event: RecordedEvent) => E | undefined
  ) => Effect.Effect<Scanned<E>, ReadError>
  /**
   * Optional: `scanAll` reading only what a fold of the events needs (`LeanEvent`: no stream
   * name, no event id), which a journal may read faster. A damaged row still fails with a
   * `CorruptEvent` naming its stream and position.
   */
  readonly scanAllLean?: <E>(
    afterPosition: number,
    limit: number,
    visit: (event: LeanEvent) => E | undefined
  ) => Effect.Effect<Scanned<E, LeanEvent>, ReadError>
  /** Optional: `scanStream` reading only a `LeanEvent` per event (see `scanAllLean`). */
  readonly scanStreamLean?: <E>(
    stream: string,
    fromVersion: number,
    limit: number,
    visit: (event: LeanEvent) => E | undefined
  ) => Effect.Effect<Scanned<E, LeanEvent>, ReadError>
}>()("@mailroom/persistence/Journal") {}

/** What a lean scan reads of each event: enough to decode it and to know where it is. */
export interface LeanEvent {
  readonly position: number
  readonly version: number
  readonly type: string
  readonly schemaVersion: number
  readonly data: unknown
}

/** What `scanAll` / `scanStream` (and their lean forms) answer. */
export interface Scanned<E, Ev = RecordedEvent> {
  /** Events of the page handed to `visit` (the page has `read` events when `stopped` is undefined). */
  readonly read: number
  /** The last event handed to `visit`. */
  readonly last: Ev | undefined
  /** What `visit` answered when it stopped the scan. */
  readonly stopped: E | undefined
}

/** Journal options shared by the implementations. */
export interface JournalOptions {
  /** Most append requests written in one group-commit transaction (default 1024). */
  readonly maxBatch?: number | undefined
  /** Page size used by `subscribe` (default 1000). */
  readonly pageSize?: number | undefined
  /** How often `subscribe` polls for events written by other processes (default 100 ms). */
  readonly pollInterval?: number | undefined
}

const STREAM_MAX = 512

/** Checks journal options; answers an error naming the bad value, or undefined. */
export const validateOptions = (options: JournalOptions): JournalError | undefined => {
  const checks: ReadonlyArray<readonly [string, number | undefined, number]> = [
    ["maxBatch", options.maxBatch, 1],
    ["pageSize", options.pageSize, 1],
    ["pollInterval", options.pollInterval, 0]
  ]
  for (const [name, value, min] of checks) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) {
      return new JournalError({ operation: "open", reason: `option ${name} must be an integer >= ${min}, got ${String(value)}` })
    }
  }
  return undefined
}

/** Validates and serializes an append request in the caller's fiber (cheap, spreads the cost). */
export const prepareAppend = (
  stream: string,
  events: ReadonlyArray<EventData>,
  expected: ExpectedVersion
): Plan.PendingAppend | InvalidAppend | EventIdConflict => {
  if (typeof stream !== "string" || stream.length === 0 || stream.length > STREAM_MAX) {
    return new InvalidAppend({ stream: String(stream), reason: `stream name must be 1..${STREAM_MAX} characters` })
  }
  if (expected !== "any" && (!Number.isSafeInteger(expected) || expected < 0)) {
    return new InvalidAppend({
      stream,
      reason: `expected version must be a non-negative integer or "any", got ${String(expected)}`
    })
  }
  if (!Array.isArray(events) || events.length === 0) {
    return new InvalidAppend({ stream, reason: "an append needs at least one event" })
  }
  const rows: Array<Plan.EncodedEvent> = []
  // Most appends carry one event: no set needed to find an id repeated within the append.
  const seen = events.length > 1 ? new Set<string>() : undefined
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!
    if (typeof event.id !== "string" || event.id.length === 0) {
      return new InvalidAppend({ stream, reason: `event #${i} has no id (a non-empty string)` })
    }
    if (seen !== undefined) {
      if (seen.has(event.id)) {
        return new EventIdConflict({ stream, ids: [event.id], reason: "the id appears twice in one append" })
      }
      seen.add(event.id)
    }
    if (typeof event.type !== "string" || event.type.length === 0) {
      return new InvalidAppend({ stream, reason: `event ${event.id} has no type name` })
    }
    if (!Number.isSafeInteger(event.schemaVersion) || event.schemaVersion < 1) {
      return new InvalidAppend({
        stream,
        reason: `event ${event.id} has schema version ${String(event.schemaVersion)}; it must be an integer >= 1`
      })
    }
    let json: string | undefined
    try {
      json = JSON.stringify(event.data)
    } catch (cause) {
      return new InvalidAppend({ stream, reason: `event ${event.id} payload is not JSON: ${String(cause)}` })
    }
    if (json === undefined) {
      return new InvalidAppend({ stream, reason: `event ${event.id} payload is not JSON (undefined or a function)` })
    }
    rows.push({ id: event.id, type: event.type, schemaVersion: event.schemaVersion, json })
  }
  return { stream, expected, events: rows }
}

/** A driver's integer as a number (PostgreSQL answers BIGINT as text); NaN when it is none. */
const toInt = (value: unknown): number => (typeof value === "number" ? value : Number(value))
const isPositiveInt = (n: number): boolean => Number.isSafeInteger(n) && n >= 1
const isName = (value: unknown): value is string => typeof value === "string" && value.length > 0

/** Parses a stored payload, or names the row that is corrupt. */
export const decodeRow = (
  stream: unknown,
  position: unknown,
  version: unknown,
  id: unknown,
  type: unknown,
  schemaVersion: unknown,
  json: unknown
): RecordedEvent | CorruptEvent => {
  // Hand-written checks instead of a Schema decode: this runs once per replayed event, and
  // replay must reach > 1 million events/s. The slow path (`corruptRow`) names what is wrong.
  const pos = toInt(position)
  const ver = toInt(version)
  const sv = toInt(schemaVersion)
  if (
    typeof stream !== "string" || !isPositiveInt(pos) || !isPositiveInt(ver) || !isName(id) || !isName(type) ||
    !isPositiveInt(sv) || typeof json !== "string"
  ) {
    return corruptRow(stream, pos, position, version, id, type, schemaVersion, json)
  }
  let data: unknown
  try {
    data = JSON.parse(json)
  } catch (cause) {
    return new CorruptEvent({
      stream,
      position: pos,
      reason: `payload is not valid JSON (${cause instanceof Error ? cause.message : String(cause)})`
    })
  }
  return { position: pos, stream, version: ver, id, type, schemaVersion: sv, data }
}

/**
 * `decodeRow` for a lean scan (see `Journal.scanAllLean`): the same checks on the columns it
 * reads. `undefined` when the row is damaged: the caller reads the whole row to name it.
 */
export const decodeLeanRow = (
  position: unknown,
  version: unknown,
  type: unknown,
  schemaVersion: unknown,
  json: unknown
): LeanEvent | undefined => {
  const pos = toInt(position)
  const ver = toInt(version)
  const sv = toInt(schemaVersion)
  if (!isPositiveInt(pos) || !isPositiveInt(ver) || !isName(type) || !isPositiveInt(sv) || typeof json !== "string") {
    return undefined
  }
  try {
    return { position: pos, version: ver, type, schemaVersion: sv, data: JSON.parse(json) }
  } catch {
    return undefined
  }
}

const corruptRow = (
  stream: unknown,
  pos: number,
  position: unknown,
  version: unknown,
  id: unknown,
  type: unknown,
  schemaVersion: unknown,
  json: unknown
): CorruptEvent => {
  const reason = typeof stream !== "string"
    ? "stream name is not text"
    : !Number.isSafeInteger(pos) || pos < 1
    ? `position ${String(position)} is not a positive integer`
    : !Number.isSafeInteger(Number(version)) || Number(version) < 1
    ? `version ${String(version)} is not a positive integer`
    : typeof id !== "string" || id.length === 0
    ? "event id is missing"
    : typeof type !== "string" || type.length === 0
    ? "event type is missing"
    : typeof json !== "string"
    ? "payload is not text"
    : `schema version ${String(schemaVersion)} is invalid`
  return new CorruptEvent({ stream: String(stream), position: Number.isFinite(pos) ? pos : -1, reason })
}

/**
 * Builds `subscribe` from `readAll` and a signal of local commits: pages through what exists,
 * then waits for the next local commit or `pollInterval` (for writers in other processes).
 */
export const makeSubscribe = (options: {
  readonly readAll: (after: number, limit: number) => Effect.Effect<ReadonlyArray<RecordedEvent>, ReadError>
  readonly committed: Effect.Effect<void>
  readonly pageSize: number
  readonly pollInterval: number
}) =>
(afterPosition = 0): Stream.Stream<RecordedEvent, ReadError> =>
  Stream.paginate(afterPosition, (after) =>
    Effect.flatMap(options.readAll(after, options.pageSize), (page) => {
      if (page.length > 0) {
        return Effect.succeed([page, Option.some(page[page.length - 1]!.position)] as const)
      }
      return Effect.as(
        Effect.raceFirst(options.committed, Effect.sleep(options.pollInterval)),
        [page, Option.some(after)] as const
      )
    }))

/** A signal completed on each commit; `wait` suspends until the next one. */
export const makeCommitSignal = Effect.gen(function*() {
  const ref = yield* Ref.make(yield* Deferred.make<void>())
  const wait = Effect.flatMap(Ref.get(ref), Deferred.await)
  const signal = Effect.flatMap(Deferred.make<void>(), (next) =>
    Effect.flatMap(Ref.getAndSet(ref, next), (previous) => Deferred.succeed(previous, undefined)))
  return { wait, signal } as const
})

interface MemoryRow {
  readonly position: number
  readonly stream: string
  readonly version: number
  readonly id: string
  readonly type: string
  readonly schemaVersion: number
  json: string
}

/** The in-memory journal: the same semantics as the SQL ones, nothing survives the process. */
export const makeMemory = Effect.fnUntraced(function*(options: JournalOptions = {}) {
  const invalid = validateOptions(options)
  if (invalid) return yield* invalid
  const rows: Array<MemoryRow> = []
  const byStream = new Map<string, Array<MemoryRow>>()
  // Event ids per stream (nested maps: no concatenated key to build and hash per look-up).
  const idsByStream = new Map<string, Map<string, MemoryRow>>()
  const signal = yield* makeCommitSignal

  const write = (batch: ReadonlyArray<Plan.PendingAppend>) =>
    Effect.suspend(() => {
      const plan = Plan.plan(
        batch,
        (stream) => byStream.get(stream)?.length ?? 0,
        (stream, id) => idsByStream.get(stream)?.get(id)
      )
      const positions: Array<number> = []
      for (let i = 0; i < plan.rows.length; i++) {
        const r = plan.rows[i]!
        const row: MemoryRow = {
          position: rows.length + 1,
          stream: r.stream,
          version: r.version,
          id: r.event.id,
          type: r.event.type,
          schemaVersion: r.event.schemaVersion,
          json: r.event.json
        }
        rows.push(row)
        let list = byStream.get(r.stream)
        let ids = idsByStream.get(r.stream)
        if (list === undefined) byStream.set(r.stream, list = [])
        if (ids === undefined) idsByStream.set(r.stream, ids = new Map())
        list.push(row)
        ids.set(r.event.id, row)
        positions.push(row.position)
      }
      return Effect.as(plan.rows.length > 0 ? signal.signal : Effect.void, Plan.resolve(plan, positions))
    })

  const append = yield* GroupCommit.make({ maxBatch: options.maxBatch ?? 1024, write })

  const decode = (row: MemoryRow): RecordedEvent | CorruptEvent =>
    decodeRow(row.stream, row.position, row.version, row.id, row.type, row.schemaVersion, row.json)

  const collect = (source: ReadonlyArray<MemoryRow>, start: number, limit: number) =>
    Effect.suspend(() => {
      const out: Array<RecordedEvent> = []
      for (let i = start; i < source.length && out.length < limit; i++) {
        const event = decode(source[i]!)
        if (event instanceof CorruptEvent) return Effect.fail(event)
        out.push(event)
      }
      return Effect.succeed(out)
    })

  const readAll = (afterPosition = 0, limit = 10_000) =>
    collect(rows, Math.max(0, afterPosition), limit)

  const journal = Journal.of({
    append: (stream, events, expected) => {
      const pending = prepareAppend(stream, events, expected)
      return "events" in pending ? append(pending) : Effect.fail(pending)
    },
    readStream: (stream, fromVersion = 1, limit = Number.MAX_SAFE_INTEGER) =>
      collect(byStream.get(stream) ?? [], Math.max(0, fromVersion - 1), limit),
    readAll,
    streamVersion: (stream) => Effect.sync(() => byStream.get(stream)?.length ?? 0),
    subscribe: makeSubscribe({
      readAll,
      committed: signal.wait,
      pageSize: options.pageSize ?? 1000,
      pollInterval: options.pollInterval ?? 100
    })
  })
  return {
    journal,
    /** Test hook: overwrite the stored payload of a position (to test corruption handling). */
    corrupt: (position: number, json: string) =>
      Effect.sync(() => {
        const row = rows[position - 1]
        if (row) row.json = json
      })
  }
})

/**
 * The in-memory journal as a layer.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Journal } from "@mailroom/persistence"
 *
 * const program = Effect.gen(function*() {
 *   const journal = yield* Journal.Journal
 *   yield* journal.append("account-1", [{ id: "e1", type: "Opened", schemaVersion: 1, data: {} }], 0)
 *   return yield* journal.readStream("account-1")
 * }).pipe(Effect.provide(Journal.layerMemory()))
 * ```
 */
export const layerMemory = (options: JournalOptions = {}): Layer.Layer<Journal, JournalError> =>
  Layer.effect(Journal, Effect.map(makeMemory(options), (memory) => memory.journal))
