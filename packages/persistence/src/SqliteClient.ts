/**
 * A `SqlClient` (from `effect/sql`) over Node's built-in `node:sqlite`.
 *
 * The journal, the checkpoint store and projections write SQL once against `SqlClient`; this
 * module lets that SQL run on the embedded SQLite default (WAL mode, one file), while
 * `@effect/sql-pg` runs the same SQL on PostgreSQL. `@effect/sql-sqlite-node` does not load
 * with effect 4.1.0, hence this small driver.
 *
 * One `DatabaseSync` connection is shared through a semaphore (SQLite allows one writer at a
 * time anyway); transactions start with `BEGIN IMMEDIATE` so a transaction never has to upgrade
 * its read lock to a write lock (which can fail with SQLITE_BUSY between processes).
 * Prepared statements are cached by SQL text.
 *
 * A client that opens a file read-write holds the file's writer lock for the life of its scope
 * (`lock: "exclusive"`, the default): a second read-write client, in this process or another,
 * fails at once with `DatabaseLocked` naming the file and the holder's pid. The lock lives in a
 * companion file `<file>-lock` and is an OS lock taken by SQLite, released when the process
 * exits or dies; read-only clients take no lock and keep reading.
 *
 * A new database file is created whole (initialized under a temporary name, then linked into
 * place), so a database this client created is never a zero-length file. An existing
 * zero-length file is therefore a database that was truncated or replaced: opening it fails
 * with `EmptyDatabaseFile` instead of starting an empty database where a journal was.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SqlClient } from "effect/sql/SqlClient"
 * import { SqliteClient } from "@mailroom/persistence"
 *
 * const program = Effect.gen(function*() {
 *   const sql = yield* SqlClient
 *   yield* sql`CREATE TABLE t (x INTEGER)`
 *   yield* sql`INSERT INTO t VALUES (${1})`
 *   return yield* sql<{ x: number }>`SELECT x FROM t`
 * }).pipe(Effect.provide(SqliteClient.layer({ filename: ":memory:" })))
 * ```
 */
import { Context, Effect, Layer, Schema, Semaphore, Stream } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as Client from "effect/sql/SqlClient"
import type { Connection } from "effect/sql/SqlConnection"
import { classifySqliteError, SqlError } from "effect/sql/SqlError"
import * as Statement from "effect/sql/Statement"
import { closeSync, fsyncSync, linkSync, openSync, readdirSync, renameSync, rmSync, statSync } from "node:fs"
import { basename, dirname, join } from "node:path"
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite"
import * as Lock from "./internal/lock.js"

/** How much an fsync-level durability the database gives a committed transaction. */
export type Durability = "full" | "normal" | "off"

/** Configuration of a SQLite client. */
export interface SqliteClientConfig {
  /** Database file, or `":memory:"`. */
  readonly filename: string
  /**
   * `"full"` (default): `synchronous=FULL`, a commit is on disk when acknowledged, even across
   * power loss. `"normal"`: WAL with `synchronous=NORMAL`, survives process crashes but may lose
   * the last transactions on power loss. `"off"`: no fsync (tests, benchmarks of CPU cost).
   */
  readonly durability?: Durability | undefined
  /** Milliseconds to wait for a lock held by another process (default 5000). */
  readonly busyTimeout?: number | undefined
  /** Prepared statements kept per connection (default 256). */
  readonly statementCacheSize?: number | undefined
  /** Page cache size in KiB (default 65536). */
  readonly cacheSizeKiB?: number | undefined
  /**
   * WAL pages after which a commit checkpoints the WAL into the database file (default 16384,
   * 64 MiB with 4 KiB pages; SQLite's own default is 1000). A group commit of 1,000 events from
   * 1,000 streams dirties about two pages per event in the journal's indexes, so with SQLite's
   * default nearly every commit would also checkpoint (and fsync the database file). Durability
   * does not depend on it: a commit is durable once its WAL frames are synced.
   */
  readonly walAutocheckpoint?: number | undefined
  /**
   * Milliseconds between two looks of the checkpointer at a file database's WAL (default 1000;
   * 0 turns it off). When the connection wrote since the last look it runs a PASSIVE checkpoint
   * (copies what it can into the database file, never waits), so the WAL restarts from its
   * beginning at the next commit instead of growing up to `walAutocheckpoint`; when it wrote
   * nothing (idle) and the WAL is not empty it runs a TRUNCATE checkpoint, which leaves a
   * zero-byte WAL, without waiting for readers (busy: tried again at the next look).
   * Checkpoints that fail (a full disk) are tried again at every look.
   */
  readonly checkpointInterval?: number | undefined
  /**
   * Bytes the WAL file is cut down to when it restarts after a checkpoint (SQLite's
   * `journal_size_limit`), so a burst does not leave a larger WAL on disk. Default: the
   * `walAutocheckpoint` size (16,384 pages × 4 KiB = 64 MiB), which a WAL under steady load
   * reaches anyway, so cutting it costs no throughput; a small disk lowers both.
   */
  readonly walSizeLimit?: number | undefined
  /** Open read-only (takes no lock: reads beside a running writer). */
  readonly readOnly?: boolean | undefined
  /**
   * `"exclusive"` (default): a read-write client of a file holds the file's writer lock (the
   * companion file `<file>-lock`) for the life of its scope; another read-write client of the
   * same file, in any process, fails with `DatabaseLocked`. `"none"`: no lock, several
   * read-write clients may share the file (SQLite serializes their transactions). Read-only and
   * in-memory databases never lock.
   */
  readonly lock?: "exclusive" | "none" | undefined
}

