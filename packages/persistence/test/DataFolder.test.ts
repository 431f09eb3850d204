import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DataFolder } from "@mailroom/persistence"

describe("DataFolder", () => {
  it.effect("creates missing parents, accepts an existing folder, names what is wrong", () =>
    Effect.gen(function*() {
      const base = mkdtempSync(join(tmpdir(), "mailroom-folder-"))
      try {
        yield* DataFolder.ensure(join(base, "a", "b", "c"))
        assert.isTrue(statSync(join(base, "a", "b", "c")).isDirectory())
        yield* DataFolder.ensure(join(base, "a"))
        writeFileSync(join(base, "file"), "x")
        const notFolder = yield* Effect.flip(DataFolder.ensure(join(base, "file")))
        assert.include(notFolder.message, "exists and is not a folder")
        const under = yield* Effect.flip(DataFolder.ensure(join(base, "file", "x")))
        assert.strictEqual(under._tag, "DataFolderError")
      } finally {
        rmSync(base, { recursive: true, force: true })
      }
    }))

  // mkdirSync(…, { recursive: true }) never returns for this path (Node 20 and 24).
  it.effect.skipIf(process.platform !== "linux")("a folder under /proc fails at once instead of spinning", () =>
    Effect.gen(function*() {
      const started = performance.now()
      const error = yield* Effect.flip(DataFolder.ensure("/proc/mailroom-test/x"))
      assert.strictEqual(error._tag, "DataFolderError")
      assert.include(error.message, "/proc/mailroom-test")
      assert.isBelow(performance.now() - started, 1000)
    }))
})
