/**
 * The monitor: samples the desk's figures (read from the pipelines: backlog, pool, scheduler
 * lane) every half second into a ring of samples (rates are computed from the difference
 * between two samples), mirrors them into the `mailroom_shop_*` metrics, and serves the live
 * snapshot the dashboard and the terminal draw from.
 */
import { Context, Effect, Layer, Metric, Schedule } from "effect"
import type * as Catalog from "./Catalog.js"
import { type ClusterShare, Desk, metrics } from "./Desk.js"
import type { LoadState } from "./LoadGenerator.js"
import type { Ticket } from "./Order.js"

/** One point of the charts. */
export interface Sample {
  /** Seconds since the monitor started. */
  readonly t: number
  readonly arrivals: number
  readonly completions: number
  readonly throttled: number
  readonly backlog: number
  readonly oldestAgeMs: number
  readonly workers: number
  readonly busyWorkers: number
  readonly pendingLines: number
  /** Cumulative counters of the scheduler lanes. */
  readonly combined: number
  readonly coalesced: number
  readonly superseded: number
  /** Warehouse jobs dispatched (one per item bundle) and order lines submitted. */
  readonly jobs: number
  readonly orders: number
  readonly catalogQueries: number
  readonly lookups: number
}

/** What the dashboard receives on each server-sent event. */
export interface Snapshot {
  readonly samples: ReadonlyArray<Sample>
  readonly latest: ReadonlyArray<Ticket>
  readonly api: ReadonlyArray<Ticket>
  readonly load: { readonly phase: string; readonly rate: number; readonly running: boolean }
  readonly cluster?: ReadonlyArray<ClusterShare>
  readonly totals: {
    readonly accepted: number
    readonly completed: number
    readonly throttled: number
    readonly duplicates: number
    readonly recovered: number
    readonly highWater: number
    readonly minWorkers: number
    readonly maxWorkers: number
  }
}

/**
 * What anyone may see (`/events`, the dashboard without the token): the figures only — no
 * customer, ticket or order line.
 */
export interface PublicSnapshot {
  readonly samples: ReadonlyArray<Sample>
  readonly load: Snapshot["load"]
  readonly totals: Snapshot["totals"]
  /** A clustered shop: every process's share (runner, partitions, backlog, tasks done). */
  readonly cluster?: ReadonlyArray<ClusterShare>
}

/** The public part of a snapshot. */
export const publicView = (s: Snapshot): PublicSnapshot => ({
  samples: s.samples,
  load: s.load,
  totals: s.totals,
  ...(s.cluster === undefined ? {} : { cluster: s.cluster })
})

/** The monitor service. */
export class Monitor extends Context.Service<Monitor, {
  /** Everything, the latest tickets with their customers included (admin only). */
  readonly snapshot: () => Snapshot
  /** The figures only (public). */
  readonly publicSnapshot: () => PublicSnapshot
  readonly last: () => Sample | undefined
}>()("@mailroom/shop/Monitor") {}

const KEEP = 240

/** Builds the monitor and forks its sampler into the current scope. */
export const make = Effect.fnUntraced(function*(options: {
  readonly catalog: Catalog.Catalog
  readonly load: LoadState
  readonly loadRunning: () => boolean
  readonly interval?: number | undefined
}) {
  const desk = yield* Desk
  const interval = options.interval ?? 500
  const samples: Array<Sample> = []
  const started = Date.now()
  let prev = { at: started, accepted: 0, completed: 0, throttled: 0 }
  {
    const f = desk.figures()
    prev = { at: started, accepted: f.accepted, completed: f.completed, throttled: f.throttled }
  }
  const sample = Effect.suspend(() => {
    const now = Date.now()
    const f = desk.figures()
    const c = options.catalog.stats()
    const dt = Math.max((now - prev.at) / 1000, 0.001)
    const s: Sample = {
      t: Math.round((now - started) / 100) / 10,
      arrivals: Math.round((f.accepted - prev.accepted) / dt),
      completions: Math.round((f.completed - prev.completed) / dt),
      throttled: Math.round((f.throttled - prev.throttled) / dt),
      backlog: f.backlog,
      oldestAgeMs: f.oldestAgeMs,
      workers: f.workers,
      busyWorkers: f.busyWorkers,
      pendingLines: f.pendingLines,
      combined: f.warehouse.combined,
      coalesced: c.coalesced,
      superseded: c.superseded,
      jobs: f.warehouse.dispatched,
      orders: f.warehouse.submitted,
      catalogQueries: options.catalog.queries(),
      lookups: c.submitted
    }
    const newlyCompleted = f.completed - prev.completed
    prev = { at: now, accepted: f.accepted, completed: f.completed, throttled: f.throttled }
    samples.push(s)
    if (samples.length > KEEP) samples.shift()
    return Effect.all([
      newlyCompleted > 0 ? Metric.update(metrics.completed, newlyCompleted) : Effect.void,
      Metric.update(metrics.backlog, f.backlog),
      Metric.update(metrics.oldestAge, f.oldestAgeMs),
      Metric.update(metrics.workers, f.workers)
    ], { discard: true })
  })
  yield* Effect.forkScoped(Effect.repeat(sample, Schedule.spaced(interval)))
  const figures = (): PublicSnapshot => {
    const f = desk.figures()
    return {
      samples: samples.slice(-120),
      load: { phase: options.load.phase, rate: Math.round(options.load.currentRate), running: options.loadRunning() },
      totals: {
        accepted: f.accepted,
        completed: f.completed,
        throttled: f.throttled,
        duplicates: f.duplicates,
        recovered: f.recovered,
        highWater: f.highWater,
        minWorkers: f.minWorkers,
        maxWorkers: f.maxWorkers
      },
      ...(f.cluster === undefined ? {} : { cluster: f.cluster })
    }
  }
  return Monitor.of({
    last: () => samples[samples.length - 1],
    publicSnapshot: figures,
    snapshot: () => ({ ...figures(), latest: desk.latest(12), api: desk.latest(12, "api") })
  })
})

/** The monitor as a layer. */
export const layer = (options: Parameters<typeof make>[0]) => Layer.effect(Monitor, make(options))
