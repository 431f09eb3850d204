/**
 * The backlog monitor measures the pipeline: depth (tasks accepted and not final), age of the
 * oldest of them, arrival and completion rates, and latency from acceptance to final status.
 * It publishes them as Effect `Metric`s every `interval` and answers a `Snapshot` at any time;
 * the `Autoscaler` and `Admission` control read the snapshot.
 *
 * Every metric carries the attribute `stream` (the pipeline's request-log stream), so several
 * pipelines in one process publish separate series; the depth also goes out per `task_type`.
 */
import { Duration, Effect, Metric, Schedule } from "effect"
import type { Scope } from "effect"
import type { Ledger } from "./internal/ledger.js"

/** Tasks accepted and not final. */
export const depth = Metric.gauge("mailroom_tasks_backlog_depth", { description: "tasks accepted and not final" })
/** Age of the oldest task not final, in milliseconds. */
export const oldestAge = Metric.gauge("mailroom_tasks_oldest_age_ms", { description: "age of the oldest task not final" })
/** Tasks accepted. */
export const arrivals = Metric.counter("mailroom_tasks_arrivals", { description: "tasks accepted", incremental: true })
/** Tasks that reached a final status. */
export const completions = Metric.counter("mailroom_tasks_completions", { description: "tasks final", incremental: true })
/** Tasks accepted per second (smoothed). */
export const arrivalRate = Metric.gauge("mailroom_tasks_arrival_rate", { description: "tasks accepted per second" })
/** Tasks final per second (smoothed). */
export const completionRate = Metric.gauge("mailroom_tasks_completion_rate", { description: "tasks final per second" })
/** Milliseconds from acceptance to final status. */
export const latency = Metric.histogram("mailroom_tasks_latency_ms", {
  description: "milliseconds from acceptance to final status",
  boundaries: Metric.exponentialBoundaries({ start: 1, factor: 2, count: 24 })
})

/** The backlog at one moment. */
export interface Snapshot {
  /** Tasks accepted and not final (children included). */
  readonly depth: number
  /** Of which tasks without a parent (what admission's high-water mark counts). */
  readonly roots: number
  readonly depthByType: ReadonlyMap<string, number>
  readonly oldestAgeMs: number
  readonly arrivals: number
  readonly completions: number
  /** Tasks final since start (replayed ones included), per task type. */
  readonly completionsByType: ReadonlyMap<string, number>
  /** Per second, exponentially smoothed over the monitor's intervals. */
  readonly arrivalRate: number
  readonly completionRate: number
  /** Latency quantiles of the tasks finished during the last interval (ms). */
  readonly latencyP50: number
  readonly latencyP99: number
}

/** A running backlog monitor. */
export interface Backlog {
  readonly snapshot: () => Snapshot
  /** Measures now and publishes the metrics (also runs every interval). */
  readonly tick: Effect.Effect<void>
}

const quantile = (sorted: ReadonlyArray<number>, q: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

/** Starts the monitor fiber in the scope. */
export const make = Effect.fnUntraced(function*(options: {
  readonly ledger: Ledger
  readonly interval?: Duration.Input | undefined
}): Effect.fn.Return<Backlog, never, Scope.Scope> {
  const ledger = options.ledger
  const interval = Duration.toMillis(options.interval ?? "1 second")
  let lastAt = ledger.mono()
  let lastArrivals = ledger.arrivals
  let lastCompletions = ledger.completions
  let arrivalRateValue = 0
  let completionRateValue = 0
  let p50 = 0
  let p99 = 0
  const alpha = 0.5
  const stream = ledger.options.stream
  const tagged = <A, S>(metric: Metric.Metric<A, S>) => Metric.withAttributes(metric, { stream })
  const m = {
    depth: tagged(depth),
    oldestAge: tagged(oldestAge),
    arrivals: tagged(arrivals),
    completions: tagged(completions),
    arrivalRate: tagged(arrivalRate),
    completionRate: tagged(completionRate),
    latency: tagged(latency)
  }

  const snapshot = (): Snapshot => {
    const oldest = ledger.oldest()
    return {
      depth: ledger.live.size,
      roots: ledger.roots,
      depthByType: ledger.depthByType,
      oldestAgeMs: oldest === undefined ? 0 : Math.max(0, ledger.mono() - oldest.acceptedMono),
      arrivals: ledger.arrivals,
      completions: ledger.completions,
      completionsByType: ledger.completionsByType,
      arrivalRate: arrivalRateValue,
      completionRate: completionRateValue,
      latencyP50: p50,
      latencyP99: p99
    }
  }

  const tick = Effect.suspend(() => {
    const now = ledger.mono()
    const dt = now - lastAt
    const newArrivals = ledger.arrivals - lastArrivals
    const newCompletions = ledger.completions - lastCompletions
    if (dt > 0) {
      arrivalRateValue = alpha * (newArrivals * 1000 / dt) + (1 - alpha) * arrivalRateValue
      completionRateValue = alpha * (newCompletions * 1000 / dt) + (1 - alpha) * completionRateValue
      lastAt = now
      lastArrivals = ledger.arrivals
      lastCompletions = ledger.completions
    }
    const latencies = ledger.latencies
    ledger.latencies = []
    if (latencies.length > 0) {
      latencies.sort((a, b) => a - b)
      p50 = quantile(latencies, 0.5)
      p99 = quantile(latencies, 0.99)
    }
    const s = snapshot()
    return Effect.gen(function*() {
      yield* Metric.update(m.depth, s.depth)
      yield* Metric.update(m.oldestAge, s.oldestAgeMs)
      if (newArrivals > 0) yield* Metric.update(m.arrivals, newArrivals)
      if (newCompletions > 0) yield* Metric.update(m.completions, newCompletions)
      yield* Metric.update(m.arrivalRate, s.arrivalRate)
      yield* Metric.update(m.completionRate, s.completionRate)
      // At most 1,000 samples per interval go into the histogram (evenly spaced quantiles).
      const step = Math.max(1, Math.floor(latencies.length / 1000))
      for (let i = 0; i < latencies.length; i += step) yield* Metric.update(m.latency, latencies[i]!)
      for (const [type, n] of ledger.depthByType) {
        yield* Metric.update(Metric.withAttributes(depth, { stream, task_type: type }), n)
      }
    })
  })
  yield* Effect.forkScoped(Effect.repeat(tick, Schedule.spaced(interval)))
  return { snapshot, tick }
})
