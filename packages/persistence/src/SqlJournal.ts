/**
 * The journal over `effect/sql`'s `SqlClient`: SQLite (through `SqliteClient`) and PostgreSQL
 * (through `@effect/sql-pg`) run the same code, with a few dialect branches.
 *
 * Table (`mailroom_events` unless `table` says otherwise): `position` (global, primary key),
 * `stream`, `version` (unique per stream), `event_id` (unique per stream), `type`,
 * `schema_version`, `data` (JSON text).
 *
 * Writes go through group commit (see `Journal`): one writer fiber per journal takes every
 * queued append and writes them in one transaction: look up the streams' versions and the ids
 * already stored, plan (in arrival order), take positions, insert, commit, then acknowledge. On
 * SQLite the ids of appends planned as new are not looked up: the unique `(event_id, stream)`
 * index checks them at insert, and a violation re-plans the batch with every id looked up.
 *
 * Positions on PostgreSQL come from a sequence, so concurrent transactions (other processes)
 * can commit a lower position after a higher one is visible. `readAll` never returns past such
 * a hole while it may still fill: when it finds a gap it waits until every transaction that was
 * in progress when it looked (`pg_current_snapshot()`) has ended, after which the gap is final
 * (filled or rolled back). This holds because the writer assigns its transaction id
 * (`pg_current_xact_id()`) before taking positions. On SQLite, writes are serialized and
 * positions are assigned in commit order, so there are no such gaps.
 *
 * Reads check what is guaranteed: a stream's versions run on by one (every dialect), and on
 * SQLite so do global positions. A read that finds them skipping (a row deleted by hand, a
 * damaged file) fails with `JournalGap` naming stream, expected and found version or position.
 * A write that finds no room fails with `StorageFull`; the journal takes the next append.
 */
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as GroupCommit from "./internal/groupCommit.js"
import * as Plan from "./internal/plan.js"
import * as Ddl from "./Ddl.js"
import {
  CorruptEvent,
  decodeLeanRow,
  decodeRow,
  Journal,
  JournalError,
  JournalGap,
  type JournalOptions,
  type LeanEvent,
  makeCommitSignal,
  makeSubscribe,
  prepareAppend,
  type RecordedEvent,
  type Scanned,
  StorageFull,
  validateOptions
} from "./Journal.js"

/** Options of the SQL journal. */
export interface SqlJournalOptions extends JournalOptions {
  /** Table name, optionally schema-qualified (default `mailroom_events`). */
  readonly table?: string | undefined
  /** Create the table and indexes if missing (default true). */
  readonly migrate?: boolean | undefined
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/

/** Checks a table name given in options; answers an error naming it when it is not a plain identifier. */
export const validateTable = (table: string): JournalError | undefined =>
  IDENT.test(table) ? undefined : new JournalError({
    operation: "open",
    reason: `table name ${JSON.stringify(table)} must be an identifier ([A-Za-z_][A-Za-z0-9_]*), optionally schema-qualified`
  })

const storageError = (operation: string) => (cause: SqlError) =>
  new JournalError({ operation, reason: cause.message, cause })

/** SQLite's SQLITE_FULL (disk full, or `max_page_count` reached); PostgreSQL's disk_full. */
const isStorageFull = (error: SqlError): boolean => {
  const cause = error.reason.cause as { errcode?: unknown; code?: unknown } | undefined
  if (typeof cause !== "object" || cause === null) return false
  return (typeof cause.errcode === "number" && (cause.errcode & 0xff) === 13) || cause.code === "53100"
}

/** A failed write: `StorageFull` when there was no room (retry once space is freed), else `JournalError`. */
const writeError = (operation: string) => (cause: SqlError): StorageFull | JournalError =>
  isStorageFull(cause) ? new StorageFull({ operation, reason: cause.message, cause }) : storageError(operation)(cause)

const COLUMNS = "position, stream, version, event_id, type, schema_version, data"
const INSERT_SIZES = [256, 64, 16, 4, 1]

/**
 * What a read checks the order of its rows against: consecutive stream versions from `first`
 * (a stream read, every dialect), consecutive global positions from `first` (a global read on
 * SQLite, where positions are contiguous), or nothing (a global read on PostgreSQL, whose
 * sequence leaves holes where transactions rolled back).
 */
type Order =
  | { readonly by: "version"; readonly stream: string; readonly first: number }
  | { readonly by: "position"; readonly first: number }
  | undefined

/** The first version a stream read from `fromVersion` must find. */
const firstVersion = (fromVersion: number) => Math.max(1, Math.ceil(fromVersion))
/** The first position a global read after `afterPosition` must find. */
const firstPosition = (afterPosition: number) => Math.max(0, Math.floor(afterPosition)) + 1
/** A stream read from `fromVersion` finds consecutive versions, from the first one it asked for. */
const streamOrder = (stream: string, fromVersion: number): Order => ({ by: "version", stream, first: firstVersion(fromVersion) })

const versionGap = (stream: string, expected: number, found: number, position: number) =>
  new JournalGap({ kind: "version", stream, expected, found, position })

/** Rows are read as arrays (cheaper than objects) in `COLUMNS` order. */
const decodeRows = (
  rows: ReadonlyArray<ReadonlyArray<unknown>>,
  order: Order
): Effect.Effect<ReadonlyArray<RecordedEvent>, CorruptEvent | JournalGap> => {
  const out: Array<RecordedEvent> = []
  let next = order?.first ?? 0
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!
    const event = decodeRow(r[1], r[0], r[2], r[3], r[4], r[5], r[6])
    if (event instanceof CorruptEvent) return Effect.fail(event)
    if (order !== undefined) {
      const gap = gapAt(order, next, event)
      if (gap !== undefined) return Effect.fail(gap)
      next++
    }
    out.push(event)
  }
  return Effect.succeed(out)
}

