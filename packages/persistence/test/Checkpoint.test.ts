/**
 * The SQLite WAL is checkpointed by time and size and truncated when idle, and a full disk (or
 * database) fails appends with a typed error the journal recovers from as soon as there is
 * space again: the next append succeeds on the same connection, nothing acknowledged is lost,
 * nothing half-written remains.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer } from "effect"
import { TestClock } from "effect/testing"
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Journal, SqliteClient, SqlJournal } from "../src/index.js"
import { tempDir } from "./support/backends.js"

const walSize = (file: string) => (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0)

/** A journal on `file` plus its client, in the test's scope (and clock). */
const open = (file: string, config: Partial<SqliteClient.SqliteClientConfig> = {}) =>
  Effect.map(
    Layer.build(SqlJournal.layer().pipe(Layer.provideMerge(SqliteClient.layer({ filename: file, durability: "full", ...config })))),
    (context) => ({ journal: Context.get(context, Journal.Journal), client: Context.get(context, SqliteClient.SqliteClient) })
  )

/** Lets the checkpointer's timer fire and its tick run. */
const tick = (ms: number) => Effect.andThen(TestClock.adjust(ms), Effect.repeat(Effect.yieldNow, { times: 20 }))

const payload = (bytes: number) => "x".repeat(bytes)

interface Ack {
  readonly id: string
  readonly version: number
}

/** Appends events of `bytes` to `stream` one by one until an append fails; answers the acknowledged ones and the failure. */
const appendUntilFailure = (journal: Journal.Journal["Service"], stream: string, bytes: number, max = 100_000) =>
  Effect.gen(function*() {
    const acked: Array<Ack> = []
    for (let i = 0; i < max; i++) {
      const id = `${stream}-${i}`
      const exit = yield* Effect.exit(journal.append(stream, [{ id, type: "Filled", schemaVersion: 1, data: { fill: payload(bytes) } }], acked.length))
      if (Exit.isFailure(exit)) return { acked, failure: yield* Effect.flip(Effect.suspend(() => exit)) }
      acked.push({ id, version: exit.value.versions[0]! })
    }
    throw new Error(`no append failed in ${max} attempts`)
  })

const integrity = (client: SqliteClient.SqliteClient) =>
  client.withDatabase((db) => (db.prepare("PRAGMA integrity_check").get() as { integrity_check: string }).integrity_check)

/** Every acknowledged event is stored, in order, once, and nothing else in the stream. */
const expectStored = (journal: Journal.Journal["Service"], stream: string, acked: ReadonlyArray<Ack>) =>
  Effect.gen(function*() {
    const stored = yield* journal.readStream(stream)
    expect(stored.map((e) => [e.id, e.version])).toEqual(acked.map((a) => [a.id, a.version]))
  })

describe("SQLite checkpoints", () => {
  it.effect("the WAL is checkpointed while writes go on (by time) and truncated to nothing when idle", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = join(dir, "journal.db")
      const { journal } = yield* open(file, { checkpointInterval: 1000 })
      const walSizes: Array<number> = []
      for (let round = 0; round < 10; round++) {
        for (let i = 0; i < 20; i++) yield* journal.append(`s-${round}`, [{ id: `e${i}`, type: "T", schemaVersion: 1, data: payload(1000) }], i)
        walSizes.push(walSize(file))
        yield* tick(1000)
      }
      // Each second of writing is checkpointed, so the WAL restarts instead of growing: it stays
      // at about one round's frames (a round writes ~20 KB of events plus index pages).
      expect(Math.max(...walSizes)).toBeLessThan(2 * walSizes[0]!)
      expect(statSync(file).size).toBeGreaterThan(200_000)
      // One quiet interval later the WAL is truncated to zero bytes.
      yield* tick(1000)
      expect(walSize(file)).toBe(0)
      // And the journal goes on as before.
      yield* journal.append("s-0", [{ id: "after", type: "T", schemaVersion: 1, data: 1 }], 20)
      expect((yield* journal.readStream("s-0")).length).toBe(21)
    }).pipe(Effect.scoped))

  it.effect("after a burst the WAL file shrinks back to walSizeLimit once checkpointed", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = join(dir, "journal.db")
      const { journal } = yield* open(file, { checkpointInterval: 1000, walSizeLimit: 64 * 1024 })
      yield* Effect.forEach(
        Array.from({ length: 400 }, (_, i) => i),
        (i) => journal.append(`burst-${i}`, [{ id: "e", type: "T", schemaVersion: 1, data: payload(4000) }], 0),
        { concurrency: "unbounded", discard: true }
      )
      expect(walSize(file)).toBeGreaterThan(1_000_000)
      yield* tick(1000)
      // The next commit restarts the checkpointed WAL, cut down to the limit.
      yield* journal.append("small", [{ id: "e", type: "T", schemaVersion: 1, data: 1 }], 0)
      expect(walSize(file)).toBeLessThanOrEqual(64 * 1024 + 64 * 1024)
    }).pipe(Effect.scoped))

  it.effect("a full database: appends fail with StorageFull, the next one after space is freed succeeds, nothing acknowledged is lost", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = join(dir, "journal.db")
      const { client, journal } = yield* open(file)
      yield* journal.append("warm", [{ id: "w", type: "T", schemaVersion: 1, data: 1 }], 0)
      // The database may grow by 40 pages (160 KiB) more: a small disk.
      yield* client.withDatabase((db) => {
        const { page_count } = db.prepare("PRAGMA page_count").get() as { page_count: number }
        db.exec(`PRAGMA max_page_count = ${page_count + 40}`)
      })
      const { acked, failure } = yield* appendUntilFailure(journal, "orders", 3000)
      expect(acked.length).toBeGreaterThan(10)
      expect(failure).toMatchObject({ _tag: "StorageFull", operation: "append" })
      expect(failure.message).toContain("full")
      // While full, every append is refused the same way, and the connection is not left in a transaction.
      const again = yield* Effect.flip(journal.append("orders", [{ id: "again", type: "T", schemaVersion: 1, data: payload(3000) }], acked.length))
      expect(again._tag).toBe("StorageFull")
      expect(yield* client.withDatabase((db) => db.isTransaction)).toBe(false)

      // Space is freed: the next append succeeds, on the same connection.
      yield* client.withDatabase((db) => db.exec("PRAGMA max_page_count = 1000000"))
      const next = yield* journal.append("orders", [{ id: "next", type: "T", schemaVersion: 1, data: payload(3000) }], acked.length)
      expect(next.versions).toEqual([acked.length + 1])
      yield* expectStored(journal, "orders", [...acked, { id: "next", version: acked.length + 1 }])
      expect(yield* integrity(client)).toBe("ok")
    }).pipe(Effect.scoped))

  it.effect("a failed COMMIT (deferred constraint) is rolled back: the connection stays usable", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { client } = yield* open(join(dir, "journal.db"))
      yield* client`PRAGMA foreign_keys = ON`
      yield* client`CREATE TABLE parent (id INTEGER PRIMARY KEY)`
      yield* client`CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)`
      // The INSERT passes; the COMMIT fails on the deferred foreign key.
      const failed = yield* Effect.flip(client.withTransaction(client`INSERT INTO child VALUES (1, 99)`))
      expect(failed._tag).toBe("SqlError")
      expect(yield* client.withDatabase((db) => db.isTransaction)).toBe(false)
      yield* client.withTransaction(client`INSERT INTO parent VALUES (1)`)
      expect(yield* client<{ n: number }>`SELECT (SELECT count(*) FROM parent) * 10 + (SELECT count(*) FROM child) AS n`).toEqual([{ n: 10 }])
    }).pipe(Effect.scoped))
})