/** The configuration a `SqliteClient.layer` was given is invalid. */
export class SqliteConfigError extends Schema.TaggedError<SqliteConfigError>()("SqliteConfigError", {
  field: Schema.String,
  value: Schema.Unknown,
  message: Schema.String
}) {}

/**
 * Another read-write client holds the database file's writer lock: the file is in use (e.g. the
 * same app started twice on one data folder).
 */
export class DatabaseLocked extends Schema.TaggedError<DatabaseLocked>()("DatabaseLocked", {
  /** The database file. */
  file: Schema.String,
  /** The companion file whose lock is held. */
  lockFile: Schema.String,
  /** The process holding the lock, when it could be read. */
  pid: Schema.optional(Schema.Number)
}) {
  override get message() {
    const holder = this.pid === undefined
      ? "another process"
      : this.pid === process.pid
      ? `another client in this process (pid ${this.pid})`
      : `another process (pid ${this.pid})`
    return `${this.file} is in use by ${holder}, which holds its writer lock ${this.lockFile}: ` +
      "stop that process first, or open the file read-only to look into it"
  }
}

/**
 * The database file exists but is empty (0 bytes). SQLite would open it as a new, empty
 * database; this client never leaves its own databases empty, so the file was truncated or
 * replaced, and the data it held (a journal) is not in it.
 */
export class EmptyDatabaseFile extends Schema.TaggedError<EmptyDatabaseFile>()("EmptyDatabaseFile", {
  file: Schema.String
}) {
  override get message() {
    return `${this.file} exists but is empty (0 bytes): the database it held was truncated or replaced, ` +
      "so it is not opened as a new, empty one. Restore it from a backup; or, to start afresh on purpose, " +
      `delete ${this.file} (and ${this.file}-wal, ${this.file}-shm if present)`
  }
}

/** A SQLite `SqlClient`, with access to its underlying `DatabaseSync` for tools and benchmarks. */
export interface SqliteClient extends Client.SqlClient {
  readonly config: SqliteClientConfig
  /** Runs `f` with exclusive use of the connection (no statement of this client interleaves). */
  readonly withDatabase: <A>(f: (db: DatabaseSync) => A) => Effect.Effect<A, SqlError>
}

/** The SQLite client service. */
export const SqliteClient = Context.Service<SqliteClient>("@mailroom/persistence/SqliteClient")

const toParam = (value: unknown): SQLInputValue => {
  switch (typeof value) {
    case "boolean":
      return value ? 1 : 0
    case "undefined":
      return null
    case "object":
      if (value instanceof Date) return value.toISOString()
      return value as SQLInputValue
    default:
      return value as SQLInputValue
  }
}

const toParams = (params: ReadonlyArray<unknown>): Array<SQLInputValue> => {
  const out: Array<SQLInputValue> = []
  for (let i = 0; i < params.length; i++) out.push(toParam(params[i]))
  return out
}

interface Prepared {
  readonly statement: StatementSync
  readonly returnsRows: boolean
}

const sqlError = (cause: unknown, operation: string, file?: string) => {
  // node:sqlite puts SQLite's extended result code in `errcode` (its `code` is always
  // "ERR_SQLITE_ERROR"); `classifySqliteError` reads `errno`, e.g. 2067 = UNIQUE violation.
  if (cause instanceof Error && typeof (cause as { errcode?: unknown }).errcode === "number" && !("errno" in cause)) {
    Object.assign(cause, { errno: (cause as { errcode?: unknown }).errcode })
  }
  return new SqlError({
    reason: classifySqliteError(cause, {
      message: `${file === undefined ? "" : `${file}: `}${cause instanceof Error ? cause.message : "SQLite statement failed"}`,
      operation
    })
  })
}

