/**
 * Shared helpers for the scheduler benchmarks: seeded randomness, Zipf keys, Poisson arrivals,
 * the simulated backend (batch call = 1 ms + 50 µs per distinct key, at most 4 in flight),
 * percentiles, tables and JSON output.
 */
import { Scheduler, Target } from "@mailroom/scheduler"
import { Random } from "@mailroom/testkit"
import { Clock, Duration, Effect, Exit, Scope } from "effect"
import { mkdirSync, writeFileSync } from "node:fs"
import { cpus } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

export const resultsDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "bench-results")

/** Seeded random numbers (mulberry32, from the testkit). */
export const rng = Random.seeded

/** Zipf(s) over keys 0..n-1 (key 0 most popular), by inverse CDF. */
export const zipf = (n: number, s: number, random: () => number) => {
  const cdf = new Float64Array(n)
  let total = 0
  for (let i = 0; i < n; i++) {
    total += 1 / Math.pow(i + 1, s)
    cdf[i] = total
  }
  for (let i = 0; i < n; i++) cdf[i]! /= total
  return () => {
    const u = random()
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (cdf[mid]! < u) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

export const percentile = (sorted: ArrayLike<number>, p: number): number => {
  if (sorted.length === 0) return Number.NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]!
}

/**
 * Discrete-event simulated time. Events run in time order; after each, the JavaScript queues
 * (microtasks, immediates, Effect fibers) drain until nothing moves, so all reactions to an
 * event happen at that same simulated instant. Code under test runs for real; only the clock
 * and the backend's service time are simulated, so results do not depend on machine load.
 */
export class Sim {
  now = 0
  /** bumped by anything that makes progress; the drain loop waits until it stops changing */
  activity = 0
  private heap: Array<{ t: number; seq: number; fn: () => void }> = []
  private seq = 0
  schedule(t: number, fn: () => void): void {
    const h = this.heap
    h.push({ t, seq: this.seq++, fn })
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (less(h[p]!, h[i]!)) break
      ;[h[p], h[i]] = [h[i]!, h[p]!]
      i = p
    }
  }
  private pop() {
    const h = this.heap
    const top = h[0]!
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && less(h[l]!, h[m]!)) m = l
        if (r < h.length && less(h[r]!, h[m]!)) m = r
        if (m === i) break
        ;[h[m], h[i]] = [h[i]!, h[m]!]
        i = m
      }
    }
    return top
  }
  async settle(): Promise<void> {
    let before: number
    let rounds = 0
    do {
      before = this.activity
      await new Promise<void>((resolve) => setImmediate(resolve))
      rounds++
    } while (this.activity !== before || rounds < 2)
  }
  /** Runs events up to time `until` (ms) or until `stop()` says so. */
  async run(until: number, stop?: () => boolean): Promise<void> {
    await this.settle()
    while (this.heap.length > 0 && this.heap[0]!.t <= until) {
      const t = this.heap[0]!.t
      this.now = t
      while (this.heap.length > 0 && this.heap[0]!.t === t) this.pop().fn()
      this.activity++
      await this.settle()
      if (stop?.() === true) return
    }
    if (this.now < until) this.now = until
  }
}

/** A `Clock` reading simulated time; `sleep` becomes a simulated event. Give it to the scheduler. */
export const simClock = (sim: Sim): Clock.Clock => ({
  currentTimeMillisUnsafe: () => sim.now,
  currentTimeNanosUnsafe: () => BigInt(Math.round(sim.now * 1e6)),
  monotonicTimeNanosUnsafe: () => BigInt(Math.round(sim.now * 1e6)),
  sleep: (duration) =>
    Effect.callback<void>((resume) => {
      sim.schedule(sim.now + Duration.toMillis(duration), () => resume(Effect.void))
    })
} as Clock.Clock)

const less = (a: { t: number; seq: number }, b: { t: number; seq: number }) => a.t < b.t || (a.t === b.t && a.seq < b.seq)

/**
 * A backend like a database behind a pool of `connections`, in simulated time: a call for some
 * keys costs `base` ms plus `perKey` ms per distinct key; calls beyond the pool wait (FIFO).
 */
export class Backend {
  readonly sim: Sim
  readonly connections: number
  readonly base: number
  readonly perKey: number
  calls = 0
  keysFetched = 0
  inFlight = 0
  maxQueued = 0
  private readonly queue: Array<() => void> = []
  constructor(sim: Sim, options?: { connections?: number; base?: number; perKey?: number }) {
    this.sim = sim
    this.connections = options?.connections ?? 4
    this.base = options?.base ?? 1
    this.perKey = options?.perKey ?? 0.05
  }
  /** Fetches `keys` (values = the key itself). */
  call(keys: ReadonlyArray<number>): Promise<Array<number>> {
    this.sim.activity++
    return new Promise((resolve) => {
      const start = () => {
        this.inFlight++
        const distinct = new Set(keys).size
        this.calls++
        this.keysFetched += distinct
        this.sim.schedule(this.sim.now + this.base + this.perKey * distinct, () => {
          this.inFlight--
          const next = this.queue.shift()
          if (next !== undefined) next()
          resolve(keys.slice())
        })
      }
      if (this.inFlight < this.connections) start()
      else {
        this.queue.push(start)
        if (this.queue.length > this.maxQueued) this.maxQueued = this.queue.length
      }
    })
  }
  get queued(): number {
    return this.queue.length
  }
}

/**
 * The benches' Mailroom subject: a scheduler lane whose target reads `backend` (one batch call
 * per dispatched batch, `backend.connections` in flight), on the backend's simulated clock.
 */
export const readLane = async (backend: Backend, name: string, options: Scheduler.Options) => {
  const target = Target.make<number, undefined, number>({
    name,
    capacity: backend.connections,
    handle: (batch) => Effect.promise(() => backend.call(batch.map((w) => w.key)))
  })
  const scope = Scope.makeUnsafe()
  const lane = await Effect.runPromise(
    Scheduler.attach(target).pipe(
      Scope.provide(scope),
      Effect.provide(Scheduler.layer(options)),
      Effect.provideService(Clock.Clock, simClock(backend.sim))
    )
  )
  return { lane, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

export interface Figure {
  readonly name: string
  readonly unit: string
  readonly value: number
  readonly baselines?: Record<string, number>
  readonly target?: string
  readonly met?: boolean
}

export const machine = () =>
  `${cpus().length} CPU(s) ${cpus()[0]?.model ?? "unknown"}, node ${process.version}; shared machine, other work running (figures are noisy)`

export const writeResult = (name: string, figures: ReadonlyArray<Figure>, details?: unknown) => {
  mkdirSync(resultsDir, { recursive: true })
  const file = join(resultsDir, `scheduler-${name}.json`)
  writeFileSync(
    file,
    JSON.stringify({ benchmark: `scheduler-${name}`, date: new Date().toISOString(), machine: machine(), figures, details }, null, 2)
  )
  return file
}

const cell = (v: unknown) =>
  typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) < 1 ? 4 : 2)) : String(v)

export const table = (rows: ReadonlyArray<Record<string, unknown>>) => {
  if (rows.length === 0) return
  const cols = Object.keys(rows[0]!)
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)))
  const line = (vals: ReadonlyArray<string>) => vals.map((v, i) => v.padStart(widths[i]!)).join("  ")
  console.log(line(cols))
  for (const r of rows) console.log(line(cols.map((c) => cell(r[c]))))
}
