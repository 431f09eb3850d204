/**
 * The terminal view: a short live summary with a progress bar, redrawn in place on a terminal
 * (plain lines every few seconds when the output is a pipe or a file), and the closing story.
 *
 * Text that can come from outside (a customer name, an error that quotes a request) never
 * reaches the terminal raw: `escape` turns control characters (an ESC sequence can clear the
 * screen or retitle the window), lone surrogates and invisible or bidi format characters into
 * visible escapes, and the shop's `logger` passes every log line through it.
 */
import { Logger } from "effect"
import type { Figures } from "./Desk.js"
import type { Snapshot } from "./Monitor.js"

// C0 controls, DEL, C1 controls, the backslash (so an escape in the input cannot pass for one we
// wrote), format characters (bidi overrides, zero-width characters), line and paragraph
// separators, and surrogates: with the `u` flag only a lone surrogate matches `[\ud800-\udfff]`.
// oxlint-disable-next-line no-control-regex -- matching control characters is the point
const unsafe = /[\u0000-\u001f\u007f-\u009f\\\p{Cf}\u2028\u2029\ud800-\udfff]/gu

const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\" }

/** Makes text safe to print on a terminal: every character that could act instead of show is written as an escape. */
export const escape = (text: string): string =>
  text.replace(unsafe, (c) => {
    const known = named[c]
    if (known !== undefined) return known
    const code = c.charCodeAt(0)
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`
  })

/**
 * The shop's logger: Effect's simple format (`timestamp=… level=… message=…`), every line
 * escaped before it is written (one log entry is one line: newlines inside show as `\n`).
 */
export const logger = (write: (line: string) => void = (line) => console.error(line)) =>
  Logger.make((options) => write(escape(Logger.formatSimple.log(options))))

const bar = (fraction: number, width = 24) => {
  const f = Math.max(0, Math.min(1, fraction))
  const full = Math.round(f * width)
  return "█".repeat(full) + "░".repeat(width - full)
}

/** The live block: a few lines, same number every time (so it can be redrawn in place). */
export const live = (s: Snapshot, f: Figures, elapsed: number, duration: number | undefined): ReadonlyArray<string> => {
  // rates averaged over the last second or so: completions arrive in bundles
  const recent = s.samples.slice(-3)
  const avg = (k: "arrivals" | "completions" | "throttled") =>
    recent.length === 0 ? 0 : Math.round(recent.reduce((a, x) => a + x[k], 0) / recent.length)
  const progress = duration === undefined
    ? `${elapsed.toFixed(1)} s (until Ctrl-C)`
    : `[${bar(elapsed / duration)}] ${elapsed.toFixed(1)} s / ${duration} s`
  const lines = f.warehouse.submitted - f.warehouse.pending
  const perJob = f.warehouse.dispatched > 0 ? lines / f.warehouse.dispatched : 0
  return [
    `${progress}   load: ${s.load.running ? `${s.load.phase}, ${s.load.rate} orders/s wanted` : "off"}`,
    `orders/s   in ${pad(avg("arrivals"))}  done ${pad(avg("completions"))}  throttled ${pad(avg("throttled"))}   backlog ${pad(f.backlog)} (oldest ${(f.oldestAgeMs / 1000).toFixed(1)} s, high-water ${f.highWater})`,
    `warehouse  ${f.workers}/${f.maxWorkers} workers (${f.busyWorkers} busy)   ${f.warehouse.dispatched} jobs for ${lines} picks (${perJob.toFixed(1)} lines per job)`,
    `totals     accepted ${f.accepted}  completed ${f.completed}  throttled ${f.throttled}${f.recovered > 0 ? `  recovered from last run ${f.recovered}` : ""}`,
    ...(f.cluster === undefined ? [] : [`cluster    ${clusterLine(f.cluster)}`])
  ]
}

const pad = (n: number) => String(n).padStart(5)

/** One line for pipes and logs (no cursor movement): the same figures, compact. */
export const compact = (s: Snapshot, f: Figures, elapsed: number, duration: number | undefined): string => {
  const recent = s.samples.slice(-4)
  const avg = (k: "arrivals" | "completions" | "throttled") =>
    recent.length === 0 ? 0 : Math.round(recent.reduce((a, x) => a + x[k], 0) / recent.length)
  const perJob = f.warehouse.dispatched > 0 ? (f.warehouse.submitted - f.warehouse.pending) / f.warehouse.dispatched : 0
  const progress = duration === undefined ? `${elapsed.toFixed(0).padStart(4)} s` : `[${bar(elapsed / duration, 12)}] ${elapsed.toFixed(0).padStart(3)}/${duration} s`
  return `${progress} ${s.load.running ? s.load.phase.padEnd(5) : "off  "} | orders/s in ${pad(avg("arrivals"))} done ${pad(avg("completions"))} 429 ${pad(avg("throttled"))}` +
    ` | backlog ${pad(f.backlog)} (${(f.oldestAgeMs / 1000).toFixed(1)} s) | workers ${f.workers}/${f.maxWorkers} | ${perJob.toFixed(1)} lines/job`
}

/** The story told when the run ends. */
export const summary = (s: Snapshot, f: Figures, seconds: number): ReadonlyArray<string> => {
  const last = s.samples[s.samples.length - 1]
  const lines = f.warehouse.submitted
  const jobs = Math.max(f.warehouse.dispatched, 1)
  const byBacklog = f.throttled - f.throttledByTenant
  const out = [
    "",
    `Ran ${seconds.toFixed(1)} s. What happened:`,
    `  - ${f.accepted} orders were recorded in the request log and answered with a ticket at once.`,
    `  - ${f.recovered > 0 ? `Their order lines and those of the recovered orders, ${lines} in all,` : `Their ${lines} order lines`} became pick tasks, done in ${f.warehouse.dispatched} warehouse jobs: ${(lines / jobs).toFixed(1)} lines per job,`,
    `    because picks of the same item (and cart) waiting together were combined (${f.warehouse.combined} folded in).`,
    `  - Stock look-ups: ${last?.lookups ?? 0} asked, ${last?.coalesced ?? 0} shared an identical pending look-up; ` +
    `${last?.superseded ?? 0} price writes were superseded by a later one.`,
    `  - The warehouse pool grew from ${f.minWorkers} to ${Math.max(...s.samples.map((x) => x.workers), f.workers)} workers (max ${f.maxWorkers}) as the backlog grew, and shrinks again when it drains.`,
    byBacklog > 0
      ? `  - Past the high-water mark (${f.highWater} waiting) the front desk refused ${byBacklog} orders with 429 + Retry-After instead of falling over.`
      : `  - The backlog never reached the high-water mark (${f.highWater}); raise --rate to see the desk throttle (429).`
  ]
  if (f.throttledByTenant > 0) out.push(`  - ${f.throttledByTenant} orders were refused because their customer was over its rate limit (429).`)
  if (f.recovered > 0) out.push(`  - ${f.recovered} unfinished orders (${f.recoveredPicks} picks) from the last run were recovered from the log and dispatched again.`)
  if (f.reconciled > 0) out.push(`  - The reconcilers dispatched ${f.reconciled} quiet tasks again.`)
  out.push(`  - ${f.completed} orders completed${f.backlog > 0 ? `; ${f.backlog} still waiting are safe in the request log and will be finished on the next run` : ""}.`)
  if (f.cluster !== undefined) out.push(`  - Cluster: ${clusterLine(f.cluster)}.`)
  return out
}

/** Each process's share of a clustered shop, in one line. */
const clusterLine = (shares: NonNullable<Figures["cluster"]>): string =>
  shares.map((c) => `${c.self ? "this process" : c.runner} runs partitions ${c.partitions.join(",")} (${c.completions} tasks done there)`).join("; ")
