/**
 * `journal show` pages (`--limit`, `--from`), `replay` progress, help texts, and escaping of
 * whatever a journal or the shop holds before it reaches the terminal.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { evilCustomer, longJournal, shopJournal, writeJournal } from "./fixtures.js"
import { built, cli, mailroom, type Run } from "./run.js"

const shopMain = fileURLToPath(new URL("../../shop/dist/main.js", import.meta.url))

/** Help without colors (FORCE_COLOR, set under nx, colors it). */
// oxlint-disable-next-line no-control-regex -- removing color sequences is the point
const plain = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, "")

/** Bytes that must never reach the terminal raw from data: ESC, NUL, CR, and a lone surrogate (as UTF-8 would carry it). */
const assertNoRawControls = (r: Run, expectedLines: number) => {
  const bytes = r.bytes
  for (const [name, b] of [["ESC", 0x1b], ["NUL", 0x00], ["CR", 0x0d], ["BEL", 0x07]] as const) {
    assert.strictEqual(bytes.indexOf(b), -1, `raw ${name} in ${JSON.stringify(r.stdout)}`)
  }
  // A lone surrogate is written either as U+FFFD (EF BF BD) or as its WTF-8 bytes (ED A0 80).
  assert.strictEqual(bytes.indexOf(Buffer.from([0xef, 0xbf, 0xbd])), -1, r.stdout)
  assert.strictEqual(bytes.indexOf(Buffer.from([0xed, 0xa0, 0x80])), -1, r.stdout)
  // LF only ends lines: a value's LF did not start a line of its own.
  assert.strictEqual(r.stdout.split("\n").length - 1, expectedLines, r.stdout)
}

