/**
 * The catalog: stock look-ups and price changes, the two other merge kinds of the scheduler.
 *
 * Customers browsing check an item's stock before ordering: a `coalesce` read keyed by sku, so
 * every customer looking at the same item while a look-up is pending or in flight shares ONE
 * look-up. Merchants reprice items: a `last-wins` write keyed by sku, so of several price
 * changes waiting for the catalog database only the last one is written (the others are
 * "superseded" and succeed with it). The catalog database is slow and has one connection.
 */
import { Effect } from "effect"
import { Operation, Scheduler, Target } from "@mailroom/scheduler"

/**
 * The shop's items. An order may only name these (`POST /orders` answers 400 naming
 * `lines[i].sku` otherwise); the load generator draws from them.
 */
export const skus = [
  "tea", "coffee", "mug", "kettle", "teapot", "filter", "grinder", "scale",
  "spoon", "sugar", "honey", "biscuits", "tray", "napkins", "cups", "saucers",
  "jar", "tin", "whisk", "matcha", "cocoa", "milk-frother", "thermos", "gift-card"
] as const

const known: ReadonlySet<string> = new Set(skus)

/** Whether the catalog has the item. */
export const has = (sku: string): boolean => known.has(sku)

/** What the catalog database answers: stock for a read, the price written for a write. */
export interface Answer {
  readonly sku: string
  readonly value: number
}

type Input = { readonly price: number } | undefined

/** The catalog lane: `lookup` and `reprice`, each a fire-and-forget submission. */
export interface Catalog {
  readonly lookup: (sku: string) => void
  readonly reprice: (sku: string, price: number) => void
  readonly stats: () => Scheduler.LaneStats
  /** Queries the catalog database actually ran. */
  readonly queries: () => number
}

const ignore = () => {}

/** Attaches the catalog target; each batch costs `batchMs` plus `perItemMs` per merged item. */
export const make = Effect.fnUntraced(function*(timing: { readonly batchMs: number; readonly perItemMs: number } = { batchMs: 3, perItemMs: 0.5 }) {
  const prices = new Map<string, number>()
  let queries = 0
  const lane = yield* Scheduler.attach(Target.make<string, Input, Answer>({
    name: "catalog",
    capacity: 1,
    maxBatch: 256,
    handle: (batch) =>
      Effect.as(
        Effect.sleep(timing.batchMs + timing.perItemMs * batch.length),
        batch.map((work) => {
          queries++
          if (work.input !== undefined) {
            prices.set(work.key, work.input.price)
            return { sku: work.key, value: work.input.price }
          }
          return { sku: work.key, value: 100 - (work.key.length * 7) % 50 }
        })
      )
  })).pipe(Effect.orDie)
  const catalog: Catalog = {
    lookup: (sku) => {
      lane.submitCallback(Operation.read<string, Input>(sku, undefined), ignore)
    },
    reprice: (sku, price) => {
      lane.submitCallback(Operation.write<string, Input>(sku, { price }), ignore)
    },
    stats: lane.stats,
    queries: () => queries
  }
  return catalog
})
