/**
 * `mailroom bench`: runs every package's benchmark (`npx nx run-many -t bench --parallel=1`)
 * from the repository root, then prints the comparison tables from `bench-results/*.json`.
 *
 * The JSON files are written by different packages in slightly different shapes; the printer
 * reads the common parts: a title, and rows from `figures` (name, value, unit, baselines,
 * target, met), `results` (name or system, value or jobs/s) and `targets`.
 */
import { Effect } from "effect"
import { spawn } from "node:child_process"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fail } from "./Failure.js"

/** The repository root: the nearest folder above `from` holding `nx.json`. */
export const findRoot = (from: string): string | undefined => {
  let dir = from
  while (true) {
    if (existsSync(join(dir, "nx.json"))) return dir
    const up = dirname(dir)
    if (up === dir) return undefined
    dir = up
  }
}

/** Runs the benchmarks (output streamed to the terminal). */
export const runAll = (root: string) =>
  Effect.callback<void, ReturnType<typeof fail>>((resume) => {
    const child = spawn("npx", ["nx", "run-many", "-t", "bench", "--parallel=1", "--output-style=stream"], { cwd: root, stdio: "inherit" })
    child.on("error", (e) => resume(Effect.fail(fail(`cannot run the benchmarks: ${e.message}`))))
    child.on("exit", (code, signal) =>
      resume(
        code === 0 ? Effect.void : Effect.fail(fail(
          `the benchmarks failed (nx ${code === null ? `was stopped by ${signal}` : `exited with ${code}`}; its output is above); ` +
            "`mailroom bench --no-run` prints the tables of the last results"
        ))
      ))
    // Interrupted (Ctrl-C): stop nx and wait for it, so nothing keeps running after the command ends.
    return Effect.callback<void>((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done(Effect.void)
      child.once("exit", () => done(Effect.void))
      child.kill("SIGINT")
    })
  })

const fmt = (v: unknown): string => {
  if (typeof v !== "number") return v === undefined ? "" : String(v)
  if (Number.isInteger(v)) return v.toLocaleString("en-US")
  const abs = Math.abs(v)
  return abs >= 1000 ? Math.round(v).toLocaleString("en-US") : abs >= 1 ? v.toFixed(2) : v.toPrecision(3)
}

const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): Array<string> => {
  const widths = header.map((h, i) => Math.min(60, Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length))))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => (c.length > widths[i]! ? c.slice(0, widths[i]! - 1) + "…" : c.padEnd(widths[i]!))).join("  ").trimEnd()
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)]
}

/** The tables of one result file. */
export const describeFile = (name: string, data: any): Array<string> => {
  const title = data?.title ?? data?.benchmark ?? data?.figure ?? name
  const out = [`## ${name.replace(/\.json$/, "")}: ${title}${data?.date ? `  (${data.date})` : ""}`]
  if (Array.isArray(data?.figures)) {
    out.push(...table(["figure", "value", "unit", "baselines", "target", "met"], data.figures.map((f: any) => [
      String(f.name ?? ""),
      fmt(f.value),
      String(f.unit ?? ""),
      f.baselines && typeof f.baselines === "object" ? Object.entries(f.baselines).map(([k, v]) => `${k}: ${fmt(v)}`).join("; ") : fmt(f.baseline),
      String(f.target ?? ""),
      f.met === undefined ? "" : f.met ? "yes" : "NO"
    ])))
  } else if (Array.isArray(data?.results)) {
    out.push(...table(["name", "value", "unit"], data.results.map((r: any) => [
      String(r.name ?? r.system ?? ""),
      fmt(r.value ?? r.jobsPerSec),
      String(r.unit ?? data.unit ?? (r.jobsPerSec !== undefined ? "jobs/s" : ""))
    ])))
  }
  if (Array.isArray(data?.targets)) {
    out.push(...table(["target", "value", "required", "met"], data.targets.map((t: any) => [
      String(t.description ?? t.name ?? ""),
      fmt(t.value),
      fmt(t.required),
      t.met ? "yes" : "NO"
    ])))
  }
  return out
}

/** Every table from `<root>/bench-results/*.json`. */
export const tables = (root: string) =>
  Effect.try({
    try: () => {
      const dir = join(root, "bench-results")
      if (!existsSync(dir)) return [`no results yet in ${dir} (run \`mailroom bench\` without --no-run)`]
      const files = readdirSync(dir).filter((f) => f.endsWith(".json")).sort()
      const out: Array<string> = []
      for (const f of files) {
        let data: unknown
        try {
          data = JSON.parse(readFileSync(join(dir, f), "utf8"))
        } catch (e) {
          out.push(`## ${f}: unreadable (${e instanceof Error ? e.message : String(e)})`, "")
          continue
        }
        out.push(...describeFile(f, data), "")
      }
      return out
    },
    catch: (e) => fail(`cannot read the benchmark results: ${e instanceof Error ? e.message : String(e)}`)
  })