/** The gap before `event`, if it is not the `next` version or position `order` expects. */
const gapAt = (order: NonNullable<Order>, next: number, event: RecordedEvent): JournalGap | undefined => {
  if (order.by === "version") {
    return event.version === next ? undefined : versionGap(order.stream, next, event.version, event.position)
  }
  return event.position === next
    ? undefined
    : new JournalGap({ kind: "position", stream: event.stream, expected: next, found: event.position, position: event.position })
}

/**
 * `decodeRows` fused with the consumer (replay): each event goes to `visit` as it is decoded,
 * so no page of `RecordedEvent`s is built (less garbage, fewer objects surviving a GC).
 */
const scanRows = <E>(
  rows: ReadonlyArray<ReadonlyArray<unknown>>,
  order: Order,
  visit: (event: RecordedEvent) => E | undefined
): Effect.Effect<Scanned<E>, CorruptEvent | JournalGap> => {
  let last: RecordedEvent | undefined
  let next = order?.first ?? 0
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!
    const event = decodeRow(r[1], r[0], r[2], r[3], r[4], r[5], r[6])
    if (event instanceof CorruptEvent) return Effect.fail(event)
    if (order !== undefined) {
      const gap = gapAt(order, next, event)
      if (gap !== undefined) return Effect.fail(gap)
      next++
    }
    last = event
    const stopped = visit(event)
    if (stopped !== undefined) return Effect.succeed({ read: i + 1, last, stopped })
  }
  return Effect.succeed({ read: rows.length, last, stopped: undefined })
}

const LEAN_COLUMNS = "position, version, type, schema_version, data"

/**
 * `scanRows` for lean scans (rows in `LEAN_COLUMNS` order). A damaged row answers its position,
 * and so does the row after a gap in positions: the caller reads that row whole, so the error
 * names its stream.
 */
