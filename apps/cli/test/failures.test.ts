/**
 * Every failure the `mailroom` command can hit is one line on stderr saying what went wrong and
 * what to do, with exit code 1: no `Cause(...)`, no stack trace, no help page.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { execFileSync, spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { bankJournal, emptyJournal, otherDatabase, shopJournal } from "./fixtures.js"
import { assertOneLineError, built, cli, mailroom } from "./run.js"

/** A stand-in for the shop's HTTP front desk: each path answers what the test says. */
type Route = (res: ServerResponse, req: IncomingMessage) => void

const fakeShop = (routes: Record<string, Route>) =>
  new Promise<{ server: Server; url: string }>((resolve) => {
    const server = createServer((req, res) => {
      const route = routes[`${req.method} ${req.url}`] ?? routes[`${req.method} *`]
      if (route === undefined) {
        res.writeHead(404, { "content-type": "application/json" })
        res.end(JSON.stringify({ error: "NotFound", message: "no such route" }))
      } else route(res, req)
    })
    server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }))
  })

const json = (status: number, body: unknown, headers: Record<string, string> = {}) => (res: ServerResponse) => {
  res.writeHead(status, { "content-type": "application/json", ...headers })
  res.end(JSON.stringify(body))
}

describe.skipIf(!built)("one clear line for every failure", () => {
  let dir: string
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "mailroom-cli-failures-"))
    mkdirSync(join(dir, "empty-cwd"))
    mkdirSync(join(dir, "folder.db"))
    writeFileSync(join(dir, "text.db"), "this is not a database\n".repeat(100))
    otherDatabase(join(dir, "other.db"))
    await emptyJournal(join(dir, "empty.db"))
    await shopJournal(join(dir, "shop.db"))
    await bankJournal(join(dir, "bank.db"))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it("no journal file where the command looks by default (no --db)", async () => {
    const cwd = join(dir, "empty-cwd")
    const runs = await Promise.all([
      mailroom(["journal", "streams"], { cwd }),
      mailroom(["journal", "show", "shop-orders"], { cwd }),
      mailroom(["replay", "balances"], { cwd }),
      mailroom(["replay", "tickets"], { cwd })
    ])
    for (const r of runs) assertOneLineError(r, /no journal at .*\.mailroom-data\/(shop|bank)\.db \(run .* first, or pass --db\)$/)
  })

  it("--db that is a folder, not a database, or a database without a journal", async () => {
    const [folder, text, other, missing] = await Promise.all([
      mailroom(["journal", "streams", "--db", join(dir, "folder.db")]),
      mailroom(["journal", "show", "x", "--db", join(dir, "text.db")]),
      mailroom(["replay", "tickets", "--db", join(dir, "other.db")]),
      mailroom(["journal", "streams", "--db", join(dir, "nope", "shop.db")])
    ])
    assertOneLineError(folder, "is a folder, not a journal file")
    assertOneLineError(text, "is not a SQLite database")
    assertOneLineError(other, "holds no Mailroom journal (no table mailroom_events)")
    assertOneLineError(missing, "no journal at")
  })

  it("replaying a journal with no events says it is empty", async () => {
    assertOneLineError(await mailroom(["replay", "balances", "--db", join(dir, "empty.db")]), "has no events")
  })

  it("replay balances on the shop's journal, replay tickets on the bank's: the wrong journal, and what it holds", async () => {
    const [balances, tickets] = await Promise.all([
      mailroom(["replay", "balances", "--db", join(dir, "shop.db")]),
      mailroom(["replay", "tickets", "--db", join(dir, "bank.db")])
    ])
    assertOneLineError(balances, "has no bank account events")
    assertOneLineError(balances, "shop-orders")
    assertOneLineError(balances, "TasksAccepted")
    assertOneLineError(balances, "replay tickets")
    assertOneLineError(tickets, "has no stream shop-orders")
    assertOneLineError(tickets, "account-a")
    assertOneLineError(tickets, "Opened")
    assertOneLineError(tickets, "replay balances")
  })

  it("invalid flags and arguments: one line naming the flag, not the help page", async () => {
    const db = join(dir, "shop.db")
    const [noTicket, unknownFlag, notInt, zeroLimit, negativeLimit, fromZero, fromPast, unknownCommand, unknownProjection, badPort, badDuration, badUrl, badTimeout] =
      await Promise.all([
        mailroom(["status"]),
        mailroom(["journal", "streams", "--db", db, "--bogus"]),
        mailroom(["journal", "streams", "--db", db, "--limit", "abc"]),
        mailroom(["journal", "streams", "--db", db, "--limit", "0"]),
        mailroom(["journal", "show", "shop-orders", "--db", db, "--limit", "-5"]),
        mailroom(["journal", "show", "shop-orders", "--db", db, "--from", "0"]),
        mailroom(["journal", "show", "shop-orders", "--db", db, "--from", "50"]),
        mailroom(["jounral"]),
        mailroom(["replay", "orders", "--db", db]),
        mailroom(["start", "--port", "70000", "--memory"]),
        mailroom(["start", "--duration", "-1", "--memory"]),
        mailroom(["submit", "--item", "tea=1", "--url", "localhost:4000"]),
        mailroom(["status", "t1", "--timeout", "0"])
      ])
    assertOneLineError(noTicket, /missing .*ticket.*mailroom status --help/i)
    assertOneLineError(unknownFlag, /unknown flag --bogus.*mailroom journal streams --help/)
    assertOneLineError(notInt, /--limit/)
    assertOneLineError(zeroLimit, "--limit must be at least 1, got 0")
    assertOneLineError(negativeLimit, "--limit must be at least 1, got -5")
    assertOneLineError(fromZero, "--from must be at least 1, got 0")
    assertOneLineError(fromPast, "stream shop-orders has 5 events; --from 50 is past its end")
    assertOneLineError(unknownCommand, /unknown command .*jounral/i)
    assertOneLineError(unknownProjection, /orders/)
    assertOneLineError(badPort, "--port must be 0..65535, got 70000")
    assertOneLineError(badDuration, "--duration must be at least 0, got -1")
    assertOneLineError(badUrl, `--url "localhost:4000" is not an http:// or https:// address`)
    assertOneLineError(badTimeout, "--timeout must be more than 0 seconds, got 0")
  })

  it("a ticket id that starts with - is told to go after --", async () => {
    assertOneLineError(await mailroom(["status", "-abc"]), "mailroom status -- <ticket>")
  })

  it("a data folder that cannot be created is refused before the shop starts", async () => {
    writeFileSync(join(dir, "a-file"), "")
    assertOneLineError(await mailroom(["start", "--data", join(dir, "a-file", "data"), "--duration", "1"]), "cannot use the data folder")
  })

  it("a shop killed under start (e.g. by the OOM killer) is reported, not a silent success", async () => {
    const child = spawn(process.execPath, [cli, "start", "--memory", "--port", "0", "--duration", "0", "--rate", "0"], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stderr = ""
    child.stderr.on("data", (d) => void (stderr += String(d)))
    await new Promise<void>((resolve) => {
      let out = ""
      child.stdout.on("data", (d) => {
        out += String(d)
        if (/dashboard http:/.test(out)) resolve()
      })
    })
    const shopPid = Number(execFileSync("pgrep", ["-P", String(child.pid)], { encoding: "utf8" }).trim().split("\n")[0])
    process.kill(shopPid, "SIGKILL")
    const status = await new Promise<number | null>((resolve) => child.on("close", resolve))
    assert.strictEqual(status, 1, stderr)
    assert.match(stderr, /^mailroom: the shop was stopped by SIGKILL \(out of memory, or killed from outside\); its journal was in memory/m)
  })

  describe("answers a shop should not give", () => {
    let shop: { server: Server; url: string }
    let hang: { server: Server; url: string }
    beforeAll(async () => {
      const rateLimited = json(429, {
        error: "Overloaded",
        reason: "tenant-rate",
        message: "customer \"cli\" is placing orders too fast (20/s); retry after 2 s",
        retryAfterSeconds: 2,
        backlog: 5,
        highWater: 3000
      }, { "retry-after": "2" })
      shop = await fakeShop({
        "GET /tickets/notjson": (res) => {
          res.writeHead(200, { "content-type": "text/html" })
          res.end("<html>hello</html>")
        },
        "GET /tickets/shape": json(200, { id: "shape", status: 42 }),
        "GET /tickets/boom": (res) => {
          res.writeHead(500, { "content-type": "text/plain" })
          res.end("Internal Server Error\n  at line 1\n  at line 2")
        },
        "POST /orders": (res, req) => req.headers["idempotency-key"] === "rate" ? rateLimited(res) : json(202, {})(res)
      })
      hang = await fakeShop({ "GET *": () => undefined })
    })
    afterAll(() => {
      shop.server.closeAllConnections()
      shop.server.close()
      hang.server.closeAllConnections()
      hang.server.close()
    })

    it("not JSON, the wrong shape, a 500 with a multi-line body, a 202 without a ticket, no answer at all", async () => {
      const [notJson, shape, boom, noTicket, silent] = await Promise.all([
        mailroom(["status", "notjson", "--url", shop.url]),
        mailroom(["status", "shape", "--url", shop.url]),
        mailroom(["status", "boom", "--url", shop.url]),
        mailroom(["submit", "--item", "tea=1", "--url", shop.url]),
        mailroom(["status", "x", "--url", hang.url, "--timeout", "1"])
      ])
      assertOneLineError(notJson, `the server at ${shop.url} did not answer like a Mailroom shop`)
      assertOneLineError(shape, `the server at ${shop.url} did not answer like a Mailroom shop`)
      assertOneLineError(boom, "the shop answered 500")
      assertOneLineError(noTicket, `the server at ${shop.url} did not answer like a Mailroom shop`)
      assertOneLineError(silent, `the shop at ${hang.url} did not answer within 1 s`)
    })

    it("a 429 for the customer's rate says so (not a backlog of undefined orders)", async () => {
      const r = await mailroom(["submit", "--item", "tea=1", "--url", shop.url, "--key", "rate"])
      assertOneLineError(r, `the shop refused the order for now: customer "cli" is placing orders too fast (20/s); retry after 2 s`)
      assert.notInclude(r.stderr, "undefined")
    })
  })
})
