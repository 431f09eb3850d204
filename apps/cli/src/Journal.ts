/**
 * Looking into a journal file (the shop's `shop.db`, the bank's `bank.db`): list its streams,
 * show one stream's events. Opens the SQLite file read-only, so it is safe beside a running app.
 */
import { Effect, Layer } from "effect"
import { Journal, SqliteClient, SqlJournal } from "@mailroom/persistence"
import { existsSync } from "node:fs"
import { fail } from "./Failure.js"

/** The journal in `file`, opened read-only; a clear failure when the file does not exist. */
export const layer = (file: string) =>
  Layer.unwrap(Effect.suspend(() =>
    existsSync(file)
      ? Effect.succeed(
        SqlJournal.layer({ migrate: false }).pipe(Layer.provide(SqliteClient.layer({ filename: file, readOnly: true })))
      )
      : Effect.fail(fail(`no journal at ${file} (run \`mailroom start\` first, or pass --db)`))
  )).pipe(Layer.catchCause((cause) =>
    Layer.effect(Journal.Journal, Effect.fail(fail(`cannot open the journal ${file}: ${String(cause).split("\n")[0]}`)))
  ))

/** One line per stream: name, events, last event type. Most recently written first. */
export const streams = (limit: number) =>
  Effect.gen(function*() {
    const journal = yield* Journal.Journal
    const byStream = new Map<string, { events: number; last: string; position: number }>()
    let after = 0
    let total = 0
    while (true) {
      const page = yield* journal.readAll(after, 10_000)
      if (page.length === 0) break
      for (const e of page) {
        const s = byStream.get(e.stream)
        if (s === undefined) byStream.set(e.stream, { events: 1, last: e.type, position: e.position })
        else {
          s.events++
          s.last = e.type
          s.position = e.position
        }
      }
      total += page.length
      after = page[page.length - 1]!.position
    }
    const rows = [...byStream].sort((a, b) => b[1].position - a[1].position)
    return { total, count: rows.length, rows: rows.slice(0, limit).map(([name, s]) => ({ name, ...s })) }
  }).pipe(Effect.mapError((e) => fail(`reading the journal failed: ${e.message}`)))

/** The events of one stream. */
export const show = (stream: string) =>
  Effect.gen(function*() {
    const journal = yield* Journal.Journal
    const events = yield* journal.readStream(stream)
    if (events.length === 0) return yield* fail(`stream ${JSON.stringify(stream)} has no events (list them with \`mailroom journal streams\`)`)
    return events
  }).pipe(Effect.mapError((e) => e._tag === "CommandFailed" ? e : fail(`reading the journal failed: ${e.message}`)))