const scanLeanRows = <E>(
  rows: ReadonlyArray<ReadonlyArray<unknown>>,
  order: Order,
  visit: (event: LeanEvent) => E | undefined
): Scanned<E, LeanEvent> | { readonly damagedAt: unknown } | { readonly gap: JournalGap } | {
  readonly positionGap: { readonly expected: number; readonly found: number }
} => {
  let last: LeanEvent | undefined
  let next = order?.first ?? 0
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!
    const event = decodeLeanRow(r[0], r[1], r[2], r[3], r[4])
    if (event === undefined) return { damagedAt: r[0] }
    if (order !== undefined) {
      if (order.by === "version" && event.version !== next) {
        return { gap: versionGap(order.stream, next, event.version, event.position) }
      }
      if (order.by === "position" && event.position !== next) return { positionGap: { expected: next, found: event.position } }
      next++
    }
    last = event
    const stopped = visit(event)
    if (stopped !== undefined) return { read: i + 1, last, stopped }
  }
  return { read: rows.length, last, stopped: undefined }
}

/** The longest prefix of `events` with no unresolved hole (holes at or below `finalUpTo` are resolved). */
const contiguous = (events: ReadonlyArray<RecordedEvent>, after: number, finalUpTo: number) => {
  let expected = after + 1
  for (let i = 0; i < events.length; i++) {
    const position = events[i]!.position
    if (position !== expected && position - 1 > finalUpTo) return i
    expected = position + 1
  }
  return events.length
}

const isUniqueViolation = (error: SqlError) => error.reason._tag === "UniqueViolation"

