import { assert, describe, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

const main = fileURLToPath(new URL("../dist/main.js", import.meta.url))
const run = (args: ReadonlyArray<string>) => spawnSync(process.execPath, [main, ...args], { encoding: "utf8", timeout: 60_000 })

describe.skipIf(!existsSync(main))("mailroom-bank (built)", { timeout: 60_000 }, () => {
  it("tells the whole story and every check passes", () => {
    const r = run(["--memory", "--accounts", "6", "--transfers", "60", "--crash-after", "50", "--seed", "3"])
    assert.strictEqual(r.status, 0, r.stderr)
    assert.include(r.stdout, "✓ money conserved")
    assert.include(r.stdout, "✓ every saga ended")
    assert.include(r.stdout, "Fixed the handler and rebuilt the projection")
    assert.notInclude(r.stdout.split("5. ")[0]!, "✗")
  })

  it("a bad flag value is one clear line and a non-zero exit", () => {
    const r = run(["--memory", "--faults", "2"])
    assert.strictEqual(r.status, 1)
    assert.strictEqual(r.stderr.trim(), "mailroom-bank: --faults must be in 0..1, got 2")
  })
})
