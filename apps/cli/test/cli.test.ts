import { assert, describe, it } from "@effect/vitest"
import { spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { assertOneLineError, built, cli, mailroom } from "./run.js"

const shop = fileURLToPath(new URL("../../shop/dist/main.js", import.meta.url))
const bank = fileURLToPath(new URL("../../bank/dist/main.js", import.meta.url))

describe.skipIf(!built || !existsSync(shop))("mailroom (built CLI)", () => {
  it("start runs the shop; submit gets a ticket; status follows it to succeeded; replay tickets counts it", { timeout: 90_000 }, async () => {
    const data = mkdtempSync(join(tmpdir(), "mailroom-cli-shop-"))
    const child = spawn(process.execPath, [cli, "start", "--duration", "25", "--rate", "50", "--data", data, "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] })
    let id: string | undefined
    try {
      const base = await new Promise<string>((resolve, reject) => {
        let out = ""
        child.stdout.on("data", (d) => {
          out += String(d)
          const m = /dashboard (http:\/\/127\.0\.0\.1:\d+)\//.exec(out)
          if (m) resolve(m[1]!)
        })
        child.on("exit", () => reject(new Error(`shop exited early: ${out}`)))
      })
      const submitted = await mailroom(["submit", "--url", base, "--item", "tea=2", "--item", "mug=1", "--customer", "cli-test", "--key", "k-1"])
      assert.strictEqual(submitted.status, 0, submitted.stderr)
      id = /accepted: (\S+)/.exec(submitted.stdout)?.[1]
      assert.isDefined(id, submitted.stdout)
      const [again, missing, badSku, badItem] = await Promise.all([
        mailroom(["submit", "--url", base, "--item", "tea=2", "--item", "mug=1", "--customer", "cli-test", "--key", "k-1"]),
        mailroom(["status", "--url", base, "t-missing"]),
        mailroom(["submit", "--url", base, "--item", "Bad Sku=1"]),
        mailroom(["submit", "--url", base, "--item", "tea"])
      ])
      assert.include(again.stdout, `already accepted: ${id}`)
      assertOneLineError(missing, "no ticket t-missing")
      assertOneLineError(badSku, /field lines(\.0|\[0\])\.sku/)
      assertOneLineError(badItem, "is not sku=qty")
      // wait for the order to be picked (polling over HTTP is cheaper than a process per poll)
      for (let i = 0; i < 100; i++) {
        const t = (await (await fetch(`${base}/tickets/${id}`)).json()) as { status: string }
        if (t.status === "succeeded") break
        await new Promise((r) => setTimeout(r, 100))
      }
      const last = (await mailroom(["status", "--url", base, id!])).stdout
      assert.include(last, `${id}  succeeded  cli-test  2× tea, 1× mug`)
    } finally {
      child.kill("SIGINT")
      await new Promise((r) => child.on("exit", r))
    }
    try {
      // The shop's request log, replayed from zero: every order it accepted, ours succeeded.
      const replay = await mailroom(["replay", "tickets", "--db", join(data, "shop.db")])
      assert.strictEqual(replay.status, 0, replay.stderr)
      const total = Number(/tickets: (\d+)/.exec(replay.stdout)?.[1])
      const succeeded = Number(/succeeded\s+(\d+)/.exec(replay.stdout)?.[1])
      assert.isAbove(total, 1, replay.stdout)
      assert.isAtLeast(succeeded, 1, replay.stdout)
      const show = await mailroom(["journal", "show", "shop-orders", "--db", join(data, "shop.db"), "--limit", "1000000"])
      assert.include(show.stdout, id!)
      assert.include(show.stdout, "TasksProgressed")
    } finally {
      rmSync(data, { recursive: true, force: true })
    }
  })

  it("an unreachable shop is one clear line", async () => {
    assertOneLineError(await mailroom(["status", "--url", "http://127.0.0.1:9", "t-1"]), "cannot reach the shop at http://127.0.0.1:9")
  })

  it.skipIf(!existsSync(bank))("journal streams / show and replay read a journal written by the bank demo", { timeout: 90_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "mailroom-cli-"))
    try {
      const run = spawnSync(process.execPath, [bank, "--data", dir, "--accounts", "4", "--transfers", "20", "--crash-after", "0"], { encoding: "utf8", timeout: 60_000 })
      assert.strictEqual(run.status, 0, run.stderr)
      const db = join(dir, "bank.db")
      const [streams, show, replay, noStream, noFile] = await Promise.all([
        mailroom(["journal", "streams", "--db", db, "--limit", "100"]),
        mailroom(["journal", "show", "account-acct-001", "--db", db]),
        mailroom(["replay", "balances", "--db", db]),
        mailroom(["journal", "show", "nope", "--db", db]),
        mailroom(["replay", "balances", "--db", join(dir, "missing.db")])
      ])
      assert.strictEqual(streams.status, 0, streams.stderr)
      assert.include(streams.stdout, "account-acct-001")
      assert.include(streams.stdout, "saga:transfer:")
      assert.strictEqual(show.status, 0, show.stderr)
      assert.include(show.stdout, "v1 @")
      assert.include(show.stdout, "Opened")
      assert.strictEqual(replay.status, 0, replay.stderr)
      assert.match(replay.stdout, /total\s+4,000\.00/)
      assertOneLineError(noStream, `stream nope has no events`)
      assertOneLineError(noFile, "no journal at")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("bench --no-run prints the comparison tables of the last results", async () => {
    const r = await mailroom(["bench", "--no-run"])
    assert.strictEqual(r.status, 0, r.stderr)
    assert.match(r.stdout, /^## /m)
  })
})