class SqliteConnection implements Connection {
  readonly db: DatabaseSync
  readonly cache = new Map<string, Prepared>()
  readonly cacheSize: number

  constructor(db: DatabaseSync, cacheSize: number) {
    this.db = db
    this.cacheSize = cacheSize
  }

  prepare(sql: string): Prepared {
    let prepared = this.cache.get(sql)
    if (prepared === undefined) {
      const statement = this.db.prepare(sql)
      prepared = { statement, returnsRows: statement.columns().length > 0 }
      if (this.cache.size >= this.cacheSize) {
        // Evict the oldest entry (Map keeps insertion order).
        const oldest = this.cache.keys().next()
        if (!oldest.done) this.cache.delete(oldest.value)
      }
      this.cache.set(sql, prepared)
    }
    return prepared
  }

  runSync(sql: string, params: ReadonlyArray<unknown>, arrays: boolean): ReadonlyArray<any> {
    const { returnsRows, statement } = this.prepare(sql)
    if (!returnsRows) {
      statement.run(...toParams(params))
      return []
    }
    if (!arrays) return statement.all(...toParams(params))
    statement.setReturnArrays(true)
    try {
      return statement.all(...toParams(params)) as unknown as ReadonlyArray<any>
    } finally {
      statement.setReturnArrays(false)
    }
  }

  run(sql: string, params: ReadonlyArray<unknown>, arrays: boolean, operation: string) {
    return Effect.try({
      try: () => this.runSync(sql, params, arrays),
      catch: (cause) => sqlError(cause, operation)
    })
  }

  execute(
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  ) {
    const rows = this.run(sql, params, false, "execute")
    return transformRows ? Effect.map(rows, transformRows) : rows
  }

  executeRaw(sql: string, params: ReadonlyArray<unknown>) {
    return Effect.try({
      try: () => {
        const { returnsRows, statement } = this.prepare(sql)
        return returnsRows ? statement.all(...toParams(params)) : statement.run(...toParams(params))
      },
      catch: (cause) => sqlError(cause, "executeRaw")
    })
  }

  executeStream(
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  ) {
    return Stream.unwrap(Effect.map(this.execute(sql, params, transformRows), Stream.fromIterable))
  }

  executeValues(sql: string, params: ReadonlyArray<unknown>) {
    return this.run(sql, params, true, "executeValues") as Effect.Effect<
      ReadonlyArray<ReadonlyArray<unknown>>,
      SqlError
    >
  }

  executeValuesUnprepared(sql: string, params: ReadonlyArray<unknown>) {
    return this.executeValues(sql, params)
  }

  executeUnprepared(
    sql: string,
    params: ReadonlyArray<unknown>,
    transformRows: (<A extends object>(row: ReadonlyArray<A>) => ReadonlyArray<A>) | undefined
  ) {
    return this.execute(sql, params, transformRows)
  }
}

const validate = (config: SqliteClientConfig): SqliteConfigError | undefined => {
  if (typeof config.filename !== "string" || config.filename.length === 0) {
    return new SqliteConfigError({
      field: "filename",
      value: config.filename,
      message: "filename must be a non-empty path or \":memory:\""
    })
  }
  if (config.durability !== undefined && !["full", "normal", "off"].includes(config.durability)) {
    return new SqliteConfigError({
      field: "durability",
      value: config.durability,
      message: "durability must be \"full\", \"normal\" or \"off\""
    })
  }
  if (config.lock !== undefined && config.lock !== "exclusive" && config.lock !== "none") {
    return new SqliteConfigError({ field: "lock", value: config.lock, message: "lock must be \"exclusive\" or \"none\"" })
  }
  const fields = ["busyTimeout", "statementCacheSize", "cacheSizeKiB", "walAutocheckpoint", "checkpointInterval", "walSizeLimit"] as const
  for (const field of fields) {
    const value = config[field]
    if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
      return new SqliteConfigError({ field, value, message: `${field} must be a non-negative integer` })
    }
  }
  return undefined
}

const isMemory = (filename: string) => filename === ":memory:"