describe.skipIf(!built)("journal show, replay progress, help, escaping", () => {
  let dir: string
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "mailroom-cli-journal-"))
    await longJournal(join(dir, "long.db"), 250)
    await shopJournal(join(dir, "shop.db"))
    await writeJournal(join(dir, "evil.db"), [
      { stream: "evil\u001b[2J\r\nstream", events: [{ type: "Odd\u0007\u0000", id: "id\u001b]0;title\u0007", data: { customer: evilCustomer } }] }
    ])
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("journal show prints 100 events by default and says how many more there are and how to see them", async () => {
    const r = await mailroom(["journal", "show", "long", "--db", join(dir, "long.db")])
    assert.strictEqual(r.status, 0, r.stderr)
    const lines = r.stdout.trimEnd().split("\n")
    assert.strictEqual(lines[0], "long: 250 events, v1..v100 shown")
    assert.strictEqual(lines.filter((l) => /^ {2}v\d+ @\d+ {2}Tick /.test(l)).length, 100)
    assert.match(lines[1]!, /^ {2}v1 @1 {2}Tick /)
    assert.match(lines[100]!, /^ {2}v100 @100 {2}Tick /)
    assert.strictEqual(lines[101], `… 150 more events (v101..v250): mailroom journal show long --db ${join(dir, "long.db")} --from 101 --limit 150`)
    assert.strictEqual(lines.length, 102)
  })

  it("journal show --from and --limit page through a stream", async () => {
    const db = join(dir, "long.db")
    const [middle, tail] = await Promise.all([
      mailroom(["journal", "show", "long", "--db", db, "--from", "101", "--limit", "10"]),
      mailroom(["journal", "show", "long", "--db", db, "--from", "245", "--limit", "100"])
    ])
    assert.strictEqual(middle.status, 0, middle.stderr)
    const m = middle.stdout.trimEnd().split("\n")
    assert.strictEqual(m[0], "long: 250 events, v101..v110 shown")
    assert.match(m[1]!, /^ {2}v101 @101 {2}Tick /)
    assert.match(m[10]!, /^ {2}v110 @110 {2}Tick /)
    assert.strictEqual(m[11], `… 140 more events (v111..v250): mailroom journal show long --db ${db} --from 111 --limit 140`)
    const t = tail.stdout.trimEnd().split("\n")
    assert.strictEqual(t[0], "long: 250 events, v245..v250 shown")
    assert.strictEqual(t.length, 7, tail.stdout)
  })

  it("a reader that stops early (| head) ends the command quietly", async () => {
    const big = join(dir, "big.db")
    await longJournal(big, 60_000)
    const child = spawn(process.execPath, [cli, "journal", "show", "long", "--db", big, "--limit", "60000"], { stdio: ["ignore", "pipe", "pipe"] })
    let stderr = ""
    child.stderr.on("data", (d) => void (stderr += String(d)))
    await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()))
    child.stdout.destroy()
    const status = await new Promise<number | null>((resolve) => child.on("close", resolve))
    assert.strictEqual(stderr, "")
    assert.strictEqual(status, 0)
  })

  it("replay tickets counts the shop's orders, not the picks they spawned into the same log", async () => {
    const r = await mailroom(["replay", "tickets", "--db", join(dir, "shop.db")])
    assert.strictEqual(r.status, 0, r.stderr)
    assert.include(r.stdout, "tickets: 3\n")
    assert.match(r.stdout, /^ {2}succeeded +2$/m)
    assert.match(r.stdout, /^ {2}accepted +1$/m)
  })

  it("replay --progress reports events read / total on stderr; without it stderr stays empty (not a TTY)", async () => {
    const db = join(dir, "shop.db")
    const [quiet, loud] = await Promise.all([
      mailroom(["replay", "tickets", "--db", db]),
      mailroom(["replay", "tickets", "--db", db, "--progress"])
    ])
    assert.strictEqual(quiet.status, 0, quiet.stderr)
    assert.strictEqual(quiet.stderr, "")
    assert.strictEqual(loud.status, 0, loud.stderr)
    assert.strictEqual(loud.stdout.replace(/in \d+ ms/, ""), quiet.stdout.replace(/in \d+ ms/, ""))
    assert.match(loud.stderr, /^replay tickets: 5 \/ 5 events \(100%\)/m)
  })

  it("data from a journal is escaped: control characters and lone surrogates shown as \\u escapes", async () => {
    const [streams, show, replay, shop] = await Promise.all([
      mailroom(["journal", "streams", "--db", join(dir, "evil.db")]),
      mailroom(["journal", "show", "evil\u001b[2J\r\nstream", "--db", join(dir, "evil.db")]),
      mailroom(["replay", "tickets", "--db", join(dir, "shop.db")]),
      mailroom(["journal", "show", "shop-orders", "--db", join(dir, "shop.db")])
    ])
    for (const r of [streams, show, replay, shop]) assert.strictEqual(r.status, 0, r.stderr)
    assertNoRawControls(streams, 2)
    assert.include(streams.stdout, `"evil\\u001b[2J\\u000d\\u000astream"`)
    assert.include(streams.stdout, `"Odd\\u0007\\u0000"`)
    assertNoRawControls(show, 2)
    assert.include(show.stdout, `ada\\u001b[2J\\u0000\\r\\nevil\\ud800x`)
    assert.include(show.stdout, `"id\\u001b]0;title\\u0007"`)
    assertNoRawControls(replay, 6)
    assert.include(replay.stdout, `oldest unfinished: "k9\\u001b[31m"`)
    assertNoRawControls(shop, 6)
  })

  describe("a ticket from the shop", () => {
    let server: Server
    let url: string
    beforeAll(async () => {
      server = createServer((req, res) => {
        const ticket = { id: "k2", status: "succeeded", customer: evilCustomer, lines: [{ sku: "tea\u001b[1m", qty: 2 }], acceptedAt: 1, updatedAt: 2, source: "api" }
        res.writeHead(req.method === "POST" ? 202 : 200, { "content-type": "application/json" })
        res.end(JSON.stringify(req.method === "POST" ? { ticket, location: "/tickets/k2\u001b[2J", duplicate: false } : ticket))
      })
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    })
    afterAll(() => {
      server.closeAllConnections()
      server.close()
    })

    it("status and submit escape the customer (ESC, NUL, CR, LF, lone surrogate) and quote it", async () => {
      const [status, submit] = await Promise.all([
        mailroom(["status", "k2", "--url", url]),
        mailroom(["submit", "--item", "tea=2", "--url", url])
      ])
      assert.strictEqual(status.status, 0, status.stderr)
      assertNoRawControls(status, 1)
      assert.strictEqual(status.stdout, `k2  succeeded  "ada\\u001b[2J\\u0000\\u000d\\u000aevil\\ud800x"  2× "tea\\u001b[1m"\n`)
      assert.strictEqual(submit.status, 0, submit.stderr)
      assertNoRawControls(submit, 2)
    })
  })

  it("help texts name what the code and the journals hold now", async () => {
    const commands = [[], ["start"], ["submit"], ["status"], ["journal"], ["journal", "streams"], ["journal", "show"], ["replay"], ["bench"]]
    const helps = await Promise.all(commands.map((c) => mailroom([...c, "--help"])))
    for (const [i, h] of helps.entries()) {
      assert.strictEqual(h.status, 0, `${commands[i]!.join(" ")}: ${h.stderr}`)
      for (const stale of ["t-...", "t-…", "OrderAccepted", "OrderSucceeded"]) {
        assert.notInclude(h.stdout, stale, `${commands[i]!.join(" ")} --help`)
      }
    }
    const [, start, submit, status, , streams, show, replay] = helps.map((h) => h.stdout)
    assert.include(status!, "opaque")
    assert.include(submit!, "--timeout")
    for (const flag of ["--host", "--high-water", "--tenant-rate", "--max-workers"]) assert.include(start!, flag)
    for (const word of ["shop-orders", "account-<id>"]) assert.include(streams!, word)
    assert.include(show!, "--from")
    assert.include(show!, "--limit")
    for (const word of ["shop-orders", "TasksAccepted", "TasksProgressed", "account-", "Opened", "Debited", "Credited", "--progress"]) {
      assert.include(replay!, word)
    }
  })

  it.skipIf(!existsSync(shopMain))("start takes every flag of the shop, with the shop's defaults", async () => {
    const shopHelp = plain(spawnSync(process.execPath, [shopMain, "--help"], { encoding: "utf8" }).stdout)
    const ours = plain((await mailroom(["start", "--help"])).stdout)
    const flags = [...shopHelp.matchAll(/^ {2}(--[a-z-]+) \S*\s+.*?(\(default[^)]*\))?$/gm)]
    assert.isAtLeast(flags.length, 9, shopHelp)
    for (const [, flag, defaults] of flags) {
      const line = ours.split("\n").find((l) => l.startsWith(`  ${flag} `))
      assert.isDefined(line, `mailroom start has no ${flag}`)
      if (defaults !== undefined) assert.include(line!, defaults, flag)
    }
  })
})
