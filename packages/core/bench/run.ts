/**
 * Benchmark driver for @mailroom/core: `npx nx run core:bench` (or `node bench/run.ts`).
 *
 * For every figure, every contender runs in several separate child processes
 * (`node --expose-gc bench/worker.ts <figure> <contender>`, processes of different contenders
 * interleaved so background load hits all of them alike). The table shows the median across
 * processes and the min–max spread; one JSON file per figure goes to `bench-results/`.
 *
 * Options: `--runs=N` processes per contender (default: 5 for tell/ask, 3 for memory/spawn;
 * env BENCH_RUNS),
 * `--figures=tell,ask,memory,spawn`, `--only=<substring of contender names>`.
 */
import { spawnSync } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { figures, type ContenderSpec, type FigureSpec } from "./figures.ts"
import { median, type ProcessResult } from "./harness.ts"

const benchDir = dirname(fileURLToPath(import.meta.url))
const resultsDir = join(benchDir, "..", "..", "..", "bench-results")
const workerPath = join(benchDir, "worker.ts")

const argValue = (key: string): string | undefined => {
  const prefix = `--${key}=`
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length)
}

const runsOverride = argValue("runs") ?? process.env["BENCH_RUNS"]
if (runsOverride !== undefined && !(Number.isInteger(Number(runsOverride)) && Number(runsOverride) >= 1)) {
  throw new Error(`--runs / BENCH_RUNS must be a positive integer, got "${runsOverride}"`)
}
const figureFilter = argValue("figures")?.split(",")
const only = argValue("only")

const unknownFigures = (figureFilter ?? []).filter((id) => !figures.some((f) => f.id === id))
if (unknownFigures.length > 0) {
  throw new Error(`unknown figure(s) ${unknownFigures.join(", ")}; known: ${figures.map((f) => f.id).join(", ")}`)
}

interface Outcome {
  readonly results: Array<ProcessResult>
  readonly errors: Array<string>
}

const runProcess = (figure: FigureSpec, contender: ContenderSpec): ProcessResult | string => {
  const child = spawnSync(process.execPath, ["--expose-gc", workerPath, figure.id, contender.name], {
    encoding: "utf8",
    timeout: 180_000,
    maxBuffer: 16 * 1024 * 1024
  })
  const out = child.stdout ?? ""
  const resultLine = out.split("\n").find((l) => l.startsWith("@@RESULT "))
  if (resultLine !== undefined) return JSON.parse(resultLine.slice("@@RESULT ".length)) as ProcessResult
  const errorLine = out.split("\n").find((l) => l.startsWith("@@ERROR "))
  if (errorLine !== undefined) return JSON.parse(errorLine.slice("@@ERROR ".length)) as string
  const stderr = (child.stderr ?? "").trim().split("\n").slice(-3).join(" | ")
  return `worker exited with ${String(child.status ?? child.signal)}${child.error ? ` (${child.error.message})` : ""}: ${stderr}`
}

// ---- formatting -------------------------------------------------------------------------------