/** A tiny tmpfs (needs root, i.e. mount rights); the real "disk full" test runs only where one can be made. */
const tinyFs = (() => {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return undefined
  const dir = mkdtempSync(join(tmpdir(), "mailroom-tinyfs-probe-"))
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir], { stdio: "ignore" })
    execFileSync("umount", [dir], { stdio: "ignore" })
    return true
  } catch {
    return undefined
  } finally {
    rmdirSync(dir)
  }
})()
if (tinyFs === undefined) console.log("Full-disk test on a tiny tmpfs skipped: it needs root on Linux (mount -t tmpfs)")

/** A mounted tmpfs of `size` bytes, unmounted with the scope. */
const mountTiny = (size: number) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = mkdtempSync(join(tmpdir(), "mailroom-tinyfs-"))
      execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir])
      return dir
    }),
    (dir) =>
      Effect.sync(() => {
        execFileSync("umount", ["-l", dir])
        rmSync(dir, { recursive: true, force: true })
      })
  )

describe.skipIf(tinyFs === undefined)("SQLite on a full disk (tmpfs)", () => {
  it.effect("COMMIT fails with StorageFull; after space is freed the next append succeeds, the WAL is checkpointed and truncated", () =>
    Effect.gen(function*() {
      const mount = yield* mountTiny(3 * 1024 * 1024)
      const data = join(mount, "data")
      mkdirSync(data)
      // Something else on the disk, deleted later to free space.
      writeFileSync(join(mount, "other-files"), Buffer.alloc(1024 * 1024))
      const file = join(data, "shop.db")
      const { client, journal } = yield* open(file, { checkpointInterval: 1000 })

      const { acked, failure } = yield* appendUntilFailure(journal, "orders", 2000)
      expect(acked.length).toBeGreaterThan(10)
      expect(failure).toMatchObject({ _tag: "StorageFull", operation: "append" })
      const again = yield* Effect.flip(journal.append("orders", [{ id: "again", type: "T", schemaVersion: 1, data: payload(20_000) }], acked.length))
      expect(again._tag).toBe("StorageFull")
      expect(yield* client.withDatabase((db) => db.isTransaction)).toBe(false)
      // Checkpoints may fail while the disk is full; the client keeps trying.
      yield* tick(1000)
      yield* tick(1000)

      rmSync(join(mount, "other-files"))
      const next = yield* journal.append("orders", [{ id: "next", type: "T", schemaVersion: 1, data: payload(2000) }], acked.length)
      expect(next.versions).toEqual([acked.length + 1])
      yield* tick(1000)
      yield* tick(1000)
      expect(walSize(file)).toBe(0)
      yield* expectStored(journal, "orders", [...acked, { id: "next", version: acked.length + 1 }])
      expect(yield* integrity(client)).toBe("ok")
    }).pipe(Effect.scoped))
})
