/**
 * The reconciler closes the loop: it periodically looks for live tasks that nobody holds — not
 * in the dispatcher's queue, not in the scheduler, not with a worker, not waiting for a retry or
 * for children — whose last change is older than their type's timeout plus a grace period (a
 * worker finished but its report was lost, a dispatch failed), and hands them back to the
 * dispatcher through the ledger's `reclaim`. A task that only waits in the scheduler is held,
 * not quiet, however long it waits. Handlers run behind the idempotency guard, so a task
 * dispatched again never applies its effect twice. Quiet periods are measured on the monotonic
 * clock: a wall-clock step neither reclaims a healthy task nor hides a lost one.
 */
import { Duration, Effect, Schedule } from "effect"
import type { Scope } from "effect"
import type { Ledger } from "./internal/ledger.js"

/** Options of the reconciler. */
export interface Options {
  /** How often to look (default 1 second). */
  readonly interval?: Duration.Input | undefined
  /** Added to the type's timeout before a quiet task is dispatched again (default 1 second). */
  readonly grace?: Duration.Input | undefined
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
  readonly ledger: Ledger
  readonly options?: Options | undefined
}): Effect.fn.Return<Reconciler, never, Scope.Scope> {
  const { ledger } = options
  const interval = Duration.toMillis(options.options?.interval ?? "1 second")
  const grace = Duration.toMillis(options.options?.grace ?? "1 second")
  let reconciled = 0
  const runOnce = Effect.sync(() => {
    const now = ledger.mono()
    let n = 0
    for (const record of ledger.live.values()) {
      if (record.phase !== "idle" && record.phase !== "waiting") continue
      const type = ledger.types.get(record.type)
      if (type === undefined || now - record.since <= type.timeout + grace) continue
      if (ledger.reclaim(record)) n++
    }
    reconciled += n
    return n
  })
  yield* Effect.forkScoped(Effect.repeat(runOnce, Schedule.spaced(interval)))
  return { runOnce, reconciled: () => reconciled }
})