const fmt = (unit: string, v: number): string => {
  if (!Number.isFinite(v)) return "-"
  if (unit.endsWith("/s")) {
    if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M`
    if (v >= 1e3) return `${(v / 1e3).toFixed(1)} k`
    return v.toFixed(0)
  }
  return v.toFixed(0)
}

const pad = (s: string, n: number): string => (s.length >= n ? s : s + " ".repeat(n - s.length))
const padL = (s: string, n: number): string => (s.length >= n ? s : " ".repeat(n - s.length) + s)

const printTable = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): void => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (i === 0 ? pad(c, widths[i]!) : padL(c, widths[i]!))).join("  ")
  console.log(line(header))
  console.log(widths.map((w) => "-".repeat(w)).join("  "))
  for (const r of rows) console.log(line(r))
}

// ---- main ---------------------------------------------------------------------------------------

const started = Date.now()
const date = new Date().toISOString()
mkdirSync(resultsDir, { recursive: true })
console.log(`@mailroom/core benchmarks — node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"})`)
console.log("each contender runs in several separate processes; median and min–max across processes")

for (const figure of figures) {
  if (figureFilter !== undefined && !figureFilter.includes(figure.id)) continue
  const contenders = figure.contenders.filter((c) => only === undefined || c.name.includes(only))
  if (contenders.length === 0) continue
  const outcomes = new Map<string, Outcome>(contenders.map((c) => [c.name, { results: [], errors: [] }]))
  const figureStart = Date.now()
  const loadStart = loadavg()[0]!
  const runs = runsOverride !== undefined ? Number(runsOverride) : figure.runs
  for (let r = 0; r < runs; r++) {
    for (const c of contenders) {
      if (runsOverride === undefined && c.runs !== undefined && r >= c.runs) continue
      const out = outcomes.get(c.name)!
      // a contender that cannot run (e.g. core not built) fails fast: do not retry it `runs` times
      if (out.errors.length > 0 && out.results.length === 0) continue
      const res = runProcess(figure, c)
      if (typeof res === "string") out.errors.push(res)
      else out.results.push(res)
    }
  }
  const processes = [...outcomes.values()].reduce((n, o) => n + o.results.length + o.errors.length, 0)
  const seconds = ((Date.now() - figureStart) / 1000).toFixed(1)
  const loadEnd = loadavg()[0]!

  const summary = contenders.map((c) => {
    const { results, errors } = outcomes.get(c.name)!
    const values = results.map((r) => r.value)
    const extraKeys = [...new Set(results.flatMap((r) => Object.keys(r.extra ?? {})))]
    const extra = Object.fromEntries(
      extraKeys.map((k) => {
        const xs = results.map((r) => r.extra?.[k]).filter((x): x is number => typeof x === "number")
        return [k, { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) }]
      })
    )
    return {
      spec: c,
      value: median(values),
      min: values.length > 0 ? Math.min(...values) : Number.NaN,
      max: values.length > 0 ? Math.max(...values) : Number.NaN,
      values,
      results,
      errors,
      extra
    }
  })
  const baseline = summary.find((s) => s.spec.name === figure.baseline)
  const libraries = summary.filter((s) => s.spec.role === "library" && s.values.length > 0)
  const bestLibrary = libraries.reduce<(typeof summary)[number] | undefined>(
    (best, s) =>
      best === undefined || (figure.higherIsBetter ? s.value > best.value : s.value < best.value) ? s : best,
    undefined
  )

  const judge = (s: (typeof summary)[number]): { met: boolean | null; why: string } => {
    if (s.spec.role !== "mailroom" || s.spec.informational === true) return { met: null, why: "" }
    if (s.values.length === 0) return { met: false, why: "not measured" }
    const t = figure.target
    const byValue = t.op === ">=" ? s.value >= t.value : s.value <= t.value
    let why = `${t.op} ${fmt(figure.unit, t.value)}`
    let met = byValue
    if (t.aheadOfLibraries === true && bestLibrary !== undefined) {
      const ahead = figure.higherIsBetter ? s.value > bestLibrary.value : s.value < bestLibrary.value
      met = met && ahead
      why += `, ahead of ${bestLibrary.spec.name}${ahead ? "" : " (NOT ahead)"}`
    }
    return { met, why }
  }

  console.log(`\n## ${figure.title}  [${figure.unit}]`)
  console.log(
    `(${processes} processes in ${seconds} s; median and min–max across processes; ` +
      `1-min load average ${loadStart.toFixed(1)} -> ${loadEnd.toFixed(1)} on ${cpus().length} CPUs)`
  )
  const isAsk = summary.some((s) => s.extra["p99Us"] !== undefined)
  const header = ["contender", "median", "min–max", `ratio to ${figure.baseline}`]
  if (isAsk) header.push("p50 µs", "p99 µs (worst process)")
  header.push("target", "met")
  const rows = summary.map((s) => {
    const measured = s.values.length > 0
    const j = judge(s)
    const row = [
      s.spec.name,
      measured ? fmt(figure.unit, s.value) : "—",
      measured ? `${fmt(figure.unit, s.min)}–${fmt(figure.unit, s.max)}` : s.errors[0]?.slice(0, 70) ?? "—",
      measured && baseline !== undefined && baseline.values.length > 0 ? (s.value / baseline.value).toFixed(3) : "—"
    ]
    if (isAsk) {
      const p50 = s.extra["p50Us"]
      const p99 = s.extra["p99Us"]
      row.push(p50 ? p50.median.toFixed(2) : "—", p99 ? `${p99.median.toFixed(1)} (${p99.max.toFixed(1)})` : "—")
    }
    row.push(j.why, j.met === null ? "" : j.met ? "yes" : "NO")
    return row
  })
  printTable(header, rows)
  for (const s of summary) {
    if (s.errors.length > 0) console.log(`  ! ${s.spec.name}: ${s.errors.length} failed process(es): ${s.errors[0]}`)
  }

  const peers = Object.fromEntries(
    summary.filter((s) => s.values.length > 0).map((s) => [s.spec.name, s.value])
  )
  const json = {
    package: "@mailroom/core",
    figure: figure.id,
    title: figure.title,
    unit: figure.unit,
    node: process.version,
    date,
    cpus: cpus().length,
    loadAverage1m: { start: loadStart, end: loadEnd },
    processesPerContender: runs,
    baseline: figure.baseline,
    results: summary.map((s) => {
      const j = judge(s)
      return {
        name: s.spec.name,
        role: s.spec.role,
        how: s.spec.how,
        unit: figure.unit,
        value: s.values.length > 0 ? s.value : null,
        min: s.values.length > 0 ? s.min : null,
        max: s.values.length > 0 ? s.max : null,
        runs: s.values,
        processes: s.values.length,
        roundsPerProcess: s.results.map((r) => r.rounds),
        extra: s.extra,
        ratioToBaseline:
          s.values.length > 0 && baseline !== undefined && baseline.values.length > 0 ? s.value / baseline.value : null,
        baselines: Object.fromEntries(Object.entries(peers).filter(([n]) => n !== s.spec.name)),
        target: j.met === null ? null : { ...figure.target, text: j.why },
        met: j.met,
        errors: s.errors,
        node: process.version,
        date
      }
    })
  }
  const file = join(resultsDir, `core-${figure.id}.json`)
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`)
  console.log(`  -> ${file}`)
}

console.log(`\ntotal ${((Date.now() - started) / 1000).toFixed(1)} s`)
