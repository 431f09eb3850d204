/**
 * A policy orders one dispatch across keys. The scheduler hands it the candidates — the oldest
 * pending operation of every key that has nothing in flight — and it picks up to `limit` of
 * them in dispatch order. Expired operations never reach the policy's judgement: the scheduler
 * puts them first (earliest deadline first), so no policy can starve work.
 *
 * A policy is one small interface: a name and `make`, which builds the per-lane selector (so
 * a policy may keep state, like the elevator's head position or fair-share virtual times).
 */
import type { Key, Kind } from "./Operation.js"

/** What a policy sees of a pending operation. */
export interface Candidate {
  readonly key: Key
  readonly kind: Kind
  readonly priority: number
  /** Absolute deadline (ms, lane clock). */
  readonly deadline: number
  readonly tenant: string
  /** Submission sequence number of the first submitter: lower is older. */
  readonly seq: number
  /** When the operation was first submitted (ms, lane clock). */
  readonly enqueuedAt: number
  /** How many submitters share this operation. */
  readonly size: number
}

/**
 * Picks up to `limit` candidates in dispatch order. It may reorder `candidates` in place.
 * Returning fewer than `limit` is allowed (the rest stay pending).
 */
export type Select = (candidates: Array<Candidate>, limit: number, now: number) => ReadonlyArray<Candidate>

/** A dispatch policy. */
export interface Policy {
  readonly name: string
  readonly make: () => Select
  /**
   * Set when the policy was built from invalid options: the scheduler refuses it with a typed
   * `InvalidConfig` naming the option (and `make` throws if called anyway).
   */
  readonly invalid?: { readonly option: string; readonly value: string; readonly expected: string } | undefined
}

/**
 * Builds a stateless policy from a selector.
 *
 * @example
 * // shortest key first
 * const shortest = Policy.make("shortest-key", (candidates, limit) =>
 *   candidates.sort((a, b) => String(a.key).length - String(b.key).length).slice(0, limit))
 */
export const make = (name: string, select: Select): Policy => ({ name, make: () => select })

const take = (sorted: Array<Candidate>, limit: number): ReadonlyArray<Candidate> =>
  sorted.length <= limit ? sorted : sorted.slice(0, limit)

const bySeq = (a: Candidate, b: Candidate) => a.seq - b.seq

const compareKeys = (a: Key, b: Key): number => (a < b ? -1 : a > b ? 1 : 0)

/** First come, first served (by first submission). */
export const fifo: Policy = make("fifo", (candidates, limit) => take(candidates.sort(bySeq), limit))

/** Highest `priority` first, then oldest. */
export const priority: Policy = make(
  "priority",
  (candidates, limit) => take(candidates.sort((a, b) => b.priority - a.priority || a.seq - b.seq), limit)
)

/** Earliest absolute deadline first, then oldest. */
export const earliestDeadline: Policy = make(
  "earliest-deadline",
  (candidates, limit) => take(candidates.sort((a, b) => a.deadline - b.deadline || a.seq - b.seq), limit)
)

/**
 * Elevator (C-SCAN): sweeps keys in ascending order from the last dispatched key and wraps
 * around to the lowest key, like a disk head that only seeks in one direction.
 */
export const elevator: Policy = {
  name: "elevator",
  make: () => {
    let head: Key | undefined = undefined
    return (candidates, limit) => {
      const n = candidates.length
      if (n === 0) return candidates
      candidates.sort((a, b) => compareKeys(a.key, b.key) || a.seq - b.seq)
      // first candidate at or past the head (binary search)
      let lo = 0
      let hi = n
      if (head !== undefined) {
        const h = head
        while (lo < hi) {
          const mid = (lo + hi) >>> 1
          if (candidates[mid]!.key < h) lo = mid + 1
          else hi = mid
        }
      }
      const start = lo === n ? 0 : lo
      const count = Math.min(limit, n)
      const out: Array<Candidate> = []
      for (let i = 0; i < count; i++) out.push(candidates[(start + i) % n]!)
      head = out[count - 1]!.key
      return out
    }
  }
}

const positiveWeight = (w: unknown) => typeof w === "number" && w > 0 && Number.isFinite(w)

/**
 * Weighted fair share across tenants (start-time fair queueing): each dispatched operation
 * advances its tenant's virtual time by `1 / weight`; the tenant with the lowest virtual time
 * goes next. A tenant returning from idle starts at the current minimum, so idling earns no
 * burst. Within a tenant, oldest first. Unknown tenants get `defaultWeight` (1).
 */
export const fairShare = (options?: {
  readonly weights?: Readonly<Record<string, number>> | undefined
  readonly defaultWeight?: number | undefined
}): Policy => {
  const weights = options?.weights ?? {}
  const defaultWeight = options?.defaultWeight ?? 1
  const badTenant = Object.entries(weights).find(([, w]) => !positiveWeight(w))
  const invalid = badTenant !== undefined
    ? { option: `fairShare.weights.${badTenant[0]}`, value: String(badTenant[1]), expected: "a positive finite number" }
    : !positiveWeight(defaultWeight)
    ? { option: "fairShare.defaultWeight", value: String(defaultWeight), expected: "a positive finite number" }
    : undefined
  if (invalid !== undefined) {
    return {
      name: "fair-share",
      invalid,
      make: () => {
        throw new RangeError(`${invalid.option} must be ${invalid.expected}, got ${invalid.value}`)
      }
    }
  }
  return {
    name: "fair-share",
    make: () => {
      const vtime = new Map<string, number>()
      return (candidates, limit) => {
        candidates.sort(bySeq)
        const queues = new Map<string, { items: Array<Candidate>; next: number }>()
        for (const c of candidates) {
          const q = queues.get(c.tenant)
          if (q === undefined) queues.set(c.tenant, { items: [c], next: 0 })
          else q.items.push(c)
        }
        let floor = Infinity
        for (const t of queues.keys()) floor = Math.min(floor, vtime.get(t) ?? Infinity)
        if (floor === Infinity) floor = 0
        for (const t of queues.keys()) vtime.set(t, Math.max(vtime.get(t) ?? floor, floor))
        const out: Array<Candidate> = []
        const count = Math.min(limit, candidates.length)
        while (out.length < count) {
          let best: string | undefined
          let bestTime = Infinity
          for (const [t, q] of queues) {
            if (q.next < q.items.length) {
              const v = vtime.get(t)!
              if (v < bestTime) {
                bestTime = v
                best = t
              }
            }
          }
          const q = queues.get(best!)!
          out.push(q.items[q.next++]!)
          vtime.set(best!, bestTime + 1 / (weights[best!] ?? defaultWeight))
        }
        return out
      }
    }
  }
}
