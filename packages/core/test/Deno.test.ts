import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../../../", import.meta.url))
const smoke = fileURLToPath(new URL("../smoke/smoke.ts", import.meta.url))
const built = existsSync(fileURLToPath(new URL("../dist/index.js", import.meta.url)))
const expected = ["sum=5050", "after-restart=0", "late-ask=ActorStopped", "restarts=1 dead-letters=2 live=0", "ok"]

// The smoke program imports the built package (dist/); `nx run core:test` builds it first.
describe.skipIf(!built && process.env.CI === undefined)("runtime-agnostic core", () => {
  it("runs the smoke program under Deno 2 with the expected output", () => {
    const out = execFileSync(`${root}node_modules/.bin/deno`, ["run", "--allow-read", "--allow-env", smoke], {
      cwd: root,
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" }
    })
    expect(out.trim().split("\n")).toStrictEqual(expected)
  }, 60_000)

  it("runs the same smoke program under Node 24", () => {
    const out = execFileSync(process.execPath, [smoke], { cwd: root, encoding: "utf8" })
    expect(out.trim().split("\n")).toStrictEqual(expected)
  }, 60_000)
})
if (!built) console.warn("Deno smoke test skipped: build the core first (npx nx run core:build), or run `npx nx run core:test`, which builds it.")
