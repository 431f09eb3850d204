/**
 * Opening SQLite database files: a new file is created, one the client created reopens, and an
 * existing zero-length file (a journal that was truncated or replaced) is refused instead of
 * opening as an empty database.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer } from "effect"
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Journal, SqliteClient, SqlJournal } from "../src/index.js"
import { tempDir } from "./support/backends.js"

const journalOn = (filename: string, config: Partial<SqliteClient.SqliteClientConfig> = {}) =>
  SqlJournal.layer({ migrate: config.readOnly !== true }).pipe(Layer.provide(SqliteClient.layer({ filename, ...config })))

const failureOf = <A, E>(exit: Exit.Exit<A, E>) => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const error = Cause.findErrorOption(exit.cause)
  if (error._tag === "None") throw new Error(`expected a typed failure: ${Cause.pretty(exit.cause)}`)
  return error.value as E
}

const ev = (id: string): Journal.EventData => ({ id, type: "T", schemaVersion: 1, data: { id } })

describe("SqliteClient database files", () => {
  it.live("an existing zero-length file is refused with EmptyDatabaseFile naming it, read-write and read-only; the file is left alone", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = join(dir, "shop.db")
      writeFileSync(file, "")
      for (const config of [{}, { readOnly: true }, { lock: "none" as const }]) {
        const error = failureOf(yield* Effect.exit(Effect.provide(Effect.asVoid(Journal.Journal), journalOn(file, config))))
        expect(error).toMatchObject({ _tag: "EmptyDatabaseFile", file })
        expect(error.message).toContain(file)
        expect(error.message).toContain("0 bytes")
        expect(error.message).toContain("backup")
      }
      expect(statSync(file).size).toBe(0)
      expect(existsSync(`${file}-wal`)).toBe(false)
    }).pipe(Effect.scoped))

  it.live("a new file is created; one the client created reopens, written to or not", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const untouched = join(dir, "untouched.db")
      // Opened and closed without a statement: not a zero-length file afterwards.
      yield* Effect.scoped(Layer.build(SqliteClient.layer({ filename: untouched })))
      expect(statSync(untouched).size).toBeGreaterThan(0)
      yield* Effect.scoped(Layer.build(SqliteClient.layer({ filename: untouched })))

      const file = join(dir, "journal.db")
      yield* Effect.provide(Effect.flatMap(Journal.Journal, (j) => j.append("s", [ev("a")], 0)), journalOn(file))
      const events = yield* Effect.provide(Effect.flatMap(Journal.Journal, (j) => j.readStream("s")), journalOn(file))
      expect(events.map((e) => e.id)).toEqual(["a"])
      const read = yield* Effect.provide(Effect.flatMap(Journal.Journal, (j) => j.readAll()), journalOn(file, { readOnly: true }))
      expect(read.map((e) => e.id)).toEqual(["a"])
      // Creation leaves nothing else behind than the database, its lock and WAL files.
      expect(readdirSync(dir).filter((name) => !/^(untouched|journal)\.db(-wal|-shm|-lock)?$/.test(name))).toEqual([])
    }).pipe(Effect.scoped))

  it.live("opening a missing file read-only is a typed error naming it (nothing is created)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = join(dir, "missing.db")
      const error = failureOf(yield* Effect.exit(Effect.scoped(Layer.build(SqliteClient.layer({ filename: file, readOnly: true })))))
      expect(error._tag).toBe("SqlError")
      expect(existsSync(file)).toBe(false)
    }).pipe(Effect.scoped))
})