/** Builds the SQL journal on the `SqlClient` in context; the writer fiber lives in the scope. */
export const make = Effect.fnUntraced(function*(options: SqlJournalOptions = {}) {
  const sql = yield* SqlClient
  const table = options.table ?? "mailroom_events"
  const invalid = validateTable(table) ?? validateOptions(options)
  if (invalid) return yield* invalid
  const dialect = sql.onDialectOrElse({ orElse: () => "other" as const, sqlite: () => "sqlite" as const, pg: () => "pg" as const })
  if (dialect === "other") {
    return yield* new JournalError({ operation: "open", reason: "SqlJournal supports SQLite and PostgreSQL clients" })
  }
  const pg = dialect === "pg"
  const seq = `${table}_position_seq`
  const ph = pg ? (i: number) => `$${i}` : () => "?"
  const inserts = new Map<number, string>()
  const insertText = (size: number) => {
    let text = inserts.get(size)
    if (text === undefined) {
      text = `INSERT INTO ${table} (${COLUMNS}) VALUES ${Array.from({ length: size }, () => "(?, ?, ?, ?, ?, ?, ?)").join(", ")}`
      inserts.set(size, text)
    }
    return text
  }

  if (options.migrate !== false) {
    const indexBase = table.replace(".", "_")
    const statements = pg ?
      [
        `CREATE SEQUENCE IF NOT EXISTS ${seq}`,
        `CREATE TABLE IF NOT EXISTS ${table} (position BIGINT PRIMARY KEY, stream TEXT NOT NULL, version INTEGER NOT NULL, event_id TEXT NOT NULL, type TEXT NOT NULL, schema_version INTEGER NOT NULL, data TEXT NOT NULL, UNIQUE (stream, version))`,
        `CREATE UNIQUE INDEX IF NOT EXISTS ${indexBase}_event_id ON ${table} (event_id, stream)`
      ] :
      [
        `CREATE TABLE IF NOT EXISTS ${table} (position INTEGER PRIMARY KEY, stream TEXT NOT NULL, version INTEGER NOT NULL, event_id TEXT NOT NULL, type TEXT NOT NULL, schema_version INTEGER NOT NULL, data TEXT NOT NULL, UNIQUE (stream, version))`,
        `CREATE UNIQUE INDEX IF NOT EXISTS ${indexBase}_event_id ON ${table} (event_id, stream)`
      ]
    yield* Ddl.run(sql, statements).pipe(Effect.mapError(storageError("migrate")))
  }

  const signal = yield* makeCommitSignal

  // PostgreSQL takes whole arrays as parameters: one fixed statement per step, prepared once.
  // The version look-up also assigns the transaction id, which must exist before positions are
  // taken (see the module comment).
  const loadVersionsPg = Effect.fnUntraced(function*(streams: ReadonlyArray<string>) {
    const versions = new Map<string, number>()
    const rows = yield* sql.unsafe<{ stream: string; v: unknown; x: unknown }>(
      `SELECT s AS stream, (SELECT MAX(version) FROM ${table} WHERE stream = s) AS v, pg_current_xact_id()::text AS x FROM unnest($1::text[]) AS s`,
      [streams]
    )
    for (const row of rows) if (row.v !== null) versions.set(row.stream, Number(row.v))
    return versions
  })

  const loadVersions = Effect.fnUntraced(function*(streams: ReadonlyArray<string>) {
    if (pg) return yield* loadVersionsPg(streams)
    const versions = new Map<string, number>()
    // SQLite: the list travels as one JSON parameter, so the statement text never changes (it
    // stays prepared); one index probe per stream (`IN (...) GROUP BY` would scan instead).
    const rows = yield* sql.unsafe<{ stream: string; v: unknown }>(
      `SELECT value AS stream, (SELECT MAX(version) FROM ${table} WHERE stream = value) AS v FROM json_each(?)`,
      [JSON.stringify(streams)]
    )
    for (const row of rows) if (row.v !== null) versions.set(row.stream, Number(row.v))
    return versions
  })

  const loadIds = Effect.fnUntraced(function*(ids: ReadonlyArray<string>) {
    const found = new Map<string, Plan.Existing>()
    const rows = yield* sql.unsafe<{ stream: string; event_id: string; position: unknown; version: unknown }>(
      pg
        ? `SELECT stream, event_id, position, version FROM ${table} WHERE event_id = ANY($1::text[])`
        : `SELECT stream, event_id, position, version FROM ${table} WHERE event_id IN (SELECT value FROM json_each(?))`,
      [pg ? ids : JSON.stringify(ids)]
    )
    for (const row of rows) {
      found.set(Plan.idKey(row.stream, row.event_id), { position: Number(row.position), version: Number(row.version) })
    }
    return found
  })

  const takePositions = (count: number): Effect.Effect<ReadonlyArray<number>, SqlError> =>
    pg ?
      Effect.map(
        sql.unsafe<{ p: unknown }>(`SELECT nextval('${seq}') AS p FROM generate_series(1, $1::int)`, [count]),
        (rows) => rows.map((r) => Number(r.p)).sort((a, b) => a - b)
      ) :
      Effect.map(sql.unsafe<{ p: unknown }>(`SELECT COALESCE(MAX(position), 0) AS p FROM ${table}`), (rows) => {
        const base = Number(rows[0]!.p)
        return Array.from({ length: count }, (_, i) => base + i + 1)
      })

  const insertRowsPg = (rows: ReadonlyArray<Plan.PlannedRow>, positions: ReadonlyArray<number>) =>
    sql.unsafe(
      `INSERT INTO ${table} (${COLUMNS}) SELECT * FROM unnest($1::int8[], $2::text[], $3::int4[], $4::text[], $5::text[], $6::int4[], $7::text[])`,
      [
        positions,
        rows.map((r) => r.stream),
        rows.map((r) => r.version),
        rows.map((r) => r.event.id),
        rows.map((r) => r.event.type),
        rows.map((r) => r.event.schemaVersion),
        rows.map((r) => r.event.json)
      ]
    )

  const insertRows = Effect.fnUntraced(function*(rows: ReadonlyArray<Plan.PlannedRow>, positions: ReadonlyArray<number>) {
    if (pg) return yield* insertRowsPg(rows, positions)
    // Multi-row INSERTs in a few fixed sizes, so a handful of statements stay prepared.
    for (let start = 0; start < rows.length;) {
      const size = INSERT_SIZES.find((n) => n <= rows.length - start)!
      const end = start + size
      const params: Array<unknown> = []
      for (let i = start; i < end; i++) {
        const r = rows[i]!
        params.push(positions[i], r.stream, r.version, r.event.id, r.event.type, r.event.schemaVersion, r.event.json)
      }
      yield* sql.unsafe(insertText(size), params)
      start = end
    }
  })

  // SQLite only: stream versions this connection wrote, so a batch does not look them up again.
  // Valid while no other connection commits: `PRAGMA data_version` changes when one does, and
  // then the cache is dropped. (PostgreSQL deployments have many writers: no cache there.)
  const versionCache = new Map<string, number>()
  let dataVersion: unknown = undefined

  const currentVersions = Effect.fnUntraced(function*(streams: ReadonlyArray<string>) {
    if (pg) return yield* loadVersions(streams)
    const rows = yield* sql.unsafe<{ data_version: unknown }>(`PRAGMA data_version`)
    const now = rows[0]?.data_version
    if (now !== dataVersion || versionCache.size > 100_000) {
      versionCache.clear()
      dataVersion = now
    }
    const missing = streams.filter((stream) => !versionCache.has(stream))
    if (missing.length > 0) {
      const loaded = yield* loadVersions(missing)
      for (const stream of missing) versionCache.set(stream, loaded.get(stream) ?? 0)
    }
    return versionCache
  })

  // Appends whose plan failed (wrong expected version, id conflict) may really be retries of
  // stored events: only their ids are looked up before writing. The ids of the appends planned
  // as new are checked by the unique `(event_id, stream)` index when the rows go in; if one is
  // in fact stored, the insert fails, the transaction rolls back and the batch is planned again
  // with every id looked up (`lookupAll`), which answers exactly what a full look-up would have.
  // SQLite only: there the rolled-back attempt leaves no trace, while on PostgreSQL it would
  // burn sequence positions, i.e. leave holes that readers must wait out.
  const planBatch = Effect.fnUntraced(function*(batch: ReadonlyArray<Plan.PendingAppend>, lookupAll: boolean) {
    const versions = yield* currentVersions(Plan.streams(batch))
    const versionOf = (stream: string) => versions.get(stream) ?? 0
    if (lookupAll) {
      const existing = yield* loadIds(Plan.ids(batch))
      return Plan.plan(batch, versionOf, (stream, id) => existing.get(Plan.idKey(stream, id)))
    }
    const optimistic = Plan.plan(batch, versionOf, undefined)
    const suspects = Plan.failedIds(batch, optimistic)
    if (suspects.length === 0) return optimistic
    const existing = yield* loadIds(suspects)
    if (existing.size === 0) return optimistic
    return Plan.plan(batch, versionOf, (stream, id) => existing.get(Plan.idKey(stream, id)))
  })

  const writeOnce = (batch: ReadonlyArray<Plan.PendingAppend>, lookupAll: boolean) =>
    sql.withTransaction(Effect.gen(function*() {
      const planned = yield* planBatch(batch, lookupAll)
      let positions: ReadonlyArray<number> = []
      if (planned.rows.length > 0) {
        positions = yield* takePositions(planned.rows.length)
        yield* insertRows(planned.rows, positions)
      }
      return { planned, positions }
    }))

  // A unique violation means either an id planned as new was stored already (see above) or
  // another process committed a conflicting version or id between our look-up and insert
  // (PostgreSQL, READ COMMITTED): the batch is planned again, looking every id up, which sees
  // that write and answers the right error to the right append.
  const write = (batch: ReadonlyArray<Plan.PendingAppend>) => {
    let attempt = 0
    return Effect.suspend(() => writeOnce(batch, pg || attempt++ > 0)).pipe(
      Effect.tapError(() => Effect.sync(() => versionCache.clear())),
      Effect.retry({ times: 5, while: isUniqueViolation }),
      Effect.mapError(writeError("append")),
      Effect.flatMap(({ planned, positions }) => {
        if (!pg) for (const row of planned.rows) versionCache.set(row.stream, row.version)
        return Effect.as(planned.rows.length > 0 ? signal.signal : Effect.void, Plan.resolve(planned, positions))
      })
    )
  }

  const append = yield* GroupCommit.make({ maxBatch: options.maxBatch ?? 1024, write })

  const selectAllRows = (after: number, limit: number) =>
    sql.unsafe(`SELECT ${COLUMNS} FROM ${table} WHERE position > ${ph(1)} ORDER BY position LIMIT ${ph(2)}`, [
      after,
      limit
    ]).values.pipe(Effect.mapError(storageError("readAll")))
  // Positions are contiguous on SQLite (assigned as MAX + 1 by the one writer at a time, in
  // commit order); on PostgreSQL only each stream's versions are.
  const allOrder = (after: number): Order => (pg ? undefined : { by: "position", first: firstPosition(after) })
  const selectAll = (after: number, limit: number) =>
    Effect.flatMap(selectAllRows(after, limit), (rows) => decodeRows(rows, allOrder(after)))
  const selectStreamRows = (stream: string, fromVersion: number, limit: number) =>
    sql.unsafe(
      `SELECT ${COLUMNS} FROM ${table} WHERE stream = ${ph(1)} AND version >= ${ph(2)} ORDER BY version LIMIT ${ph(3)}`,
      [stream, fromVersion, Math.min(limit, Number.MAX_SAFE_INTEGER)]
    ).values.pipe(Effect.mapError(storageError("readStream")))

  // Lean scans (replay of folds that need no stream name or event id): fewer columns per row.
  // A damaged row is read again whole, so its `CorruptEvent` names stream and position exactly
  // as the full scan's would; so is the row after a gap in positions, for its stream.
  const readRow = (operation: string, position: unknown) =>
    sql.unsafe(`SELECT ${COLUMNS} FROM ${table} WHERE position = ${ph(1)}`, [position]).values.pipe(
      Effect.mapError(storageError(operation)),
      Effect.map((rows) => rows[0])
    )
  const damaged = (operation: string, position: unknown) =>
    Effect.flatMap(readRow(operation, position), (r): Effect.Effect<never, CorruptEvent | JournalError> => {
      const event = r === undefined ? undefined : decodeRow(r[1], r[0], r[2], r[3], r[4], r[5], r[6])
      return Effect.fail(
        event instanceof CorruptEvent ? event : new JournalError({
          operation,
          reason: `the row at position ${String(position)} changed while it was read`
        })
      )
    })
  const positionGap = (operation: string, gap: { readonly expected: number; readonly found: number }) =>
    Effect.flatMap(readRow(operation, gap.found), (r): Effect.Effect<never, JournalGap> =>
      Effect.fail(
        new JournalGap({ kind: "position", stream: String(r?.[1] ?? "?"), expected: gap.expected, found: gap.found, position: gap.found })
      ))
  const leanPage = <E>(
    operation: string,
    rows: ReadonlyArray<ReadonlyArray<unknown>>,
    order: Order,
    visit: (event: LeanEvent) => E | undefined
  ): Effect.Effect<Scanned<E, LeanEvent>, CorruptEvent | JournalGap | JournalError> => {
    const scanned = scanLeanRows(rows, order, visit)
    if ("damagedAt" in scanned) return damaged(operation, scanned.damagedAt)
    if ("gap" in scanned) return Effect.fail(scanned.gap)
    if ("positionGap" in scanned) return positionGap(operation, scanned.positionGap)
    return Effect.succeed(scanned)
  }
  const scanAllLean = <E>(after: number, limit: number, visit: (event: LeanEvent) => E | undefined) =>
    Effect.flatMap(
      sql.unsafe(`SELECT ${LEAN_COLUMNS} FROM ${table} WHERE position > ${ph(1)} ORDER BY position LIMIT ${ph(2)}`, [after, limit])
        .values.pipe(Effect.mapError(storageError("readAll"))),
      (rows) => leanPage("readAll", rows, allOrder(after), visit)
    )
  const scanStreamLean = <E>(stream: string, fromVersion: number, limit: number, visit: (event: LeanEvent) => E | undefined) =>
    Effect.flatMap(
      sql.unsafe(
        `SELECT ${LEAN_COLUMNS} FROM ${table} WHERE stream = ${ph(1)} AND version >= ${ph(2)} ORDER BY version LIMIT ${ph(3)}`,
        [stream, fromVersion, Math.min(limit, Number.MAX_SAFE_INTEGER)]
      ).values.pipe(Effect.mapError(storageError("readStream"))),
      (rows) => leanPage("readStream", rows, streamOrder(stream, fromVersion), visit)
    )

  const inProgress = (xids: ReadonlyArray<string>) =>
    Effect.map(
      sql.unsafe<{ busy: unknown }>(
        `SELECT count(*) AS busy FROM unnest(string_to_array($1, ',')::xid8[]) AS x WHERE pg_xact_status(x) = 'in progress'`,
        [xids.join(",")]
      ),
      (rows) => Number(rows[0]?.busy ?? 0) > 0
    )

  const waitForTransactions = Effect.fnUntraced(function*(after: number) {
    const rows = yield* sql.unsafe<{ x: unknown }>(`SELECT pg_snapshot_xip(pg_current_snapshot())::text AS x`)
    const xids = rows.map((r) => String(r.x))
    if (xids.length === 0) return
    const started = Date.now()
    let warned = started
    let delay = 1
    while (yield* inProgress(xids)) {
      yield* Effect.sleep(delay)
      delay = Math.min(50, delay * 2)
      if (Date.now() - warned > 5000) {
        warned = Date.now()
        yield* Effect.logWarning(
          `Journal ${table}: waiting ${Math.round((warned - started) / 1000)} s for transactions ${xids.join(", ")} ` +
            `to end before reading past the hole after position ${after}`
        )
      }
    }
  }, Effect.mapError(storageError("readAll")))

  const readAllPg = Effect.fnUntraced(function*(after: number, limit: number) {
    let finalUpTo = after
    while (true) {
      const events = yield* selectAll(after, limit)
      const n = contiguous(events, after, finalUpTo)
      if (n === events.length) return events
      if (n > 0) return events.slice(0, n)
      // A hole right after `after`: once the transactions in progress now have ended, every
      // position below the first visible event is final.
      yield* waitForTransactions(after)
      finalUpTo = Math.max(finalUpTo, events[0]!.position - 1)
    }
  })

  const readAll = (afterPosition = 0, limit = 10_000) =>
    pg ? readAllPg(afterPosition, limit) : selectAll(afterPosition, limit)

  return Journal.of({
    append: (stream, events, expected) => {
      const pending = prepareAppend(stream, events, expected)
      return "events" in pending ? append(pending) : Effect.fail(pending)
    },
    readStream: (stream, fromVersion = 1, limit = Number.MAX_SAFE_INTEGER) =>
      Effect.flatMap(selectStreamRows(stream, fromVersion, limit), (rows) => decodeRows(rows, streamOrder(stream, fromVersion))),
    readAll,
    // PostgreSQL's `readAll` waits out holes (see `readAllPg`); replay reads it page by page.
    ...(pg ? {} : {
      scanAll: <E>(after: number, limit: number, visit: (event: RecordedEvent) => E | undefined) =>
        Effect.flatMap(selectAllRows(after, limit), (rows) => scanRows(rows, allOrder(after), visit)),
      scanAllLean
    }),
    scanStreamLean,
    scanStream: <E>(stream: string, fromVersion: number, limit: number, visit: (event: RecordedEvent) => E | undefined) =>
      Effect.flatMap(selectStreamRows(stream, fromVersion, limit), (rows) => scanRows(rows, streamOrder(stream, fromVersion), visit)),
    streamVersion: (stream) =>
      sql.unsafe<{ v: unknown }>(`SELECT COALESCE(MAX(version), 0) AS v FROM ${table} WHERE stream = ${ph(1)}`, [stream])
        .pipe(
          Effect.map((rows) => Number(rows[0]?.v ?? 0)),
          Effect.mapError(storageError("streamVersion"))
        ),
    subscribe: makeSubscribe({
      readAll,
      committed: signal.wait,
      pageSize: options.pageSize ?? 1000,
      pollInterval: options.pollInterval ?? 100
    })
  })
})

/**
 * The SQL journal as a layer; needs a `SqlClient` (e.g. `SqliteClient.layer(...)` or
 * `PgClient.layer(...)`).
 *
 * @example
 * ```ts
 * const Live = SqlJournal.layer().pipe(Layer.provide(SqliteClient.layer({ filename: "journal.db" })))
 * ```
 */
export const layer = (options: SqlJournalOptions = {}): Layer.Layer<Journal, JournalError, SqlClient> =>
  Layer.effect(Journal, make(options))
