/**
 * The reconciler closes the loop: it periodically looks for live tasks that nobody holds (not
 * queued, not in flight, not waiting for a retry) and whose last status is older than their
 * type's timeout plus a grace period — a worker finished but its report was lost, a dispatch
 * failed — and dispatches them again. Tasks held in flight far longer than their timeout
 * (`abandonAfter` × timeout) are taken back too. Handlers run behind the idempotency guard, so
 * a task dispatched again never applies its effect twice.
 */
import { Duration, Effect, Schedule } from "effect"
import type { Scope } from "effect"
import type { Dispatcher } from "./Dispatcher.js"
import type { Core } from "./internal/core.js"

/** Options of the reconciler. */
export interface Options {
  /** How often to look (default 1 second). */
  readonly interval?: Duration.Input | undefined
  /** Added to the type's timeout before a quiet task is dispatched again (default 1 second). */
  readonly grace?: Duration.Input | undefined
  /** A task in flight for this many timeouts is taken back (default 10). */
  readonly abandonAfter?: number | undefined
}

/** A running reconciler. */
export interface Reconciler {
  /** One pass now; answers how many tasks it dispatched again. */
  readonly runOnce: Effect.Effect<number>
  /** Tasks dispatched again so far. */
  readonly reconciled: () => number
}

/** Starts the reconciler fiber in the scope. */
export const make = Effect.fnUntraced(function*(options: {
  readonly core: Core
  readonly dispatcher: Dispatcher
  readonly options?: Options | undefined
}): Effect.fn.Return<Reconciler, never, Scope.Scope> {
  const { core, dispatcher } = options
  const interval = Duration.toMillis(options.options?.interval ?? "1 second")
  const grace = Duration.toMillis(options.options?.grace ?? "1 second")
  const abandonAfter = options.options?.abandonAfter ?? 10
  let reconciled = 0
  const runOnce = Effect.sync(() => {
    const now = core.now()
    let n = 0
    for (const record of core.live.values()) {
      const type = core.types.get(record.type)
      if (type === undefined || record.executing) continue
      const quietSince = Math.max(record.updatedAt, record.heldSince)
      if (record.holder === "idle" && now - quietSince > type.timeout + grace) {
        dispatcher.dispatch(record)
        n++
      } else if (record.holder === "inflight" && now - record.heldSince > type.timeout * abandonAfter + grace) {
        record.holder = "idle"
        dispatcher.dispatch(record)
        n++
      }
    }
    reconciled += n
    return n
  })
  yield* Effect.forkScoped(Effect.repeat(runOnce, Schedule.spaced(interval)))
  return { runOnce, reconciled: () => reconciled }
})
