/**
 * Looking into a journal file (the shop's `shop.db`, the bank's `bank.db`): list its streams,
 * show one stream's events page by page, take stock of what it holds. The SQLite file is opened
 * read-only, so it is safe beside a running app.
 *
 * Before opening, the file is checked so that each way of passing the wrong one gets its own
 * sentence: missing, a folder, unreadable, not SQLite, SQLite without a journal table. Reading
 * goes through `Journal` where it has an operation (one stream's events); counts per stream and
 * the head position are asked of the journal's table (`mailroom_events`, laid out as `SqlJournal`
 * documents it) in SQL, which answers them from its indexes instead of decoding every event.
 */
import { Context, Effect, Layer } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import { SqlClient } from "effect/sql/SqlClient"
import { Journal, SqliteClient, SqlJournal } from "@mailroom/persistence"
import { closeSync, openSync, readSync, statSync } from "node:fs"
import { join } from "node:path"
import { count, counted, field, json, shellArg } from "./Display.js"
import { CommandFailed, fail } from "./Failure.js"
import * as Output from "./Output.js"

/** The journal's table (SqlJournal's default). */
export const table = "mailroom_events"

/** The journal file being read (for messages and suggested commands). */
export class JournalFile extends Context.Service<JournalFile, {
  readonly file: string
  /** `--db <file>` to repeat in a suggested command, or "" when the default file was used. */
  readonly dbArg: string
}>()("@mailroom/cli/JournalFile") {}

const sqliteHeader = "SQLite format 3\u0000"
const elsewhere = "pass --db with the shop's or the bank's journal, e.g. .mailroom-data/shop.db"

const code = (e: unknown) => (e as { code?: unknown })?.code

/** What is wrong with `file` as a journal, found without opening it; undefined when it may be one. */
export const check = (file: string, missingHint: string): CommandFailed | undefined => {
  let size: number
  try {
    const stat = statSync(file)
    if (stat.isDirectory()) return fail(`${file} is a folder, not a journal file (pass the file in it, e.g. --db ${join(file, "shop.db")})`)
    if (!stat.isFile()) return fail(`${file} is not a regular file, so not a journal (${elsewhere})`)
    size = stat.size
  } catch (e) {
    if (code(e) === "ENOENT" || code(e) === "ENOTDIR") return fail(`no journal at ${file} (${missingHint})`)
    if (code(e) === "EACCES" || code(e) === "EPERM") return fail(`cannot read ${file}: permission denied (check its permissions, or pass another --db)`)
    return fail(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`)
  }
  if (size === 0) return fail(`${file} is empty (0 bytes), so it holds no journal (${elsewhere})`)
  const header = Buffer.alloc(sqliteHeader.length)
  try {
    const fd = openSync(file, "r")
    try {
      readSync(fd, header, 0, header.length, 0)
    } finally {
      closeSync(fd)
    }
  } catch (e) {
    if (code(e) === "EACCES" || code(e) === "EPERM") return fail(`cannot read ${file}: permission denied (check its permissions, or pass another --db)`)
    return fail(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`)
  }
  if (header.toString("latin1") !== sqliteHeader) return fail(`${file} is not a SQLite database, so not a Mailroom journal (${elsewhere})`)
  return undefined
}

const openFailure = (file: string) => (e: unknown): CommandFailed => {
  if (e instanceof CommandFailed) return e
  const tag = (e as { _tag?: unknown })?._tag
  // These name the file and say what to do already.
  if (tag === "DatabaseLocked" || tag === "EmptyDatabaseFile") return fail((e as Error).message)
  return fail(`cannot open the journal ${file}: ${e instanceof Error ? e.message : String(e)}`)
}

/**
 * The journal in `file`, opened read-only, with the SQL client under it; a one-line failure when
 * the file is missing (`missingHint` says how to make it), not a journal, or cannot be opened.
 */