/** Takes the writer lock of `file` for the scope, or fails with `DatabaseLocked` at once. */
const holdLock = (file: string) =>
  Effect.acquireRelease(
    Effect.suspend((): Effect.Effect<DatabaseSync, SqlError | DatabaseLocked> => {
      let acquired: Lock.Acquired
      try {
        acquired = Lock.acquire(file)
      } catch (cause) {
        return Effect.fail(sqlError(cause, "lock", Lock.lockFileOf(file)))
      }
      if ("held" in acquired) return Effect.succeed(acquired.held)
      return Effect.fail(
        new DatabaseLocked({ file, lockFile: Lock.lockFileOf(file), ...(acquired.pid === undefined ? {} : { pid: acquired.pid }) })
      )
    }),
    (held) => Effect.sync(() => held.isOpen && held.close())
  )

/** The size of `file`, or `undefined` when it does not exist. */
const sizeOf = (file: string): number | undefined => {
  try {
    return statSync(file).size
  } catch (cause) {
    if ((cause as { code?: unknown }).code === "ENOENT") return undefined
    throw cause
  }
}

const TEMP_INFIX = ".new-"

/** True while process `pid` runs (or cannot be told apart from running). */
const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (cause) {
    return (cause as { code?: unknown }).code !== "ESRCH"
  }
}

/**
 * Creates a database file whole: a temporary file next to it gets SQLite's header (WAL mode),
 * then is linked to `file` (never replacing one that appeared meanwhile) and removed. A crash
 * leaves at most the temporary file, removed by the next creation; never a zero-length `file`.
 */
