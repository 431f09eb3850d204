/**
 * The cluster bench: `npx nx run cluster:bench` (or `node bench/run.ts`).
 *
 * Sharded actors (`bench/entities.ts`) on 1, 2 and 3 runner processes on this machine's
 * PostgreSQL, driven by a client-only load process, beside the same behavior on a local
 * `ActorSystem` in one process (the baseline) and a runner that is also its own client (the
 * cluster's cost without a network hop). Figures (see `load.ts`): `ask` round trips/s with 32
 * callers, `seq` one caller's round trip (the per-message overhead), `tell` and `persisted`
 * messages handled/s with 32 senders.
 *
 * Every process is `node` on the TypeScript sources; each configuration gets a fresh schema,
 * dropped afterwards. Options (env): BENCH_SECONDS (3), BENCH_ROUNDS (1), BENCH_FIGURES
 * (ask,seq,tell,persisted), BENCH_CONFIGS (local,inprocess,1,2,3), MAILROOM_PG_URL.
 * Writes `bench-results/cluster-scaling.json`.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { createServer } from "node:net"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { killAll, type RunnerProcess, start } from "../test/support/launcher.ts"

const here = dirname(fileURLToPath(import.meta.url))
const resultsDir = resolve(here, "../../../bench-results")
const load = join(here, "load.ts")
const url = process.env["MAILROOM_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/test"
const shards = 60
const rounds = Math.max(1, Number(process.env["BENCH_ROUNDS"] ?? "1"))
const figures = (process.env["BENCH_FIGURES"] ?? "ask,seq,tell,persisted").split(",")
const configs = (process.env["BENCH_CONFIGS"] ?? "local,inprocess,1,2,3").split(",")

const figureTitles: Record<string, string> = {
  ask: "ask round trips/s, 32 callers over 128 entities",
  seq: "ask round trips/s, one caller (1 / per-message latency)",
  tell: "volatile tells handled/s, 32 senders over 128 entities",
  persisted: "persisted tells handled/s (stored in PostgreSQL before acknowledged), 32 senders"
}
const configNames: Record<string, string> = {
  local: "local ActorSystem, 1 process",
  inprocess: "1 runner, client in the runner",
  "1": "1 runner + client process",
  "2": "2 runners + client process",
  "3": "3 runners + client process"
}

const freePort = (): Promise<number> =>
  new Promise((ok, fail) => {
    const server = createServer()
    server.on("error", fail)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => ok(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

const runLoad = async (args: ReadonlyArray<string>, env: Record<string, string>): Promise<Record<string, unknown>> => {
  const p = start({ name: `load ${args.join(" ")}`, script: load, args, env: { MAILROOM_PG_URL: url, ...env } })
  const line = await p.waitFor("@@", 180_000).catch((e: unknown) => `@@ERROR ${JSON.stringify(String(e))}`)
  await p.exited
  if (line.startsWith("@@RESULT ")) return JSON.parse(line.slice(9)) as Record<string, unknown>
  throw new Error(`${args.join(" ")}: ${line.slice(8)} ${p.stderr().slice(-1500)}`)
}

const statsOf = (p: RunnerProcess) => {
  const line = p.last("STATS ")
  if (line === undefined) return { shards: 0, processed: 0, cpuMicros: 0 }
  const parsed = JSON.parse(line.slice(6)) as { shards: number; entities: Record<string, { processed: number }>; cpuMicros: number }
  return { shards: parsed.shards, processed: parsed.entities["Bench"]?.processed ?? 0, cpuMicros: parsed.cpuMicros }
}

interface Measured {
  readonly config: string
  readonly figure: string
  readonly round: number
  readonly result: Record<string, unknown>
  /** Messages each runner handled during this figure (its share). */
  readonly share?: ReadonlyArray<number>
  /** CPU time the runners spent per message they handled during this figure (warm-up included). */
  readonly runnerCpuMicrosPerMessage?: number | undefined
}

const measured: Array<Measured> = []
const stamp = Date.now().toString(36)
let schemas = 0

const runConfig = async (config: string, round: number) => {
  if (config === "local") {
    for (const figure of figures) measured.push({ config, figure, round, result: await runLoad(["local", figure], {}) })
    return
  }
  const schema = `mrc_bench_${stamp}_${schemas++}`
  const env = { CLUSTER_SCHEMA: schema, CLUSTER_PREFIX: `b_${stamp}_${schemas}`, CLUSTER_SHARDS: String(shards) }
  await runLoad(["setup", schema], {})
  const runners: Array<RunnerProcess> = []
  try {
    if (config === "inprocess") {
      for (const figure of figures) {
        const port = await freePort()
        measured.push({ config, figure, round, result: await runLoad(["inprocess", figure], { ...env, CLUSTER_PORT: String(port) }) })
      }
      return
    }
    const n = Number(config)
    for (let i = 0; i < n; i++) {
      const port = await freePort()
      runners.push(start({
        name: `runner-${i}`,
        env: {
          MAILROOM_PG_URL: url,
          ...env,
          CLUSTER_PORT: String(port),
          CLUSTER_ENTITIES: join(here, "entities.ts"),
          CLUSTER_STATS_MS: "250",
          CLUSTER_SHARDING: JSON.stringify({ entityMessagePollInterval: "1 second" })
        }
      }))
    }
    await Promise.all(runners.map((r) => r.waitFor("READY", 60_000)))
    const deadline = Date.now() + 60_000
    while (runners.reduce((sum, r) => sum + statsOf(r).shards, 0) !== shards || runners.some((r) => statsOf(r).shards === 0)) {
      if (Date.now() > deadline) throw new Error(`runners did not share the ${shards} shards within 60 s`)
      await new Promise((r) => setTimeout(r, 100))
    }
    for (const figure of figures) {
      await new Promise((r) => setTimeout(r, 300)) // a fresh STATS line
      const before = runners.map(statsOf)
      const result = await runLoad(["cluster", figure], env)
      await new Promise((r) => setTimeout(r, 300)) // the runners' next STATS line
      const after = runners.map(statsOf)
      const share = after.map((s, i) => s.processed - before[i]!.processed)
      const cpu = after.reduce((sum, s, i) => sum + s.cpuMicros - before[i]!.cpuMicros, 0)
      const handled = share.reduce((a, b) => a + b, 0)
      measured.push({ config, figure, round, result, share, runnerCpuMicrosPerMessage: handled > 0 ? cpu / handled : undefined })
    }
  } finally {
    await killAll(runners)
    await runLoad(["drop", schema], {}).catch((e: unknown) => console.error(`could not drop schema ${schema}: ${String(e)}`))
  }
}

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? NaN
}

