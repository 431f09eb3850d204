/**
 * Bench reporting: a readable table on stdout and one JSON file per figure under
 * /work/main/bench-results/persistence-<figure>.json.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

export interface Result {
  readonly name: string
  readonly role: "subject" | "baseline" | "reference"
  readonly how: string
  readonly unit: string
  /** Median of the runs. */
  readonly value: number
  readonly runs: ReadonlyArray<number>
}

export interface Figure {
  readonly figure: string
  readonly title: string
  readonly unit: string
  readonly results: ReadonlyArray<Result>
  readonly targets: ReadonlyArray<{ readonly description: string; readonly value: number; readonly required: number; readonly met: boolean }>
  readonly skipped?: string
  readonly notes?: ReadonlyArray<string>
}

export const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), "../../../bench-results")

const fmt = (n: number) => (n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(2))

export const report = (figure: Figure) => {
  console.log(`\n== ${figure.title}`)
  if (figure.skipped) console.log(`   SKIPPED: ${figure.skipped}`)
  for (const r of figure.results) {
    console.log(`   ${r.name.padEnd(52)} ${fmt(r.value).padStart(14)} ${r.unit.padEnd(10)} [${r.role}] runs: ${r.runs.map(fmt).join(", ")}`)
  }
  for (const t of figure.targets) {
    console.log(`   target ${t.description}: ${fmt(t.value)} (needs ${fmt(t.required)}) ${t.met ? "MET" : "NOT MET"}`)
  }
  for (const note of figure.notes ?? []) console.log(`   note: ${note}`)
  mkdirSync(resultsDir, { recursive: true })
  const file = join(resultsDir, `persistence-${figure.figure}.json`)
  writeFileSync(
    file,
    JSON.stringify(
      {
        package: "@mailroom/persistence",
        ...figure,
        node: process.version,
        date: new Date().toISOString(),
        cpus: cpus().length,
        loadAverage: loadavg(),
        machine: "shared 2-core machine, other work running concurrently: figures are noisy"
      },
      null,
      2
    )
  )
  console.log(`   -> ${file}`)
}
