/**
 * Runs every scheduler benchmark, each in its own Node process (so one's heap and JIT state do
 * not skew the next); each prints a table and writes bench-results/scheduler-<name>.json.
 * Then prints a summary of every figure against its target.
 */
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { type Figure, resultsDir } from "./lib.ts"

const here = dirname(fileURLToPath(import.meta.url))
const suites: ReadonlyArray<readonly [string, string]> = [
  ["coalescing", "read coalescing under open-loop load (simulated time)"],
  ["combining", "write combining (simulated time)"],
  ["elevator", "elevator vs FIFO vs ideal sweep (simulated disk)"],
  ["overhead", "scheduler overhead (real time, no-op backend)"],
  ["scaling", "load scaling 1 -> 1,000 submitters (simulated time)"]
]

const t0 = performance.now()
const all: Array<Figure> = []
let failed = false
for (const [name, title] of suites) {
  console.log(`\n== ${title}`)
  const r = spawnSync(process.execPath, [join(here, `${name}.ts`)], { stdio: "inherit" })
  if (r.status !== 0) {
    failed = true
    console.log(`benchmark ${name} exited with ${r.status}`)
    continue
  }
  const json = JSON.parse(readFileSync(join(resultsDir, `scheduler-${name}.json`), "utf8")) as { figures: Array<Figure> }
  all.push(...json.figures)
}
console.log("\n== summary (targets are reported, not enforced)")
for (const f of all) {
  console.log(`${f.met === undefined ? " " : f.met ? "✓" : "✗"} ${f.name}: ${f.value} ${f.unit}${f.target ? `  (target ${f.target})` : ""}`)
}
console.log(`total ${((performance.now() - t0) / 1000).toFixed(1)} s`)
if (failed) process.exitCode = 1