const fmt = (v: number) => (v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)} k` : v.toFixed(0))

const stale = await runLoad(["dropstale"], {})
if (Array.isArray(stale["dropped"]) && stale["dropped"].length > 0) console.log(`dropped schemas of killed runs: ${stale["dropped"].join(", ")}`)
const loadStart = loadavg()
const started = Date.now()
console.log(`@mailroom/cluster bench — node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), ${rounds} round(s)`)
for (let round = 1; round <= rounds; round++) {
  for (const config of configs) {
    process.stdout.write(`round ${round}: ${configNames[config] ?? config} ...\n`)
    await runConfig(config, round)
  }
}
const loadEnd = loadavg()

const summary = figures.map((figure) => {
  const rows = configs.map((config) => {
    const runs = measured.filter((m) => m.config === config && m.figure === figure)
    const value = median(runs.map((m) => Number(m.result["value"])))
    const mid = runs.find((m) => Number(m.result["value"]) === value) ?? runs[0]
    return {
      config,
      name: configNames[config] ?? config,
      value,
      runs: runs.map((m) => Number(m.result["value"])),
      detail: mid?.result,
      share: mid?.share,
      runnerCpu: mid?.runnerCpuMicrosPerMessage
    }
  })
  const baseline = rows.find((r) => r.config === "local")
  return { figure, title: figureTitles[figure] ?? figure, unit: String(rows[0]?.detail?.["unit"] ?? ""), baseline, rows }
})

for (const fig of summary) {
  console.log(`\n${fig.title}`)
  console.log(`${"configuration".padEnd(32)} ${"value".padStart(10)}  ${"vs local".padStart(9)}  extra`)
  for (const row of fig.rows) {
    const ratio = fig.baseline !== undefined ? row.value / fig.baseline.value : NaN
    const extra = fig.figure === "ask" || fig.figure === "seq"
      ? `p50 ${Number(row.detail?.["p50Micros"]).toFixed(0)} µs, p99 ${Number(row.detail?.["p99Micros"]).toFixed(0)} µs`
      : `accepted ${fmt(Number(row.detail?.["acceptedPerSec"]))}/s, drained in ${Number(row.detail?.["drainSeconds"]).toFixed(2)} s`
    const share = row.share !== undefined ? `; share ${row.share.join("/")}` : ""
    const cpu = `; CPU µs/msg client ${Number(row.detail?.["clientCpuMicrosPerMessage"]).toFixed(0)}` +
      (row.runnerCpu !== undefined ? `, runners ${row.runnerCpu.toFixed(0)}` : "")
    console.log(`${row.name.padEnd(32)} ${fmt(row.value).padStart(10)}  ${(ratio.toFixed(3) + "x").padStart(9)}  ${extra}${share}${cpu}`)
  }
}

mkdirSync(resultsDir, { recursive: true })
const file = join(resultsDir, "cluster-scaling.json")
writeFileSync(file, JSON.stringify({
  package: "@mailroom/cluster",
  benchmark: "cluster-scaling",
  date: new Date(started).toISOString(),
  node: process.version,
  cpus: cpus().length,
  machine: `${cpus().length} CPUs shared by every process of the run (runners, client, PostgreSQL) and other work; load average ${loadStart.map((l) => l.toFixed(2)).join(" ")} at start, ${loadEnd.map((l) => l.toFixed(2)).join(" ")} at end`,
  rounds,
  seconds: Number(process.env["BENCH_SECONDS"] ?? "3"),
  shardsPerGroup: shards,
  figures: summary.map((fig) => ({
    figure: fig.figure,
    title: fig.title,
    unit: fig.unit,
    baseline: fig.baseline !== undefined ? { name: fig.baseline.name, value: fig.baseline.value } : undefined,
    results: fig.rows.map((row) => ({
      name: row.name,
      unit: fig.unit,
      value: row.value,
      baseline: fig.baseline?.value,
      ratio: fig.baseline !== undefined ? row.value / fig.baseline.value : undefined,
      runs: row.runs,
      detail: row.detail,
      runnerShare: row.share,
      runnerCpuMicrosPerMessage: row.runnerCpu
    }))
  }))
}, null, 2) + "\n")
console.log(`\nwrote ${file} (${((Date.now() - started) / 1000).toFixed(0)} s)`)
