/**
 * Progress of a long read (a replay, a scan of the whole journal) on stderr, so stdout stays the
 * command's output. Every second while the work runs: events read / total, percent, rate.
 *
 * - `tty` (stderr is a terminal): one line rewritten in place, erased when the work ends;
 * - `lines` (`--progress` when stderr is not a terminal: logs, CI): a line per second and a
 *   final one when the work succeeds;
 * - `off`: nothing.
 *
 * Time is the Effect clock's monotonic time, so a wall-clock jump cannot distort the rate.
 */
import { Clock, Effect, Fiber } from "effect"
import { count } from "./Display.js"

/** How progress is shown. */
export type Mode = "tty" | "lines" | "off"

/** The mode for a command: `tty` when stderr is a terminal, `lines` when asked with `--progress`, else `off`. */
export const mode = (asked: boolean, isTTY: boolean = process.stderr.isTTY === true): Mode =>
  isTTY ? "tty" : asked ? "lines" : "off"

export interface Options {
  /** What is being done, e.g. `replay tickets`. */
  readonly label: string
  /** Events there are to read. */
  readonly total: number
  /** Events read so far (read on each report). */
  readonly read: () => number
  readonly mode: Mode
  /** Where reports go (default: stderr). */
  readonly write?: ((text: string) => void) | undefined
}

const writeStderr = (text: string) => void process.stderr.write(text)

const percent = (read: number, total: number) => (total <= 0 ? 100 : Math.min(100, Math.floor((read / total) * 100)))

/** Runs `work`, reporting progress as `options` say; the reports stop when it ends, however it ends. */
export const track = <A, E, R>(work: Effect.Effect<A, E, R>, options: Options): Effect.Effect<A, E, R> => {
  if (options.mode === "off") return work
  const write = options.write ?? writeStderr
  const tty = options.mode === "tty"
  return Effect.gen(function*() {
    const started = yield* Clock.monotonicTimeNanos
    const elapsed = Effect.map(Clock.monotonicTimeNanos, (now) => Number(now - started) / 1e9)
    const line = (read: number, seconds: number) =>
      `${options.label}: ${count(read)} / ${count(options.total)} events (${percent(read, options.total)}%)` +
      (seconds > 0 ? `, ${count(Math.round(read / seconds))} events/s` : "")
    const report = Effect.gen(function*() {
      while (true) {
        yield* Effect.sleep("1 second")
        const text = line(options.read(), yield* elapsed)
        write(tty ? `\r${text}\u001b[K` : `${text}\n`)
      }
    })
    const reporter = yield* Effect.forkChild(report)
    const result = yield* work.pipe(Effect.onExit(() => Fiber.interrupt(reporter)), Effect.onError(() => tty ? Effect.sync(() => write("\r\u001b[K")) : Effect.void))
    const seconds = yield* elapsed
    write(tty ? "\r\u001b[K" : `${options.label}: ${count(options.read())} / ${count(options.total)} events (${percent(options.read(), options.total)}%) in ${seconds.toFixed(1)} s\n`)
    return result
  })
}