const createDatabase = (file: string) => {
  const dir = dirname(file)
  const prefix = `${basename(file)}${TEMP_INFIX}`
  for (const name of readdirSync(dir)) {
    const pid = name.startsWith(prefix) ? Number.parseInt(name.slice(prefix.length), 10) : Number.NaN
    if (Number.isSafeInteger(pid) && !alive(pid)) rmSync(join(dir, name), { force: true })
  }
  const temp = `${file}${TEMP_INFIX}${process.pid}-${Date.now().toString(36)}`
  try {
    const db = new DatabaseSync(temp)
    try {
      db.exec("PRAGMA journal_mode = WAL")
    } finally {
      db.close()
    }
    try {
      linkSync(temp, file)
    } catch (cause) {
      const code = (cause as { code?: unknown }).code
      // EEXIST: another client created it first (lock: "none"); it is whole as well.
      if (code !== "EEXIST") {
        // File systems without hard links: a rename, which only a racing creator could clobber.
        if (sizeOf(file) !== undefined) throw cause
        renameSync(temp, file)
      }
    }
    try {
      const fd = openSync(dir, "r")
      try {
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
    } catch {
      // Directories cannot be synced on every platform; the file itself is complete either way.
    }
  } finally {
    for (const suffix of ["", "-wal", "-shm"]) rmSync(temp + suffix, { force: true })
  }
}

/** Refuses an existing zero-length file; creates a missing one whole (read-write only). */
const prepareFile = (file: string, writable: boolean) =>
  Effect.suspend((): Effect.Effect<void, EmptyDatabaseFile | SqlError> => {
    try {
      const size = sizeOf(file)
      if (size === 0) return Effect.fail(new EmptyDatabaseFile({ file }))
      if (size === undefined && writable) createDatabase(file)
      return Effect.void
    } catch (cause) {
      return Effect.fail(sqlError(cause, "open", file))
    }
  })

/**
 * Opens the database and builds a `SqliteClient`; the database closes with the scope, and the
 * writer lock (see `SqliteClientConfig.lock`) is released after it.
 */
export const make = Effect.fnUntraced(function*(config: SqliteClientConfig) {
  const invalid = validate(config)
  if (invalid) return yield* invalid
  const file = isMemory(config.filename) ? undefined : config.filename
  const writable = config.readOnly !== true
  if (file !== undefined && writable && (config.lock ?? "exclusive") === "exclusive") yield* holdLock(file)
  if (file !== undefined) yield* prepareFile(file, writable)
  const db = yield* Effect.acquireRelease(
    Effect.try({
      try: () => {
        const db = new DatabaseSync(config.filename, {
          readOnly: config.readOnly ?? false,
          timeout: config.busyTimeout ?? 5000
        })
        if (config.readOnly !== true) {
          db.exec("PRAGMA journal_mode = WAL")
          const sync = config.durability === "normal" ? "NORMAL" : config.durability === "off" ? "OFF" : "FULL"
          db.exec(`PRAGMA synchronous = ${sync}`)
          // A larger page cache keeps the hot index pages of a growing journal in memory.
          db.exec(`PRAGMA cache_size = -${config.cacheSizeKiB ?? 65536}`)
          const autocheckpoint = config.walAutocheckpoint ?? 16384
          db.exec(`PRAGMA wal_autocheckpoint = ${autocheckpoint}`)
          const { page_size } = db.prepare("PRAGMA page_size").get() as { page_size: number }
          db.exec(`PRAGMA journal_size_limit = ${config.walSizeLimit ?? Math.max(autocheckpoint, 1) * page_size}`)
        }
        return db
      },
      catch: (cause) => sqlError(cause, "open", config.filename)
    }),
    (db) => Effect.sync(() => db.isOpen && db.close())
  )
  const connection = new SqliteConnection(db, config.statementCacheSize ?? 256)
  const semaphore = Semaphore.makeUnsafe(1)
  const acquirers = Client.makeSqliteAcquirers({
    connection: Effect.succeed(connection),
    semaphore,
    isTransaction: (conn) => conn.db.isTransaction
  })
  const client = yield* Client.make({
    acquirer: acquirers.acquirer,
    borrower: acquirers.borrower,
    transactionAcquirer: acquirers.transactionAcquirer,
    onCommitFailure: acquirers.onCommitFailure,
    isTransaction: acquirers.isTransaction,
    compiler: Statement.makeCompilerSqlite(),
    driver: "sqlite-node",
    beginTransaction: "BEGIN IMMEDIATE",
    prepareTransactionControls: true,
    spanAttributes: [["db.system.name", "sqlite"], ["db.namespace", config.filename]]
  })
  const withDatabase = <A>(f: (db: DatabaseSync) => A) =>
    acquirers.borrower((conn) =>
      Effect.try({ try: () => f((conn as SqliteConnection).db), catch: (cause) => sqlError(cause, "withDatabase") })
    )
  const interval = config.checkpointInterval ?? 1000
  if (file !== undefined && writable && interval > 0) {
    yield* Effect.forkScoped(checkpointer(file, interval, config.busyTimeout ?? 5000, withDatabase))
  }
  return Object.assign(client, { config, withDatabase }) as SqliteClient
})

const walBytes = (file: string): number => {
  try {
    return statSync(`${file}-wal`).size
  } catch {
    return 0
  }
}

/**
 * The checkpointer of a file database (see `SqliteClientConfig.checkpointInterval`): every
 * `interval` ms, a PASSIVE checkpoint when this connection wrote since the last look, a
 * TRUNCATE one when it was idle and the WAL is not empty. It runs between transactions (it
 * borrows the connection), on the connection's own thread, like SQLite's auto-checkpoint.
 */
const checkpointer = (
  file: string,
  interval: number,
  busyTimeout: number,
  withDatabase: SqliteClient["withDatabase"]
) => {
  let lastChanges = -1
  let failing: string | undefined
  const look = withDatabase((db) => {
    const wal = walBytes(file)
    const { changes } = db.prepare("SELECT total_changes() AS changes").get() as { changes: number }
    const idle = changes === lastChanges
    lastChanges = changes
    if (wal === 0) return
    if (!idle) {
      db.prepare("PRAGMA wal_checkpoint(PASSIVE)").get()
      return
    }
    // TRUNCATE waits for readers through the busy handler: not here (the connection is shared).
    db.exec("PRAGMA busy_timeout = 0")
    try {
      db.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get()
    } finally {
      db.exec(`PRAGMA busy_timeout = ${busyTimeout}`)
    }
  }).pipe(
    Effect.tap(() =>
      Effect.suspend(() => {
        if (failing === undefined) return Effect.void
        failing = undefined
        return Effect.logInfo(`SQLite ${file}: WAL checkpoints work again`)
      })
    ),
    Effect.catch((error) =>
      Effect.suspend(() => {
        // Said once per kind of failure, not at every look.
        if (failing === error.message) return Effect.void
        failing = error.message
        return Effect.logWarning(`SQLite ${file}: WAL checkpoint failed (${error.message}); trying again every ${interval} ms`)
      })
    )
  )
  return Effect.forever(Effect.andThen(Effect.sleep(interval), look))
}

/**
 * A layer providing both `SqliteClient` and the generic `SqlClient`.
 *
 * @example
 * ```ts
 * const Live = SqliteClient.layer({ filename: "mailroom.db", durability: "full" })
 * ```
 */
export const layer = (
  config: SqliteClientConfig
): Layer.Layer<SqliteClient | Client.SqlClient, SqlError | SqliteConfigError | DatabaseLocked | EmptyDatabaseFile> =>
  Layer.effectContext(
    Effect.map(make(config), (client) => Context.make(SqliteClient, client).pipe(Context.add(Client.SqlClient, client)))
  ).pipe(Layer.provide(Reactivity.layer))
