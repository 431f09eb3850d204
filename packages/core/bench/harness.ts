/**
 * Shared helpers for the core benchmarks: forced GC, timing loops with warm-up, statistics and
 * the result shape a worker process reports back to `run.ts`.
 *
 * Every measurement function here runs inside ONE child process started by `run.ts` with
 * `--expose-gc`; the spread across processes is computed by `run.ts`.
 */

/** What one worker process reports for one contender of one figure. */
export interface ProcessResult {
  /** The figure's main value for this process (median of the measured rounds). */
  readonly value: number
  /** Every measured round (same unit as `value`). */
  readonly rounds: ReadonlyArray<number>
  /** Secondary values (e.g. latency percentiles), same keys for every process of a contender. */
  readonly extra?: Record<string, number>
  readonly warmupRounds: number
}

export const forceGc = (): void => {
  const gc = globalThis.gc
  if (gc === undefined) {
    throw new Error("benchmarks need --expose-gc (run them through bench/run.ts)")
  }
  gc()
  gc()
}

export const now = (): number => performance.now()

/** Resolves after the event loop has turned `times` times (lets fibers/timers settle). */
export const settle = async (times = 2): Promise<void> => {
  for (let i = 0; i < times; i++) {
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
}

export const median = (xs: ReadonlyArray<number>): number => {
  if (xs.length === 0) return Number.NaN
  const s = xs.toSorted((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** Nearest-rank percentile, p in [0, 100]. */
export const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  if (xs.length === 0) return Number.NaN
  const s = xs.toSorted((a, b) => a - b)
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))
  return s[rank]!
}

export interface RoundOptions {
  /** Warm up at least this long (ms) ... */
  readonly warmupMs: number
  /** ... with at least this many rounds and at most `maxWarmupRounds`. */
  readonly minWarmupRounds: number
  readonly maxWarmupRounds: number
  /** Measure rounds until this much time (ms) is spent, at least 1 and at most `maxRounds`. */
  readonly measureMs: number
  readonly maxRounds: number
}

/**
 * Effect-heavy contenders need several full rounds before they reach their steady speed (JIT
 * tiers, and V8 growing the young generation after the first survivals), hence at least 5.
 */
export const defaultRounds: RoundOptions = {
  warmupMs: 500,
  minWarmupRounds: 5,
  maxWarmupRounds: 10,
  measureMs: 300,
  maxRounds: 3
}

/**
 * Spawn rate: `round(count)` spawns `count` actors, tears them down outside its timed part and
 * returns the timed ms. Warm-up: rounds of `warmupCount` until at least 5 rounds and 300 ms
 * (spawn paths need many calls before they are optimized), then `measured` rounds of `count`,
 * each after a full GC.
 */
export const spawnRate = async (
  count: number,
  warmupCount: number,
  round: (count: number) => Promise<number>,
  measured = 2
): Promise<ProcessResult> => {
  forceGc()
  let warmupRounds = 0
  const warmStart = now()
  while (warmupRounds < 30 && (warmupRounds < 5 || now() - warmStart < 300)) {
    await round(warmupCount)
    warmupRounds++
  }
  const rates: Array<number> = []
  for (let i = 0; i < measured; i++) {
    forceGc()
    rates.push(count / ((await round(count)) / 1000))
  }
  return { value: median(rates), rounds: rates, warmupRounds }
}

/**
 * Runs `round` (which does its own set-up, times only the interesting part and returns that
 * time in ms) through a warm-up and a measured phase. A full GC runs before the warm-up only:
 * forcing one before every measured round shrinks V8's young generation again and made
 * allocation-heavy contenders (every Effect-based one) up to 2x slower in the next round, so
 * the measured rounds run in the heap state the warm-up left, garbage collection included.
 */
export const timedRounds = async (
  round: () => Promise<number>,
  options: RoundOptions = defaultRounds
): Promise<{ readonly times: ReadonlyArray<number>; readonly warmupRounds: number }> => {
  forceGc()
  let warmupRounds = 0
  const warmStart = now()
  while (
    warmupRounds < options.maxWarmupRounds &&
    (warmupRounds < options.minWarmupRounds || now() - warmStart < options.warmupMs)
  ) {
    await round()
    warmupRounds++
  }
  const times: Array<number> = []
  let spent = 0
  while (times.length < options.maxRounds && (times.length === 0 || spent < options.measureMs)) {
    const t = await round()
    times.push(t)
    spent += t
  }
  return { times, warmupRounds }
}

/** Throughput (items per second) of `items` items per round. */
export const throughput = async (
  items: number,
  round: () => Promise<number>,
  options: RoundOptions = defaultRounds
): Promise<ProcessResult> => {
  const { times, warmupRounds } = await timedRounds(round, options)
  const rates = times.map((ms) => items / (ms / 1000))
  return { value: median(rates), rounds: rates, warmupRounds }
}

/** Throws a clear error when a contender computed the wrong result (it did not do the work). */
export const check = (what: string, actual: unknown, expected: unknown): void => {
  if (actual !== expected) {
    throw new Error(`${what}: expected ${String(expected)}, got ${String(actual)}`)
  }
}

/** Sum 0 + 1 + ... + (n - 1): what a counter actor holds after messages numbered 0..n-1. */
export const sumBelow = (n: number): number => (n * (n - 1)) / 2

/** Sampled latency recorder for sequential round trips. */
export class LatencySampler {
  readonly every: number
  readonly samples: Array<number> = []
  constructor(every: number) {
    this.every = every
  }
  summary(): Record<string, number> {
    return {
      p50Us: percentile(this.samples, 50) * 1000,
      p99Us: percentile(this.samples, 99) * 1000,
      maxUs: percentile(this.samples, 100) * 1000,
      samples: this.samples.length
    }
  }
}

let kept: unknown
/** What the last memory measurement spawned (kept reachable on purpose). */
export const lastKept = (): unknown => kept

/** Heap bytes per item of what `build` keeps alive, measured around full GCs. */
export const heapPerItem = async <H>(
  count: number,
  build: (n: number) => Promise<H>,
  dispose: (held: H) => Promise<void>,
  warmupCount: number
): Promise<ProcessResult> => {
  forceGc()
  // warm-up: the same code path once, smaller, then thrown away
  const warm = await build(warmupCount)
  await settle()
  await dispose(warm)
  await settle()
  forceGc()
  const before = process.memoryUsage().heapUsed
  const held = await build(count)
  await settle()
  forceGc()
  const after = process.memoryUsage().heapUsed
  const perItem = (after - before) / count
  // `held` stays reachable until after the measurement; the process exits without tearing it down
  kept = held
  return { value: perItem, rounds: [perItem], warmupRounds: 1, extra: { heapDeltaBytes: after - before } }
}

/**
 * One spawn-rate round for a library whose actors are spawned and stopped by plain functions:
 * times `spawnMany(count)` only, checks that every actor was spawned, then stops them.
 */
export const timeSpawns = <A>(
  what: string,
  spawnMany: (count: number) => Promise<Array<A>>,
  stopAll: (actors: Array<A>) => Promise<void> | void
) =>
async (count: number): Promise<number> => {
  const t0 = now()
  const actors = await spawnMany(count)
  const t1 = now()
  check(what, actors.length, count)
  await stopAll(actors)
  return t1 - t0
}
