import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"

const main = fileURLToPath(new URL("../dist/main.js", import.meta.url))

describe("npm start (the demo)", () => {
  it("tells the story: replies, typed errors, restarts, backpressure, timeouts, watch, dead letters", () => {
    const out = execFileSync(process.execPath, [main], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } })
    expect(out).toContain("alice=100, bob=20")
    expect(out).toContain("alice withdrew 30 → 70 left")
    expect(out).toContain("typed error InsufficientFunds (balance 20)")
    expect(out).toContain("auditor is in incarnation 3")
    expect(out).toMatch(/sent 8 pages in \d+ ms/)
    expect(out).toContain("clerk filed 8 pages")
    expect(out).toContain("(Timeout: handler timed out after 200 ms)")
    expect(out).toContain("worker finished 2 jobs")
    expect(out).toContain("/user/bob terminated (Stopped)")
    expect(out).toContain("dead letter → /user/bob: Deposit (ActorStopped)")
    expect(out).toMatch(/2 restarts, 4 dead letters, 5 actors alive/)
  }, 30_000)
})
