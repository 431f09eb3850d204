/**
 * The autoscaler resizes each worker pool between its type's `concurrency.min` and `max` from
 * the backlog: when more than `backlogPerWorker` tasks of the type wait per worker it grows the
 * pool by half (at least one), when fewer tasks than half the workers are left it shrinks it by
 * a quarter (at least one). The scheduler keeps merging while the pool is small; the pool grows
 * when merging alone cannot keep up.
 */
import { Duration, Effect, Schedule } from "effect"
import type { Scope } from "effect"
import type { Ledger } from "./internal/ledger.js"
import type { WorkerPool } from "./WorkerPool.js"

/** Options of the autoscaler. */
export interface Options {
  /** How often to decide (default 1 second). */
  readonly interval?: Duration.Input | undefined
  /** Tasks per worker above which a pool grows (default 4). */
  readonly backlogPerWorker?: number | undefined
}

/** A resize decision. */
export interface Decision {
  readonly taskType: string
  readonly from: number
  readonly to: number
  readonly depth: number
}

/** A running autoscaler. */
export interface Autoscaler {
  /** Decides once now; answers the resizes made. */
  readonly runOnce: Effect.Effect<ReadonlyArray<Decision>>
}

/** The size a pool should have (pure; exported for tests). */
export const decide = (size: number, depth: number, bounds: { readonly min: number; readonly max: number }, backlogPerWorker: number): number => {
  if (depth > size * backlogPerWorker && size < bounds.max) return Math.min(bounds.max, Math.max(size + 1, Math.ceil(size * 1.5)))
  if (depth < size / 2 && size > bounds.min) return Math.max(bounds.min, size - Math.max(1, Math.floor(size / 4)))
  return size
}

/** Starts the autoscaler fiber in the scope. */
export const make = Effect.fnUntraced(function*(options: {
  readonly ledger: Ledger
  readonly pools: ReadonlyMap<string, WorkerPool>
  readonly options?: Options | undefined
}): Effect.fn.Return<Autoscaler, never, Scope.Scope> {
  const interval = Duration.toMillis(options.options?.interval ?? "1 second")
  const perWorker = options.options?.backlogPerWorker ?? 4
  const runOnce = Effect.gen(function*() {
    const decisions: Array<Decision> = []
    for (const [name, pool] of options.pools) {
      const depth = options.ledger.depthByType.get(name) ?? 0
      const from = pool.size()
      const to = decide(from, depth, pool.bounds, perWorker)
      if (to !== from) {
        yield* pool.resize(to)
        decisions.push({ taskType: name, from, to, depth })
      }
    }
    return decisions
  })
  yield* Effect.forkScoped(Effect.repeat(runOnce, Schedule.spaced(interval)))
  return { runOnce }
})
