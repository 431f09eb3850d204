/**
 * `npm run shop:cluster`: three built shop processes with `--cluster` on one PostgreSQL (a fresh
 * schema). Each serves its dashboard, takes orders and runs the partitions whose shards it owns;
 * one is SIGKILLed mid-run and the two others take its partitions over. Skipped without
 * MAILROOM_PG_URL.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"
import pg from "pg"

const pgUrl = process.env["MAILROOM_PG_URL"]
const main = fileURLToPath(new URL("../dist/main.js", import.meta.url))
if (pgUrl === undefined) console.log("clustered shop test skipped: set MAILROOM_PG_URL=postgres://postgres@127.0.0.1:5432/test to run it")

/** `n` distinct TCP ports that were free a moment ago (all held open together, so none repeats). */
const freePorts = async (n: number): Promise<Array<number>> => {
  const servers = await Promise.all(Array.from({ length: n }, () =>
    new Promise<ReturnType<typeof createServer>>((resolve) => {
      const server = createServer()
      server.listen(0, "127.0.0.1", () => resolve(server))
    })))
  const ports = servers.map((s) => {
    const address = s.address()
    return typeof address === "object" && address !== null ? address.port : 0
  })
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
  return ports
}

interface Proc {
  readonly out: () => string
  readonly exited: Promise<number | null>
  readonly kill: (signal: NodeJS.Signals) => void
  readonly port: number
}

const startShop = (args: ReadonlyArray<string>, port: number): Proc => {
  const child = spawn(process.execPath, [main, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, MAILROOM_ADMIN_TOKEN: "" } })
  let out = ""
  child.stdout.on("data", (d) => void (out += String(d)))
  child.stderr.on("data", (d) => void (out += String(d)))
  return {
    out: () => out,
    exited: new Promise((resolve) => child.on("exit", (code) => resolve(code))),
    kill: (signal) => void child.kill(signal),
    port
  }
}

const waitUntil = async (what: string, ms: number, check: () => Promise<boolean> | boolean, seen?: () => Promise<string>) => {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}${seen === undefined ? "" : ` (last seen: ${await seen()})`}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

describe.skipIf(pgUrl === undefined || !existsSync(main))("the clustered shop (built, PostgreSQL)", () => {
  it("three processes share the partitions; one killed, the others take its partitions over", { timeout: 120_000 }, async () => {
    const admin = new pg.Client({ connectionString: pgUrl })
    await admin.connect()
    const schema = `mrs_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6).toString(36)}`
    await admin.query(`CREATE SCHEMA "${schema}"`)
    const procs: Array<Proc> = []
    try {
      const ports = await freePorts(6)
      for (let i = 0; i < 3; i++) {
        const [port, runnerPort] = [ports[2 * i]!, ports[2 * i + 1]!]
        procs.push(startShop([
          "--cluster", "--pg-url", pgUrl!, "--pg-schema", schema, "--partitions", "6",
          "--port", String(port), "--runner-port", String(runnerPort), "--rate", "40", "--duration", "0"
        ], port))
      }
      const share = async (p: Proc) => {
        const res = await fetch(`http://127.0.0.1:${p.port}/events`, { signal: AbortSignal.timeout(3000) }).catch(() => undefined)
        if (res === undefined || res.body === null) return undefined
        const reader = res.body.getReader()
        let text = ""
        while (!text.includes("\n\n")) {
          const { done, value } = await reader.read()
          if (done) break
          text += new TextDecoder().decode(value)
        }
        await reader.cancel()
        const data = text.split("\n").find((l) => l.startsWith("data: "))
        return data === undefined ? undefined : JSON.parse(data.slice(6)) as { cluster?: Array<{ runner: string; partitions: Array<number>; self: boolean }>; totals: { completed: number } }
      }
      // Every process's dashboard shows the three processes and all six partitions between them.
      await waitUntil("the three processes share the six partitions", 60_000, async () => {
        const s = await share(procs[0]!)
        const parts = s?.cluster?.flatMap((c) => c.partitions) ?? []
        return s?.cluster?.length === 3 && new Set(parts).size === 6
      }, async () => JSON.stringify((await share(procs[0]!))?.cluster) + "\n" + procs.map((p) => p.out().slice(0, 3000)).join("\n-----\n"))
      await waitUntil("each process completed orders", 60_000, async () => {
        const shares = await Promise.all(procs.map(share))
        return shares.every((s) => (s?.totals.completed ?? 0) > 0)
      })
      const victim = procs[1]!
      victim.kill("SIGKILL")
      await victim.exited
      const survivors = [procs[0]!, procs[2]!]
      await waitUntil("the two survivors run all six partitions", 60_000, async () => {
        const s = await share(survivors[0]!)
        const live = s?.cluster ?? []
        const parts = live.flatMap((c) => c.partitions)
        return live.length === 2 && new Set(parts).size === 6
      })
      for (const p of survivors) p.kill("SIGINT")
      const codes = await Promise.all(survivors.map((p) => p.exited))
      for (const code of codes) assert.include([0, 130], code, survivors.map((p) => p.out().slice(-2000)).join("\n----\n"))
      for (const p of survivors) assert.include(p.out(), "Cluster:")
      // Nothing accepted was left behind: every order in the partitions' logs is final.
      const streams = await admin.query(`SELECT count(DISTINCT stream)::int AS n FROM "${schema}".mailroom_events WHERE stream LIKE 'shop-orders/p%'`)
      assert.isAtLeast(streams.rows[0].n, 1)
    } finally {
      for (const p of procs) p.kill("SIGKILL")
      await Promise.all(procs.map((p) => p.exited))
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await admin.end()
    }
  })
})
