/**
 * The warehouse: the `pick` task type of `@mailroom/tasks`, whose worker pool is the warehouse's
 * pool of pickers.
 *
 * Every order line becomes one `pick` task, a child of its `order` task (see `Desk.ts`). Its merge
 * kind is `TaskType.combine` keyed by cart: while the pickers are busy, pending picks for the same cart
 * fold into ONE warehouse job (units summed), however many orders asked for the item. A job
 * costs a fixed setup time plus a time per unit, so bundling saves the setup of every line
 * folded in — the busier the shop, the more it saves.
 *
 * Why carts: the scheduler runs at most one operation per key at a time, so with the sku as
 * the key a best-seller could only ever be picked by one worker. Lines of an item are instead
 * dealt into carts as they are dispatched (the merge key is computed then): a cart takes lines
 * until it holds `cartUnits` units, then the next line of the item opens the next cart
 * (`sku#0`, `sku#1`, …, wrapping after `carts` of them). Lines of an item waiting together still
 * combine per cart, and a best-seller's carts are picked by several workers at once. The cart
 * is not part of the pick's payload: a pick dispatched again (a retry) is dealt again, and an
 * order run again spawns exactly the same picks (same payloads, same keys).
 *
 * Workers pull: the pool is a scheduler target whose credits are its workers, and the
 * pipeline's autoscaler resizes it between `minWorkers` and `maxWorkers` from the backlog.
 */
import { Effect, Schema } from "effect"
import { type TaskError, TaskType } from "@mailroom/tasks"
import { Sku } from "./Order.js"

/** Most units dealt into one cart before the item's next line opens the next cart. */
export const cartUnits = 30

/** The payload of a `pick` task: units of one item. */
export const Pick = Schema.Struct({
  sku: Sku,
  qty: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
})
export type Pick = typeof Pick.Type

/** What one warehouse job answers to every pick folded into it. */
export interface JobResult {
  /** The job's id: the ticket of the first pick it performed. */
  readonly job: string
  readonly sku: string
  /** Units picked in the job (all its picks together). */
  readonly units: number
  /** Picks (order lines) folded into the job. */
  readonly lines: number
}

/** Timing of a picking job. */
export interface Timing {
  /** Fixed cost of a job (walk to the shelf, print the label). */
  readonly setupMs: number
  /** Cost per unit picked. */
  readonly perUnitMs: number
}

/**
 * Deals the lines of each item into carts (see the module comment); `carts` is how many carts
 * one item may use at once (the most workers a best-seller can keep busy).
 */
export const makeCarts = (carts: number) => {
  const open = new Map<string, { cart: number; units: number }>()
  return (sku: string, qty: number): number => {
    let c = open.get(sku)
    if (c === undefined) open.set(sku, c = { cart: 0, units: 0 })
    if (c.units > 0 && c.units + qty > cartUnits) {
      c.cart = (c.cart + 1) % Math.max(1, carts)
      c.units = 0
    }
    c.units += qty
    return c.cart
  }
}

/** Counters of the jobs the pickers did (in this process). */
export interface Counters {
  jobs: number
  units: number
}

/**
 * The `pick` task type: combine per cart (dealt at dispatch by `makeCarts(maxWorkers)`), handler =
 * one warehouse job, pool bounds `minWorkers..maxWorkers` (starting at `minWorkers`).
 */
export const pickType = (options: {
  readonly timing: Timing
  readonly minWorkers: number
  readonly maxWorkers: number
  readonly counters: Counters
}): Effect.Effect<TaskType.TaskType<Pick, JobResult>, TaskError.InvalidTaskConfig> => {
  const carts = makeCarts(options.maxWorkers)
  return TaskType.make({
    name: "pick",
    payload: Pick,
    merge: TaskType.combine<Pick>({
      key: (p) => `${p.sku}#${carts(p.sku, p.qty)}`,
      fold: (picks) => ({ sku: picks[0]!.sku, qty: picks.reduce((n, p) => n + p.qty, 0) })
    }),
    handler: (pick, context) =>
      Effect.as(
        Effect.andThen(
          Effect.sleep(options.timing.setupMs + options.timing.perUnitMs * pick.qty),
          Effect.sync(() => {
            options.counters.jobs++
            options.counters.units += pick.qty
          })
        ),
        { job: context.taskId, sku: pick.sku, units: pick.qty, lines: context.taskIds.length } satisfies JobResult
      ),
    timeout: "30 seconds",
    concurrency: { min: options.minWorkers, max: options.maxWorkers, initial: options.minWorkers }
  })
}
