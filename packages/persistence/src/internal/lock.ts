/**
 * The writer lock of a SQLite database file: a companion SQLite database `<file>-lock` in
 * rollback-journal mode whose holder keeps a `BEGIN IMMEDIATE` transaction open, i.e. SQLite's
 * RESERVED lock, an `fcntl` byte-range lock on the companion file. The OS drops it when the
 * holding process dies (SIGKILL included), so it never goes stale; SQLite also tracks locks of
 * one file across the connections of one process, so a second client in the same process is
 * refused too. The database file itself is not locked: read-only readers go on reading.
 *
 * RESERVED still lets other connections read the companion, so the holder publishes its pid in
 * it (a committed row), and a refused opener names the holder. Publishing means committing,
 * which releases the lock for a moment; the holder then takes it again, and if another opener
 * got it in between, that one holds it and this one is refused (never both).
 */
import { DatabaseSync } from "node:sqlite"

/** What `acquire` answers: the held companion database, or the pid of the holder (when known). */
export type Acquired = { readonly held: DatabaseSync } | { readonly refused: true; readonly pid: number | undefined }

const SQLITE_BUSY = 5
const SQLITE_LOCKED = 6

/** SQLite answered "another connection holds the lock" (BUSY or LOCKED). */
export const isBusy = (cause: unknown): boolean => {
  const code = typeof cause === "object" && cause !== null ? (cause as { errcode?: unknown }).errcode : undefined
  return typeof code === "number" && ((code & 0xff) === SQLITE_BUSY || (code & 0xff) === SQLITE_LOCKED)
}

/** The companion lock file of a database file. */
export const lockFileOf = (file: string): string => `${file}-lock`

/** Readers wait this long for the holder's brief commit of its pid (never for the lock itself). */
const READ_WAIT_MS = 250

const holderPid = (db: DatabaseSync): number | undefined => {
  try {
    db.exec(`PRAGMA busy_timeout = ${READ_WAIT_MS}`)
    const row = db.prepare("SELECT pid FROM holder WHERE id = 1").get() as { pid?: unknown } | undefined
    return typeof row?.pid === "number" && Number.isSafeInteger(row.pid) ? row.pid : undefined
  } catch {
    // No holder row yet (the holder is still publishing it), or the companion is being written.
    return undefined
  }
}

const refuse = (db: DatabaseSync, pid: number | undefined): Acquired => {
  db.close()
  return { refused: true, pid }
}

/**
 * Takes the lock of `file` without waiting: the held companion database (close it to release),
 * or a refusal naming the holder's pid. Throws what SQLite throws for anything but "busy"
 * (e.g. the folder is not writable).
 */
export const acquire = (file: string): Acquired => {
  const db = new DatabaseSync(lockFileOf(file), { timeout: 0 })
  try {
    try {
      db.exec("BEGIN IMMEDIATE")
    } catch (cause) {
      if (isBusy(cause)) return refuse(db, holderPid(db))
      throw cause
    }
    db.exec("CREATE TABLE IF NOT EXISTS holder (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, since TEXT NOT NULL)")
    db.prepare("INSERT OR REPLACE INTO holder (id, pid, since) VALUES (1, ?, ?)").run(process.pid, new Date().toISOString())
    // COMMIT needs readers of the companion (refused openers reading the pid) out of the way
    // for a moment; if they stay, the pid is not published but the lock is still ours.
    db.exec(`PRAGMA busy_timeout = ${READ_WAIT_MS}`)
    try {
      db.exec("COMMIT")
    } catch (cause) {
      if (!isBusy(cause) || !db.isTransaction) throw cause
    }
    db.exec("PRAGMA busy_timeout = 0")
    if (!db.isTransaction) {
      try {
        db.exec("BEGIN IMMEDIATE")
      } catch (cause) {
        if (!isBusy(cause)) throw cause
        // Another opener took the lock while the pid was being published: it holds it now.
        const pid = holderPid(db)
        return refuse(db, pid === process.pid ? undefined : pid)
      }
    }
    return { held: db }
  } catch (cause) {
    if (db.isOpen) db.close()
    throw cause
  }
}
