/**
 * The tasks benchmark: small jobs submitted durably and processed by a no-op handler at
 * concurrency 50 — Mailroom on SQLite (and PostgreSQL) beside BullMQ (Redis), pg-boss and
 * Graphile Worker (PostgreSQL). Each system runs in its own child process (`peer.ts`), one
 * after the other, with the same protocol (`harness.ts`): workers run while bulk submissions
 * of 1,000 jobs go in (4 in flight); throughput is jobs / (first submit → last completion);
 * then 200 single submits one at a time give the durable submit latency.
 *
 * The machine is shared and noisy, so the systems run in `MAILROOM_BENCH_ROUNDS` (default 3)
 * interleaved rounds; each figure is the median over the rounds, and every round's raw result
 * is kept in the JSON.
 *
 * Writes `bench-results/tasks-throughput.json`.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { RunResult } from "./harness.ts"

const here = path.dirname(fileURLToPath(import.meta.url))
const resultsDir = path.resolve(here, "../../../bench-results")
const scale = Number(process.env.MAILROOM_BENCH_SCALE ?? 1)
const concurrency = 50
const singles = 200
const rounds = Math.max(1, Number(process.env.MAILROOM_BENCH_ROUNDS ?? 3))

interface Plan {
  readonly system: string
  readonly jobs: number
  readonly note?: string
}

const plans: Array<Plan> = [
  { system: "mailroom-sqlite", jobs: Math.round(100_000 * scale) },
  { system: "mailroom-sqlite-batch1", jobs: Math.round(100_000 * scale), note: "each worker takes one task per pull (50 claimed at most)" },
  { system: "bullmq", jobs: Math.round(100_000 * scale) },
  { system: "graphile-worker", jobs: Math.round(100_000 * scale) },
  // pg-boss runs at a few thousand jobs/s here: 100,000 would take minutes.
  { system: "pg-boss", jobs: Math.round(20_000 * scale), note: "20,000 jobs (pg-boss is slow enough that 100,000 would not fit the time budget)" },
  { system: "mailroom-pg", jobs: Math.round(100_000 * scale) }
]

const runPeer = (plan: Plan) =>
  new Promise<RunResult | { readonly system: string; readonly error: string }>((resolve) => {
    const proc = spawn(process.execPath, [path.join(here, "peer.ts"), plan.system, String(plan.jobs), String(concurrency), String(singles)], {
      cwd: path.resolve(here, ".."),
      stdio: ["ignore", "pipe", "pipe"],
      env: process.env
    })
    let out = ""
    let err = ""
    proc.stdout.on("data", (c: Buffer) => (out += c.toString()))
    proc.stderr.on("data", (c: Buffer) => (err += c.toString()))
    const timer = setTimeout(() => proc.kill("SIGKILL"), 240_000)
    proc.on("exit", (code) => {
      clearTimeout(timer)
      const last = out.trim().split("\n").pop() ?? ""
      try {
        const result = JSON.parse(last) as RunResult
        resolve(plan.note ? { ...result, note: plan.note } : result)
      } catch {
        resolve({ system: plan.system, error: `exited with ${code}: ${(err || out).trim().split("\n").slice(-5).join(" | ")}` })
      }
    })
  })

const loadAtStart = os.loadavg().map((l) => l.toFixed(2)).join(" ")
const raw: Array<RunResult & { readonly round: number }> = []
const failures: Array<{ readonly system: string; readonly error: string }> = []
for (let round = 1; round <= rounds; round++) {
  for (const plan of plans) {
    if (failures.some((f) => f.system === plan.system)) continue
    process.stdout.write(`round ${round}/${rounds}: ${plan.system} (${plan.jobs} jobs)... `)
    const r = await runPeer(plan)
    if ("error" in r) {
      failures.push(r)
      process.stdout.write(`could not run: ${r.error}\n`)
    } else {
      raw.push({ ...r, round })
      process.stdout.write(`${Math.round(r.jobsPerSec)} jobs/s\n`)
    }
  }
}

const median = (values: Array<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
/** Per system: the median of each measure over the rounds. */
const results: Array<RunResult> = []
for (const system of new Set(raw.map((r) => r.system))) {
  const runs = raw.filter((r) => r.system === system)
  const m = (f: (r: RunResult) => number) => median(runs.map(f))
  results.push({
    ...runs[0]!,
    jobsPerSec: m((r) => r.jobsPerSec),
    submitPerSec: m((r) => r.submitPerSec),
    bulkP50: m((r) => r.bulkP50),
    bulkP99: m((r) => r.bulkP99),
    singleP50: m((r) => r.singleP50),
    singleP99: m((r) => r.singleP99)
  })
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : "-")
const rows = results.map((r) => [
  r.system,
  String(r.jobs),
  fmt(r.jobsPerSec),
  fmt(r.submitPerSec),
  `${fmt(r.bulkP50, 1)} / ${fmt(r.bulkP99, 1)}`,
  `${fmt(r.singleP50, 2)} / ${fmt(r.singleP99, 2)}`,
  r.durability
])
const header = ["system", "jobs", "jobs/s", "submit jobs/s", "bulk(1000) p50/p99 ms", "single p50/p99 ms", "durability"]
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ")
console.log("\n" + line(header))
console.log(widths.map((w) => "-".repeat(w)).join("  "))
for (const r of rows) console.log(line(r))
for (const f of failures) console.log(`${f.system}: could not run here — ${f.error}`)
for (const r of results) if (r.note) console.log(`note (${r.system}): ${r.note}`)
for (const r of results) console.log(`api (${r.system}): ${r.api}`)
console.log(`\nmedians of ${rounds} interleaved round(s); jobs/s per round:`)
for (const r of results) {
  console.log(`  ${r.system}: ${raw.filter((x) => x.system === r.system).map((x) => Math.round(x.jobsPerSec)).join(", ")}`)
}

