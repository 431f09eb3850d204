import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import { join } from "node:path"
import { Journal, SqliteClient, SqlJournal } from "../src/index.js"
import { tempDir } from "./support/backends.js"

const ev = (id: string): Journal.EventData => ({ id, type: "T", schemaVersion: 1, data: {} })

const journalOn = (filename: string) =>
  Effect.flatMap(
    // Several writers on one file: each opts out of the writer lock.
    Layer.build(SqlJournal.layer().pipe(Layer.provide(SqliteClient.layer({ filename, lock: "none" })))),
    (context) => Effect.succeed(Context.get(context, Journal.Journal))
  )

describe("SqlJournal (SQLite specifics)", () => {
  it.live("two processes (connections) on one file see each other's appends", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* tempDir
      const file = join(dir, "shared.db")
      const a = yield* journalOn(file)
      const b = yield* journalOn(file)
      yield* a.append("s", [ev("1")], 0)
      yield* b.append("s", [ev("2")], 1)
      // `a` cached version 1 for "s"; it must notice `b`'s commit.
      const stale = yield* Effect.flip(a.append("s", [ev("3")], 1))
      expect(stale).toMatchObject({ _tag: "WrongExpectedVersion", actual: 2 })
      const ok = yield* a.append("s", [ev("3")], 2)
      expect(ok.versions).toEqual([3])
      expect((yield* b.readStream("s")).map((e) => e.id)).toEqual(["1", "2", "3"])
    })))

  it.live("subscribe sees events another connection commits (by polling)", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* tempDir
      const file = join(dir, "shared.db")
      const reader = yield* journalOn(file)
      const writer = yield* journalOn(file)
      const fiber = yield* Effect.forkChild(Stream.runCollect(Stream.take(reader.subscribe(0), 2)))
      yield* Effect.sleep(50)
      yield* writer.append("s", [ev("1"), ev("2")], 0)
      const seen = yield* Fiber.join(fiber).pipe(Effect.timeout("5 seconds"))
      expect(seen.map((e) => e.id)).toEqual(["1", "2"])
    })))

  it.live("appends after the journal closed fail with a typed error", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const journal = yield* Scope.provide(scope)(journalOn(":memory:"))
      yield* journal.append("s", [ev("1")], 0)
      yield* Scope.close(scope, Exit.void)
      const error = yield* Effect.flip(journal.append("s", [ev("2")], 1))
      expect(error).toMatchObject({ _tag: "JournalError", operation: "append" })
    }))

  it.live("bad configuration is a typed error naming the value", () =>
    Effect.gen(function*() {
      const badTable = yield* Effect.exit(
        Effect.provide(Effect.asVoid(Journal.Journal), SqlJournal.layer({ table: "x; DROP TABLE y" }).pipe(
          Layer.provide(SqliteClient.layer({ filename: ":memory:" }))
        ))
      )
      expect(Exit.isFailure(badTable) && JSON.stringify(badTable.cause)).toContain("x; DROP TABLE y")
      const badDurability = yield* Effect.exit(
        Effect.provide(Effect.void, SqliteClient.layer({ filename: ":memory:", durability: "sometimes" as never }))
      )
      expect(Exit.isFailure(badDurability) && JSON.stringify(badDurability.cause)).toContain("SqliteConfigError")
      const badBatch = yield* Effect.exit(Effect.provide(Effect.asVoid(Journal.Journal), Journal.layerMemory({ maxBatch: 0 })))
      expect(Exit.isFailure(badBatch) && JSON.stringify(badBatch.cause)).toContain("maxBatch must be an integer >= 1, got 0")
    }))
})
