/**
 * Admission control at the front desk: instead of accepting work it cannot finish, the desk
 * answers `Overloaded` with a `retryAfter` when
 * - the backlog (tasks accepted and not final, plus submissions on their way into the log)
 *   would pass the high-water mark; `retryAfter` is the time the measured completion rate
 *   needs to bring it back under 90 % of the mark. Children spawned by handlers are not
 *   counted and never refused: they are part of work already accepted;
 * - a tenant is over its rate (a token bucket per tenant: `perSecond`, up to `burst`);
 *   `retryAfter` is when enough tokens will be back.
 * Nothing is recorded for a refused submission. Token buckets refill on the monotonic clock,
 * so a wall-clock step neither refuses a tenant nor hands it a burst.
 */
import { Overloaded } from "./TaskError.js"
import type { Backlog } from "./Backlog.js"
import type { Ledger } from "./internal/ledger.js"

/** A tenant's rate limit. */
export interface Rate {
  /** Tasks per second, > 0 (fractions allowed: 0.5 = one task every 2 s). */
  readonly perSecond: number
  /** Most tasks admitted at once after a quiet period, ≥ 1 (default `perSecond`, at least 1). */
  readonly burst?: number | undefined
}

/** Checks a rate given in options; answers what is wrong with it, or undefined. */
export const invalidRate = (rate: Rate): { readonly field: "perSecond" | "burst"; readonly value: unknown; readonly expected: string } | undefined => {
  if (typeof rate?.perSecond !== "number" || !Number.isFinite(rate.perSecond) || rate.perSecond <= 0) {
    return { field: "perSecond", value: rate?.perSecond, expected: "a finite number > 0" }
  }
  if (rate.burst !== undefined && (typeof rate.burst !== "number" || !Number.isFinite(rate.burst) || rate.burst < 1)) {
    return { field: "burst", value: rate.burst, expected: "a finite number >= 1 (a task needs one token)" }
  }
  return undefined
}

const burstOf = (rate: Rate) => rate.burst ?? Math.max(1, rate.perSecond)

/** Buckets are swept (full ones forgotten) once there are this many (then twice the survivors). */
const SWEEP_AT = 10_000

/** Options of admission control. */
export interface Options {
  /** Most tasks accepted and not final (default: unlimited). */
  readonly highWater?: number | undefined
  /** Rate limit for every tenant without its own entry in `tenants`. */
  readonly tenantRate?: Rate | undefined
  readonly tenants?: Readonly<Record<string, Rate>> | undefined
  /**
   * Root tasks accepted elsewhere that count against `highWater` too: the other partitions of a
   * partitioned pipeline, so the mark holds cluster-wide (see `@mailroom/cluster`).
   */
  readonly elsewhere?: (() => number) | undefined
  /** Bounds of `retryAfter` in ms (default 100 and 60,000). */
  readonly minRetryAfter?: number | undefined
  readonly maxRetryAfter?: number | undefined
}

/** Admission control. */
export interface Admission {
  /** Admits `count` tasks of `tenant` (consuming tokens), or answers why not. */
  readonly check: (tenant: string, count: number) => Overloaded | undefined
  readonly refused: () => number
  /** Tenants with a rate bucket in memory (full buckets are swept once there are many). */
  readonly tenants: () => number
}

interface Bucket {
  tokens: number
  last: number
}

/** Builds admission control over the pipeline's backlog. */
export const make = (options: {
  readonly ledger: Ledger
  readonly backlog: Backlog
  readonly options?: Options | undefined
}): Admission => {
  const { backlog, ledger } = options
  const o = options.options ?? {}
  const highWater = o.highWater ?? Infinity
  const minRetry = o.minRetryAfter ?? 100
  const maxRetry = o.maxRetryAfter ?? 60_000
  const clamp = (ms: number) => Math.round(Math.min(maxRetry, Math.max(minRetry, ms)))
  const buckets = new Map<string, Bucket>()
  let sweepAt = SWEEP_AT
  let refused = 0

  // A bucket that has refilled to its burst is the same as no bucket: forget it, so tenants
  // seen once (tenant names come from requests) do not pile up.
  const sweep = (now: number) => {
    for (const [tenant, bucket] of buckets) {
      const rate = rateOf(tenant)
      if (rate === undefined || bucket.tokens + ((now - bucket.last) / 1000) * rate.perSecond >= burstOf(rate)) {
        buckets.delete(tenant)
      }
    }
    sweepAt = Math.max(SWEEP_AT, 2 * buckets.size)
  }

  const rateOf = (tenant: string): Rate | undefined => o.tenants?.[tenant] ?? o.tenantRate

  const check = (tenant: string, count: number): Overloaded | undefined => {
    const depth = ledger.roots + ledger.pendingAccepts + (o.elsewhere?.() ?? 0)
    if (depth + count > highWater) {
      refused += count
      const excess = depth + count - 0.9 * highWater
      const rate = backlog.snapshot().completionRate
      return new Overloaded({
        reason: "backlog",
        tenant,
        retryAfter: clamp(rate > 0 ? (excess / rate) * 1000 : 1000),
        detail: `${depth} tasks in the backlog, high-water mark ${highWater}`
      })
    }
    const rate = rateOf(tenant)
    if (rate === undefined) return undefined
    const now = ledger.mono()
    const burst = burstOf(rate)
    let bucket = buckets.get(tenant)
    if (bucket === undefined) {
      if (buckets.size >= sweepAt) sweep(now)
      buckets.set(tenant, bucket = { tokens: burst, last: now })
    }
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.last) / 1000) * rate.perSecond)
    bucket.last = now
    if (bucket.tokens >= count) {
      bucket.tokens -= count
      return undefined
    }
    refused += count
    if (count > burst) {
      // Waiting never helps: the bucket never holds that many tokens.
      return new Overloaded({
        reason: "tenant-rate",
        tenant,
        retryAfter: maxRetry,
        detail: `${count} tasks at once exceed the tenant's burst of ${burst}; submit at most ${Math.floor(burst)} at a time`
      })
    }
    return new Overloaded({
      reason: "tenant-rate",
      tenant,
      retryAfter: clamp(((count - bucket.tokens) / rate.perSecond) * 1000),
      detail: `tenant is limited to ${rate.perSecond} tasks/s (burst ${burst})`
    })
  }
  return { check, refused: () => refused, tenants: () => buckets.size }
}