const by = (system: string) => results.find((r) => r.system === system || r.system.startsWith(system + " "))
const subject = by("Mailroom (SQLite)")
const batch1 = results.find((r) => r.system === "Mailroom (SQLite), batch 1")
const figures: Array<Record<string, unknown>> = []
for (const r of results) {
  figures.push({
    name: `${r.system} throughput`,
    unit: "jobs/s",
    value: r.jobsPerSec,
    statistic: `median of ${rounds} rounds`,
    rounds: raw.filter((x) => x.system === r.system).map((x) => x.jobsPerSec),
    jobs: r.jobs,
    durability: r.durability,
    api: r.api
  })
  figures.push({ name: `${r.system} submit latency p50 (single)`, unit: "ms", value: r.singleP50 })
  figures.push({ name: `${r.system} submit latency p99 (single)`, unit: "ms", value: r.singleP99 })
  figures.push({ name: `${r.system} submit latency p50 (bulk of 1,000)`, unit: "ms", value: r.bulkP50 })
  figures.push({ name: `${r.system} submit latency p99 (bulk of 1,000)`, unit: "ms", value: r.bulkP99 })
}
const targets: Array<[string, number]> = [["BullMQ", 2], ["pg-boss", 10], ["Graphile Worker", 1]]
console.log("")
for (const [peer, target] of targets) {
  const baseline = by(peer)
  if (!subject || !baseline) {
    console.log(`Mailroom (SQLite) vs ${peer}: not measured`)
    continue
  }
  const ratio = subject.jobsPerSec / baseline.jobsPerSec
  const met = ratio >= target
  const ratio1 = batch1 ? ` (with batch 1: ${(batch1.jobsPerSec / baseline.jobsPerSec).toFixed(2)}×)` : ""
  console.log(`Mailroom (SQLite) vs ${peer}: ${ratio.toFixed(2)}× (target ≥ ${target}×) ${met ? "met" : "NOT met"}${ratio1}`)
  figures.push({
    name: `Mailroom (SQLite) jobs/s ÷ ${peer} jobs/s`,
    unit: "ratio",
    value: ratio,
    statistic: `ratio of medians over ${rounds} rounds`,
    baseline: { system: baseline.system, jobsPerSec: baseline.jobsPerSec },
    subject: { system: subject.system, jobsPerSec: subject.jobsPerSec },
    target,
    met,
    ...(batch1 ? { withBatch1: batch1.jobsPerSec / baseline.jobsPerSec } : {})
  })
}
fs.mkdirSync(resultsDir, { recursive: true })
const file = path.join(resultsDir, "tasks-throughput.json")
fs.writeFileSync(file, JSON.stringify({
  benchmark: "tasks-throughput",
  date: new Date().toISOString(),
  machine: `2-core machine shared with other work; load average ${loadAtStart} at start, ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} at end`,
  rounds,
  protocol: `no-op handler, concurrency ${concurrency}; bulk submits of 1,000 (4 in flight) while workers run; ${singles} single submits one at a time for latency`,
  results,
  raw,
  failures,
  figures
}, null, 2))
console.log(`\nwrote ${file}`)