export const layer = (file: string, options: { readonly missingHint: string; readonly dbArg: string }) =>
  Layer.effectContext(
    Effect.gen(function*() {
      const bad = check(file, options.missingHint)
      if (bad !== undefined) return yield* bad
      const sql = yield* SqliteClient.make({ filename: file, readOnly: true })
      const tables = yield* sql.unsafe<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?`, [table])
      if (tables.length === 0) return yield* fail(`${file} holds no Mailroom journal (no table ${table}): ${elsewhere}`)
      const journal = yield* SqlJournal.make({ migrate: false }).pipe(Effect.provideService(SqlClient, sql))
      return Context.make(Journal.Journal, journal).pipe(
        Context.add(SqlClient, sql),
        Context.add(JournalFile, { file, dbArg: options.dbArg })
      )
    }).pipe(
      Effect.provide(Reactivity.layer),
      Effect.mapError(openFailure(file)),
      Effect.catchDefect((defect) => Effect.fail(openFailure(file)(defect)))
    )
  )

const readFailed = (e: { readonly message: string }) => fail(`reading the journal failed: ${e.message}`)

/** The position of the last event (0 when the journal is empty). On SQLite positions have no gaps: it is also the number of events. */
export const head = Effect.gen(function*() {
  const sql = yield* SqlClient
  const rows = yield* sql.unsafe<{ p: unknown }>(`SELECT COALESCE(MAX(position), 0) AS p FROM ${table}`)
  return Number(rows[0]?.p ?? 0)
}).pipe(Effect.mapError(readFailed))

/** Whether some stream's name starts with `prefix` (an index range scan, not a full one). */
export const hasStreamWithPrefix = (prefix: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    // [prefix, prefix with its last character incremented): every name that starts with prefix.
    const upper = prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)
    const rows = yield* sql.unsafe(`SELECT 1 FROM ${table} WHERE stream >= ? AND stream < ? LIMIT 1`, [prefix, upper])
    return rows.length > 0
  }).pipe(Effect.mapError(readFailed))

/** One stream as `streams` lists it. */
export interface StreamSummary {
  readonly name: string
  readonly events: number
  readonly lastType: string
  readonly lastPosition: number
}

/** The streams (most recently written first, at most `limit`), and the journal's totals. */
export const streams = (limit: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    // Both counts read the (stream, version) index in order: no temporary B-tree for DISTINCT.
    const [totals] = yield* sql.unsafe<{ events: unknown; streams: unknown }>(
      `SELECT SUM(n) AS events, COUNT(*) AS streams FROM (SELECT COUNT(*) AS n FROM ${table} GROUP BY stream)`
    )
    const rows = yield* sql.unsafe<{ stream: string; events: unknown; last: unknown }>(
      `SELECT stream, COUNT(*) AS events, MAX(position) AS last FROM ${table} GROUP BY stream ORDER BY last DESC LIMIT ?`,
      [limit]
    )
    const types = new Map<number, string>()
    if (rows.length > 0) {
      const found = yield* sql.unsafe<{ position: unknown; type: string }>(
        `SELECT position, type FROM ${table} WHERE position IN (SELECT value FROM json_each(?))`,
        [JSON.stringify(rows.map((r) => Number(r.last)))]
      )
      for (const r of found) types.set(Number(r.position), r.type)
    }
    return {
      events: Number(totals?.events ?? 0),
      count: Number(totals?.streams ?? 0),
      rows: rows.map((r): StreamSummary => ({
        name: r.stream,
        events: Number(r.events),
        lastPosition: Number(r.last),
        lastType: types.get(Number(r.last)) ?? "?"
      }))
    }
  }).pipe(Effect.mapError(readFailed))

/** Prints the streams (see `streams`). */
export const printStreams = (limit: number) =>
  Effect.gen(function*() {
    const { file } = yield* JournalFile
    const r = yield* streams(limit)
    const shown = r.count > r.rows.length ? ` (the ${count(r.rows.length)} written last shown; --limit shows more)` : ""
    yield* Output.line(`${file}: ${counted(r.count, "stream")}, ${counted(r.events, "event")}${shown}`)
    for (const s of r.rows) {
      yield* Output.line(`  ${field(s.name).padEnd(40)} ${count(s.events).padStart(8)} ${s.events === 1 ? "event " : "events"}  last ${field(s.lastType)} @${s.lastPosition}`)
    }
  })

/** What a journal holds, in short: for a message saying it is not the journal a command expected. */
export const inventory = Effect.gen(function*() {
  const sql = yield* SqlClient
  const [totals] = yield* sql.unsafe<{ streams: unknown }>(`SELECT COUNT(*) AS streams FROM (SELECT 1 FROM ${table} GROUP BY stream)`)
  const streams = yield* sql.unsafe<{ stream: string }>(`SELECT stream FROM ${table} GROUP BY stream ORDER BY MIN(position) LIMIT 4`)
  const types = yield* sql.unsafe<{ type: string }>(`SELECT type FROM ${table} GROUP BY type ORDER BY MIN(position) LIMIT 9`)
  const streamCount = Number(totals?.streams ?? 0)
  const names = streams.map((s) => field(s.stream))
  const typeNames = types.map((t) => field(t.type))
  return {
    streams: streams.map((s) => s.stream),
    types: types.map((t) => t.type),
    text: `it holds ${counted(streamCount, "stream")} (${names.join(", ")}${
      streamCount > names.length ? ` and ${count(streamCount - names.length)} more` : ""
    }) with event types ${typeNames.slice(0, 8).join(", ")}${typeNames.length > 8 ? " and others" : ""}`
  }
}).pipe(Effect.mapError(readFailed))

/**
 * Prints events `from`.. of `stream`, at most `limit`, page by page as they are read, then how
 * many more there are and the command that shows them.
 */
export const show = (stream: string, from: number, limit: number) =>
  Effect.gen(function*() {
    const journal = yield* Journal.Journal
    const { dbArg } = yield* JournalFile
    const total = yield* journal.streamVersion(stream)
    if (total === 0) {
      return yield* fail(`stream ${field(stream)} has no events (list the streams with \`mailroom journal streams${dbArg}\`)`)
    }
    if (from > total) {
      return yield* fail(`stream ${field(stream)} has ${counted(total, "event")}; --from ${from} is past its end (the last is v${total})`)
    }
    const last = Math.min(total, from + limit - 1)
    yield* Output.line(`${field(stream)}: ${counted(total, "event")}, v${from}..v${last} shown`)
    let next = from
    while (next <= last) {
      const page = yield* journal.readStream(stream, next, Math.min(1000, last - next + 1))
      if (page.length === 0) break
      for (const e of page) {
        yield* Output.line(`  v${e.version} @${e.position}  ${field(e.type)} (schema v${e.schemaVersion}, id ${field(e.id)})  ${json(e.data)}`)
      }
      next = page[page.length - 1]!.version + 1
    }
    if (last < total) {
      yield* Output.line(`… ${counted(total - last, "more event", "more events")} (v${last + 1}..v${total}): mailroom journal show ${shellArg(stream)}${dbArg} --from ${last + 1} --limit ${total - last}`)
    }
  }).pipe(Effect.mapError((e) => (e._tag === "CommandFailed" || e._tag === "OutputClosed" ? e : readFailed(e))))
