/**
 * The writer lock of a SQLite database file: one read-write client at a time, across processes
 * (the shop started twice on one data folder) and within one; readers still read; a holder that
 * dies (SIGKILL) leaves no stale lock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Layer, Scope } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Journal, SqliteClient, SqlJournal } from "../src/index.js"
import { start } from "./support/child.js"
import { tempDir } from "./support/backends.js"

const refusal = (line: string) => {
  const [, ms, ...json] = line.split(" ")
  return { ms: Number(ms), error: JSON.parse(json.join(" ")) as { _tag: string; file: string; pid?: number; message: string } }
}

const failureOf = <A, E>(exit: Exit.Exit<A, E>) => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure")
  const error = Cause.findErrorOption(exit.cause)
  if (error._tag === "None") throw new Error(`expected a typed failure: ${Cause.pretty(exit.cause)}`)
  return error.value as E
}

describe("SQLite writer lock", () => {
  it("a second process is refused at once, naming the file and the holder; a SIGKILLed holder leaves no stale lock", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "mailroom-lock-"))
    const file = join(dir, "shop.db")
    const children: Array<ReturnType<typeof start>> = []
    try {
      const first = start("lockHolder.ts", [file])
      children.push(first)
      await first.line("appended")

      const second = start("lockHolder.ts", [file])
      children.push(second)
      const { error, ms } = refusal(await second.line("refused"))
      expect(await second.exited).toBe(3)
      expect(error._tag).toBe("DatabaseLocked")
      expect(error.file).toBe(file)
      expect(error.pid).toBe(first.pid)
      expect(error.message).toContain(file)
      expect(error.message).toContain(String(first.pid))
      // The attempt itself (open, find the lock taken, read the holder): well under a second.
      expect(ms).toBeLessThan(1000)
      console.log(`lock test: the second process was refused after ${ms.toFixed(1)} ms`)

      // Readers (the CLI's `journal show`) still read the running holder's journal, read-only.
      const seen = await Effect.runPromise(
        Effect.flatMap(Journal.Journal, (journal) => journal.readAll()).pipe(
          Effect.provide(SqlJournal.layer({ migrate: false }).pipe(Layer.provide(SqliteClient.layer({ filename: file, readOnly: true }))))
        )
      )
      expect(seen.map((e) => e.stream)).toEqual([`holder-${first.pid}`])

      // The holder dies without cleaning up: the OS drops its lock, the next process takes it.
      first.process.kill("SIGKILL")
      expect(await first.exited).toBe("SIGKILL")
      const third = start("lockHolder.ts", [file])
      children.push(third)
      expect(await third.line("appended")).toBe("appended 2")
      third.process.kill("SIGKILL")
      await third.exited
    } finally {
      for (const child of children) child.process.kill("SIGKILL")
      await Promise.all(children.map((c) => c.exited))
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("processes starting together on a new file: exactly one holds the lock", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "mailroom-lock-"))
    const file = join(dir, "shop.db")
    const children = Array.from({ length: 4 }, () => start("lockHolder.ts", [file]))
    try {
      const outcomes = await Promise.all(children.map((child) =>
        Promise.race([child.line("appended"), child.line("refused")]).then((line) => ({ child, line }))
      ))
      const holders = outcomes.filter((o) => o.line.startsWith("appended"))
      expect(holders.length).toBe(1)
      expect(holders[0]!.line).toBe("appended 1")
      for (const o of outcomes.filter((o) => o.line.startsWith("refused"))) {
        const { error } = refusal(o.line)
        expect(error._tag).toBe("DatabaseLocked")
        // The holder is named unless it was caught publishing its pid.
        if (error.pid !== undefined) expect(error.pid).toBe(holders[0]!.child.pid)
      }
    } finally {
      for (const child of children) child.process.kill("SIGKILL")
      await Promise.all(children.map((c) => c.exited))
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it.live("within one process: a second read-write client is refused until the first closes; readers and lock: none are not", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = join(dir, "journal.db")
      const open = (config: Partial<SqliteClient.SqliteClientConfig> = {}) =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          const context = yield* Layer.buildWithScope(SqliteClient.layer({ filename: file, ...config }), scope)
          return { client: Context.get(context, SqliteClient.SqliteClient), close: Scope.close(scope, Exit.void) }
        })
      const first = yield* open()
      yield* first.client`CREATE TABLE t (x INTEGER)`
      yield* first.client`INSERT INTO t VALUES (1)`

      const refused = failureOf(yield* Effect.exit(open()))
      expect(refused).toMatchObject({ _tag: "DatabaseLocked", file, pid: process.pid })

      const reader = yield* open({ readOnly: true })
      expect(yield* reader.client<{ x: number }>`SELECT x FROM t`).toEqual([{ x: 1 }])
      yield* reader.close

      // Opting out (several writers on one file, each through its own connection).
      const unlocked = yield* open({ lock: "none" })
      yield* unlocked.client`INSERT INTO t VALUES (2)`
      yield* unlocked.close

      yield* first.close
      const next = yield* open()
      expect(yield* next.client<{ n: number }>`SELECT count(*) AS n FROM t`).toEqual([{ n: 2 }])
      yield* next.close
    }).pipe(Effect.scoped))

  it.live("an in-memory database takes no lock; an invalid lock option is a typed error naming it", () =>
    Effect.gen(function*() {
      const a = yield* Layer.build(SqliteClient.layer({ filename: ":memory:" }))
      const b = yield* Layer.build(SqliteClient.layer({ filename: ":memory:" }))
      expect(Context.get(a, SqliteClient.SqliteClient)).not.toBe(Context.get(b, SqliteClient.SqliteClient))
      const bad = failureOf(yield* Effect.exit(Layer.build(SqliteClient.layer({ filename: ":memory:", lock: "shared" as never }))))
      expect(bad).toMatchObject({ _tag: "SqliteConfigError", field: "lock", value: "shared" })
    }).pipe(Effect.scoped))
})
