/**
 * The built-in load generator: customers ordering (and browsing), merchants repricing, at a
 * rate that follows a wave — calm, rush, flood, lull — so one run shows every regime: orders
 * dispatched at once when quiet, bundled more and more as the rush builds, the pool scaling up,
 * the front desk throttling past its high-water mark, and the backlog draining afterwards.
 *
 * Item popularity is skewed (a few best-sellers), like real shops: that is what makes bundling
 * pay off.
 */
import { Effect, Schedule } from "effect"
import { Random } from "@mailroom/testkit"
import * as Catalog from "./Catalog.js"
import type { Desk } from "./Desk.js"
import type { Order } from "./Order.js"

/** The shop's items (the catalog's). */
export const skus: ReadonlyArray<string> = Catalog.skus

/** Fraction of `peak` wanted at `seconds` into a wave of length `period`. */
export const profile = (seconds: number, period: number): number => {
  const p = (seconds % period) / period
  if (p < 0.15) return 0.1
  if (p < 0.55) return 0.1 + 0.9 * ((p - 0.15) / 0.4)
  if (p < 0.8) return 1
  return 0.05
}

/** The phase name at a point of the wave, for the terminal. */
export const phase = (seconds: number, period: number): string => {
  const p = (seconds % period) / period
  return p < 0.15 ? "calm" : p < 0.55 ? "rush" : p < 0.8 ? "flood" : "lull"
}

/** Draws an order: 1–3 lines of skewed-popularity items, 1–3 units each. */
export const drawOrder = (rnd: () => number, n: number): Order => {
  const count = rnd() < 0.6 ? 1 : rnd() < 0.75 ? 2 : 3
  const lines = []
  for (let i = 0; i < count; i++) {
    const sku = skus[Math.floor(skus.length * rnd() ** 2.2)]!
    lines.push({ sku, qty: 1 + Math.floor(rnd() * 3) })
  }
  return { customer: `customer-${n % 5000}`, lines }
}

/** What the generator has done so far, and what it aims for now. */
export interface LoadState {
  submitted: number
  accepted: number
  throttled: number
  /** Orders per second wanted right now. */
  currentRate: number
  phase: string
  startedAt: number
}

/**
 * Runs the generator until interrupted. `peak` is orders/s at the top of the wave; `period`
 * the wave's length in seconds. Order submissions run concurrently (bounded), like customers.
 */
export const run = (options: {
  readonly desk: Desk["Service"]
  readonly catalog: Catalog.Catalog
  readonly peak: () => number
  readonly period: number
  readonly state: LoadState
  readonly seed?: number | undefined
}): Effect.Effect<void> => {
  // Seeded, so runs are comparable.
  const rnd = Random.seeded(options.seed ?? 42)
  const state = options.state
  let carry = 0
  let n = 0
  const tickMs = 50
  const maxInFlight = 5000
  let inFlight = 0
  const tick = Effect.suspend(() => {
    const seconds = (Date.now() - state.startedAt) / 1000
    state.phase = phase(seconds, options.period)
    state.currentRate = options.peak() * profile(seconds, options.period)
    carry += (state.currentRate * tickMs) / 1000
    const count = Math.floor(carry)
    carry -= count
    const orders: Array<Order> = []
    for (let i = 0; i < count; i++) {
      const order = drawOrder(rnd, n++)
      for (const line of order.lines) options.catalog.lookup(line.sku)
      orders.push(order)
    }
    // Merchants reprice the best-sellers about once per eight orders.
    for (let i = 0; i < count; i += 8) options.catalog.reprice(skus[Math.floor(rnd() * 6)]!, 90 + Math.floor(rnd() * 20))
    // Customers do not wait for each other: each tick's orders are submitted in the background
    // (at most `maxInFlight` submissions outstanding, so a stalled journal cannot pile up fibers).
    if (orders.length === 0 || inFlight > maxInFlight) return Effect.void
    inFlight += orders.length
    return Effect.asVoid(Effect.forkChild(Effect.forEach(orders, (order) => {
      state.submitted++
      return options.desk.submit(order, { source: "load" }).pipe(
        Effect.matchEffect({
          onSuccess: () => Effect.sync(() => void state.accepted++),
          onFailure: (e) =>
            e._tag === "Overloaded"
              ? Effect.sync(() => void state.throttled++)
              : Effect.logWarning(`load generator: ${e.message}`)
        }),
        Effect.ensuring(Effect.sync(() => void inFlight--))
      )
    }, { concurrency: "unbounded", discard: true })))
  })
  return Effect.asVoid(Effect.repeat(tick, Schedule.spaced(tickMs)))
}
