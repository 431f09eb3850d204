/**
 * The cluster task bench: `node bench/tasks.ts` (part of `npx nx run cluster:bench`).
 *
 * The partitioned task pipeline (`ClusterTasks`, 8 partitions) on 1, 2 and 3 runner processes on
 * this machine's PostgreSQL, driven by a client-only load process, beside the same pipeline in
 * one process without the cluster (the baseline: no hop, one stream). Each task's handler writes
 * an effect row in the SQL guard's transaction. Figures: tasks completed/s (first submit → last
 * effect row), accepted/s, and one task's submit → final latency (p50/p99 of 50 in a row: the
 * per-message overhead of the hop and the status polling).
 *
 * Every process is `node` on the TypeScript sources; each configuration gets a fresh schema,
 * dropped afterwards. Env: TASKS (20,000), BENCH_CONFIGS (single,1,2,3), BENCH_ROUNDS (1).
 * Writes `bench-results/cluster-tasks.json`.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { killAll, type RunnerProcess, start } from "../test/support/launcher.ts"
import { adminLayer, freePort } from "../test/support/pg.ts"
import { PgClient } from "@effect/sql-pg"

const here = dirname(fileURLToPath(import.meta.url))
const resultsDir = resolve(here, "../../../bench-results")
const url = process.env["MAILROOM_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/test"
const configs = (process.env["BENCH_CONFIGS"] ?? "single,1,2,3").split(",")
const rounds = Math.max(1, Number(process.env["BENCH_ROUNDS"] ?? "1"))
const SHARDS = 60
const PARTITIONS = 8

const sql = (statement: string) =>
  Effect.runPromise(Effect.flatMap(PgClient.PgClient, (c) => c.unsafe(statement)).pipe(Effect.provide(adminLayer(url)), Effect.scoped))

let counter = 0
const runConfig = async (config: string) => {
  const schema = `mrb_${Date.now().toString(36)}_${counter++}`
  const prefix = `b_${schema.slice(4)}`
  await sql(`CREATE SCHEMA "${schema}"`)
  await sql(`CREATE TABLE "${schema}".task_effects (task_id TEXT NOT NULL, n INTEGER NOT NULL, runner INTEGER NOT NULL)`)
  const runners: Array<RunnerProcess> = []
  try {
    const env = {
      MAILROOM_PG_URL: url,
      CLUSTER_SCHEMA: schema,
      CLUSTER_PREFIX: prefix,
      CLUSTER_SHARDS: String(SHARDS),
      CLUSTER_TASK_PARTITIONS: String(PARTITIONS),
      CLUSTER_STATS_MS: "500"
    }
    const n = config === "single" ? 0 : Number(config)
    for (let i = 0; i < n; i++) {
      runners.push(start({ name: `runner-${i}`, script: join(here, "../test/support/taskRunner.ts"), env: { ...env, CLUSTER_PORT: String(await freePort()) } }))
    }
    await Promise.all(runners.map((r) => r.waitFor("READY", 60_000)))
    // Every partition running before the load starts.
    const deadline = Date.now() + 60_000
    const running = () =>
      new Set(runners.flatMap((r) => (JSON.parse(r.last("STATS ")?.slice(6) ?? `{"partitions":[]}`) as { partitions: Array<number> }).partitions)).size
    while (runners.length > 0 && running() !== PARTITIONS) {
      if (Date.now() > deadline) throw new Error("the partitions did not start")
      await new Promise((r) => setTimeout(r, 100))
    }
    const load = start({ name: `load ${config}`, script: join(here, "tasksLoad.ts"), args: [config === "single" ? "single" : "cluster"], env })
    const line = await load.waitFor("@@", 600_000).catch((e: unknown) => `@@ERROR ${JSON.stringify(String(e))}`)
    await load.exited
    if (!line.startsWith("@@RESULT ")) throw new Error(`${config}: ${line} ${load.stderr().slice(-1500)}`)
    const result = JSON.parse(line.slice(9)) as Record<string, number>
    const shares = runners.map((r) => (JSON.parse(r.last("STATS ")?.slice(6) ?? `{"runs":0}`) as { runs: number }).runs)
    return { ...result, shares }
  } finally {
    await killAll(runners)
    await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  }
}

const names: Record<string, string> = {
  single: "one process, plain Pipeline (no cluster)",
  "1": "1 runner + client process",
  "2": "2 runners + client process",
  "3": "3 runners + client process"
}

const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const main = async () => {
  const results: Record<string, Array<Record<string, unknown>>> = {}
  for (let r = 0; r < rounds; r++) {
    for (const config of configs) {
      const result = await runConfig(config)
      ;(results[config] ??= []).push(result)
      console.log(`${names[config] ?? config}: ${JSON.stringify(result)}`)
    }
  }
  const rows = configs.map((c) => {
    const rs = results[c]!
    return {
      config: c,
      name: names[c] ?? c,
      jobsPerSec: median(rs.map((x) => x["jobsPerSec"] as number)),
      submitPerSec: median(rs.map((x) => x["submitPerSec"] as number)),
      latencyP50: median(rs.map((x) => x["latencyP50"] as number)),
      latencyP99: median(rs.map((x) => x["latencyP99"] as number)),
      shares: rs[rs.length - 1]!["shares"]
    }
  })
  console.log("\n| configuration | tasks/s | accepted/s | one task submit → final p50 / p99 (ms) | tasks run per runner |")
  console.log("| --- | --- | --- | --- | --- |")
  for (const row of rows) {
    console.log(`| ${row.name} | ${row.jobsPerSec.toLocaleString("en")} | ${row.submitPerSec.toLocaleString("en")} | ${row.latencyP50.toFixed(1)} / ${row.latencyP99.toFixed(1)} | ${(row.shares as Array<number>).join(" / ") || "–"} |`)
  }
  const single = rows.find((r) => r.config === "single")
  const three = rows.find((r) => r.config === "3")
  mkdirSync(resultsDir, { recursive: true })
  writeFileSync(join(resultsDir, "cluster-tasks.json"), JSON.stringify({
    name: "cluster-tasks",
    unit: "tasks/s",
    value: three?.jobsPerSec ?? null,
    baseline: single?.jobsPerSec ?? null,
    partitions: PARTITIONS,
    tasks: Number(process.env["TASKS"] ?? "20000"),
    machine: { cpus: cpus().length, load: loadavg() },
    date: new Date().toISOString(),
    rows,
    rounds: results
  }, null, 2) + "\n")
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
