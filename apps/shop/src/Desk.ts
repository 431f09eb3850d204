/**
 * The shop's front desk, built on the task pipeline of `@mailroom/tasks`.
 *
 * Two pipelines share the journal and the scheduler:
 *
 * - **orders** (request log: stream `shop-orders`): `submit` hands the order to the pipeline's
 *   `FrontDesk` as an `order` task — payload `PlacedOrder`, the HTTP `Idempotency-Key` as the
 *   task's idempotency key, the customer as the tenant. Admission control refuses it with
 *   `Overloaded` past the backlog's high-water mark or when the customer is over its rate; else
 *   it is appended to the log (durable before the answer) and its ticket is the order's ticket.
 *   The `order` handler splits the order: one `pick` task per line, with the idempotency key
 *   `<order ticket>:<line index>` (an order run again — retry, reconciler, restart — finds its
 *   picks instead of picking twice), then waits for their final status.
 * - **warehouse** (stream `shop-warehouse`): `pick` tasks combine per cart in the scheduler
 *   while the pickers are busy (see `Warehouse.ts`); its pool is the warehouse, resized by the
 *   pipeline's autoscaler.
 *
 * Why two pipelines and not one: admission counts every live task of a pipeline. With picks in
 * the same pipeline the high-water mark would count lines instead of orders, and an order's own
 * picks could be refused by the mark (or by its customer's rate) after the order was accepted.
 * The warehouse pipeline has no admission limits: whatever the desk accepted gets picked.
 *
 * Statuses (`accepted → dispatched → running → succeeded`, `retrying`, `failed`), recovery on
 * start (every unfinished order and pick is dispatched again), the reconcilers and the
 * idempotency keys all come from the pipelines and are durable in the log. What the desk keeps
 * itself: the order details shown on a ticket (customer, lines, source) — the pipeline's status
 * does not carry the payload — handed over by the orders pipeline's own replay of
 * `shop-orders` on start (`onAccept`), and the run's counters for the terminal and the
 * dashboard.
 */
import { Context, Effect, Exit, Layer, Metric, Schema } from "effect"
import type { Scope } from "effect"
import { Journal } from "@mailroom/persistence"
import type { Scheduler } from "@mailroom/scheduler"
import { Pipeline, type TaskError, TaskType, Ticket as TaskTicket } from "@mailroom/tasks"
import { createHash } from "node:crypto"
import { type Order, PlacedOrder, type Source, type Ticket } from "./Order.js"
import * as Warehouse from "./Warehouse.js"

/**
 * Admission refused the order: the backlog is past its high-water mark (`reason: "backlog"`)
 * or the customer is over its rate limit (`reason: "tenant-rate"`). Nothing was recorded.
 */
export class Overloaded extends Schema.TaggedError<Overloaded>()("Overloaded", {
  reason: Schema.Literals(["backlog", "tenant-rate"]),
  customer: Schema.String,
  backlog: Schema.Number,
  highWater: Schema.Number,
  retryAfterSeconds: Schema.Number,
  detail: Schema.String
}) {
  override get message(): string {
    return this.reason === "backlog"
      ? `the shop is overloaded: ${this.backlog} orders waiting (high-water mark ${this.highWater}); retry after ${this.retryAfterSeconds} s`
      : `customer ${JSON.stringify(this.customer)} is placing orders too fast (${this.detail}); retry after ${this.retryAfterSeconds} s`
  }
}

/** An Idempotency-Key was reused with a different order. */
export class IdempotencyConflict extends Schema.TaggedError<IdempotencyConflict>()("IdempotencyConflict", {
  key: Schema.String,
  ticket: Schema.String
}) {
  override get message(): string {
    return `Idempotency-Key ${JSON.stringify(this.key)} was already used for a different order (ticket ${this.ticket}); use a new key for a new order`
  }
}

/** The journal or a pipeline failed, or holds something the desk cannot read. */
export class DeskError extends Schema.TaggedError<DeskError>()("DeskError", {
  operation: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `front desk ${this.operation} failed: ${this.reason}`
  }
}

/** Some picks of an order failed for good: the `order` task fails (and is retried per its schedule). */
export class PickFailed extends Schema.TaggedError<PickFailed>()("PickFailed", {
  order: Schema.String,
  lines: Schema.Array(Schema.Struct({ line: Schema.Number, sku: Schema.String, error: Schema.String }))
}) {
  override get message(): string {
    return `order ${this.order}: ${this.lines.map((l) => `line ${l.line} (${l.sku}) ${l.error}`).join("; ")}`
  }
}

/** Live figures of the desk: counters of this run plus current levels. */
export interface Figures {
  /** Orders accepted in this run (idempotent resubmissions not counted). */
  readonly accepted: number
  /** Orders that reached a final status in this run (recovered ones included). */
  readonly completed: number
  /** Orders refused with `Overloaded` in this run, for either reason. */
  readonly throttled: number
  /** ... of which because the customer was over its rate limit. */
  readonly throttledByTenant: number
  readonly duplicates: number
  /** Unfinished orders found in the log on start and dispatched again. */
  readonly recovered: number
  /** Unfinished picks found in the log on start and dispatched again. */
  readonly recoveredPicks: number
  /** Orders and picks the reconcilers dispatched again because they went quiet. */
  readonly reconciled: number
  /** Orders accepted and not final. */
  readonly backlog: number
  /** Age of the oldest unfinished order (ms). */
  readonly oldestAgeMs: number
  readonly highWater: number
  readonly workers: number
  readonly busyWorkers: number
  readonly minWorkers: number
  readonly maxWorkers: number
  /** Warehouse jobs done (handler runs of `pick`, each one or more combined picks). */
  readonly jobs: number
  readonly units: number
  /** Picks pending in the scheduler, not yet handed to a picker. */
  readonly pendingLines: number
  /** The scheduler lane of the `pick` pool: submitted, dispatched, combined, ... */
  readonly warehouse: {
    readonly submitted: number
    readonly dispatched: number
    readonly combined: number
    readonly pending: number
  }
}

/** A customer's rate limit (a token bucket: `perSecond`, up to `burst` at once). */
export interface TenantRate {
  readonly perSecond: number
  readonly burst?: number | undefined
}

/** How the desk is set up. */
export interface Options {
  /** Refuse new orders while this many are unfinished. */
  readonly highWater: number
  readonly minWorkers: number
  readonly maxWorkers: number
  readonly timing: Warehouse.Timing
  /** Per-customer rate limit; `undefined` = none. */
  readonly tenantRate?: TenantRate | undefined
  /** Final tickets kept for `status` (default 50,000); older ones answer "not found". */
  readonly retain?: number | undefined
}

/** Sensible defaults: a small warehouse that a flood can overwhelm within seconds. */
export const defaults: Options = {
  highWater: 3000,
  minWorkers: 1,
  maxWorkers: 8,
  timing: { setupMs: 12, perUnitMs: 4 },
  tenantRate: { perSecond: 20, burst: 40 }
}

/** The journal streams of the two request logs. */
export const streams = { orders: "shop-orders", warehouse: "shop-warehouse" } as const

/** The front desk service. */
export class Desk extends Context.Service<Desk, {
  /** Admits, records, answers the ticket (callers decode the order with `Order` first). */
  readonly submit: (
    order: Order,
    options: { readonly idempotencyKey?: string | undefined; readonly source: Source }
  ) => Effect.Effect<{ readonly ticket: Ticket; readonly duplicate: boolean }, Overloaded | IdempotencyConflict | DeskError>
  /** The ticket's current status; `undefined` when no such ticket is known. */
  readonly status: (id: string) => Effect.Effect<Ticket | undefined, DeskError>
  /** The most recent tickets (newest first), optionally only from one source. */
  readonly latest: (n: number, source?: Source) => ReadonlyArray<Ticket>
  readonly figures: () => Figures
  /** The pipelines behind the desk (for tests and introspection). */
  readonly orders: Pipeline.Pipeline
  readonly warehouse: Pipeline.Pipeline
}>()("@mailroom/shop/Desk") {}

/** Prometheus-visible figures of the shop (next to the pipelines' `mailroom_tasks_*`). */
export const metrics = {
  accepted: Metric.counter("mailroom_shop_orders_accepted", { description: "orders accepted by the front desk", incremental: true }),
  completed: Metric.counter("mailroom_shop_orders_completed", { description: "orders that reached a final status", incremental: true }),
  throttled: Metric.counter("mailroom_shop_orders_throttled", { description: "orders refused with Overloaded (HTTP 429)", incremental: true }),
  backlog: Metric.gauge("mailroom_shop_backlog", { description: "orders accepted and not finished" }),
  oldestAge: Metric.gauge("mailroom_shop_backlog_oldest_age_ms", { description: "age of the oldest unfinished order (ms)" }),
  workers: Metric.gauge("mailroom_shop_workers", { description: "warehouse pool size" })
}

const SAFE_TENANT = /^[A-Za-z0-9_.@-]{1,64}$/

/**
 * The pipeline tenant of a customer. Tenants are 1..128 of `[A-Za-z0-9_.:@-]`; any customer
 * name is allowed, so other names are cleaned and made unique with a hash (the extra `:` keeps
 * the two forms apart).
 */
export const tenantOf = (customer: string): string =>
  SAFE_TENANT.test(customer)
    ? `customer:${customer}`
    : `customer:${customer.replace(/[^A-Za-z0-9_.@-]/g, "_").slice(0, 40)}:${createHash("sha256").update(customer).digest("hex").slice(0, 12)}`

/** What a ticket shows besides its status: the order as placed. */
type Details = PlacedOrder


const sameOrder = (a: Order, b: Order) =>
  a.customer === b.customer && a.lines.length === b.lines.length &&
  a.lines.every((l, i) => l.sku === b.lines[i]!.sku && l.qty === b.lines[i]!.qty)

// The status a fresh ticket stands for, before the log has anything newer.
const acceptedStatus = (t: TaskTicket.Ticket, tenant: string): TaskTicket.TaskStatus => ({
  id: t.id,
  taskType: t.taskType,
  tenant,
  status: "accepted",
  attempt: 0,
  acceptedAt: t.acceptedAt,
  updatedAt: t.acceptedAt
})

const RECENT = 200
const orderType = "order"

/** Starts both pipelines in the current scope and answers the desk over them. */
export const make = Effect.fnUntraced(function*(
  options: Options
): Effect.fn.Return<Desk["Service"], DeskError, Journal.Journal | Scheduler.Scheduler | Scope.Scope> {
  const retain = options.retain ?? 50_000
  const startError = (e: { readonly message: string }) => new DeskError({ operation: "start", reason: e.message })

  const details = new Map<string, Details>() // insertion order = acceptance order
  const recent: Array<string> = []
  const recentApi: Array<string> = []
  const remember = (id: string, order: Details) => {
    details.set(id, order)
    recent.push(id)
    if (recent.length > 2 * RECENT) recent.splice(0, RECENT)
    if (order.source === "api") {
      recentApi.push(id)
      if (recentApi.length > 2 * RECENT) recentApi.splice(0, RECENT)
    }
  }
  // The warehouse first: the order handler submits to it, and it closes after the orders.
  const counters: Warehouse.Counters = { jobs: 0, units: 0 }
  const Pick = yield* Warehouse.pickType({ ...options, counters }).pipe(Effect.mapError(startError))
  const warehouse = yield* Pipeline.make({
    types: [Pick],
    stream: streams.warehouse,
    retainFinal: retain * 4,
    autoscaler: { interval: "500 millis", backlogPerWorker: 10 }
  }).pipe(Effect.mapError(startError))
  const carts = Warehouse.makeCarts(options.maxWorkers)

  const pickAll = (order: PlacedOrder, orderId: string) =>
    Effect.gen(function*() {
      const picks = yield* Effect.forEach(order.lines, (line, i) =>
        warehouse.frontDesk.submit(
          Pick,
          { sku: line.sku, qty: line.qty, cart: carts(line.sku, line.qty) } satisfies Warehouse.Pick,
          { key: `${orderId}:${i}` }
        ), { concurrency: "unbounded" })
      const finals = yield* Effect.forEach(picks, (p) => warehouse.status.awaitFinal(p), { concurrency: "unbounded" })
      const failed = finals.flatMap((f, i) =>
        f.status === "succeeded" ? [] : [{ line: i, sku: order.lines[i]!.sku, error: f.error ?? f.status }]
      )
      if (failed.length > 0) return yield* new PickFailed({ order: orderId, lines: failed })
      return { picks: picks.map((p) => p.id) }
    })

  // Every accepted order holds a worker of this pool while its picks are done, so the pool is
  // as large as the backlog may be: orders never wait here, their picks wait in the warehouse.
  const orderWorkers = Math.min(options.highWater, 10_000)
  const OrderTask = yield* TaskType.make({
    name: orderType,
    payload: PlacedOrder,
    handler: (order, context) => pickAll(order, context.taskId),
    timeout: "5 minutes",
    concurrency: orderWorkers
  }).pipe(Effect.mapError(startError))
  // The order details of earlier runs come from the pipeline's own replay of its log
  // (`onAccept`, before recovery dispatches anything); this run's are remembered at submit.
  let unreadable: string | undefined
  const orders = yield* Pipeline.make({
    onAccept: (task) => {
      if (!task.replayed || task.taskType !== orderType) return
      if (task.payload === undefined) unreadable ??= task.id
      else remember(task.id, task.payload as PlacedOrder)
    },
    types: [OrderTask],
    stream: streams.orders,
    retainFinal: retain,
    admission: { highWater: options.highWater, tenantRate: options.tenantRate },
    dispatcher: { window: Math.max(4096, orderWorkers) },
    autoscaler: false
  }).pipe(Effect.mapError(startError))
  if (unreadable !== undefined) {
    return yield* new DeskError({ operation: "start", reason: `order ${unreadable} in ${streams.orders} has an unreadable payload` })
  }

  const current = (id: string): TaskTicket.TaskStatus | undefined => {
    const exit = Effect.runSyncExit(orders.status.get(id))
    return Exit.isSuccess(exit) ? exit.value : undefined
  }

  // Keeps the details of live tickets and of about `retain` final ones, like the pipeline.
  const trim = () => {
    if (details.size <= retain * 1.25) return
    for (const id of details.keys()) {
      if (details.size <= retain) break
      const s = current(id)
      if (s === undefined || TaskTicket.isFinal(s.status)) details.delete(id)
    }
  }
  trim()

  const completedAtStart = orders.backlog.snapshot().completions
  let accepted = 0
  let duplicates = 0
  let throttled = 0
  let throttledByTenant = 0
  // Orders whose submission with an idempotency key is on its way into the log: a concurrent
  // resubmission of the key is compared with it before its details are recorded.
  const inflight = new Map<string, Order>()

  const ticketOf = (id: string, d: Details, s: TaskTicket.TaskStatus): Ticket => {
    const status = s.status === "compensated" ? "failed" : s.status
    const base = { id, status, customer: d.customer, lines: d.lines, acceptedAt: s.acceptedAt, updatedAt: s.updatedAt, source: d.source }
    return s.error === undefined ? base : { ...base, error: s.error }
  }

  const status = (id: string): Effect.Effect<Ticket | undefined, DeskError> =>
    Effect.suspend(() => {
      const s = current(id)
      if (s === undefined) return Effect.succeed(undefined)
      const d = details.get(id)
      if (d === undefined) {
        return Effect.fail(new DeskError({ operation: "status", reason: `the order details of ticket ${id} are no longer kept (only the latest ${retain} final tickets are)` }))
      }
      return Effect.succeed(ticketOf(id, d, s))
    })

  const refused = (e: TaskError.Overloaded, customer: string) => {
    throttled++
    if (e.reason === "tenant-rate") throttledByTenant++
    return Effect.andThen(
      Metric.update(metrics.throttled, 1),
      Effect.fail(new Overloaded({
        reason: e.reason,
        customer,
        backlog: orders.backlog.snapshot().depth,
        highWater: options.highWater,
        retryAfterSeconds: Math.max(1, Math.ceil(e.retryAfter / 1000)),
        detail: e.detail
      }))
    )
  }

  const submit = (order: Order, opts: { readonly idempotencyKey?: string | undefined; readonly source: Source }) =>
    Effect.suspend(() => {
      const key = opts.idempotencyKey
      const placed: PlacedOrder = { customer: order.customer, lines: order.lines, source: opts.source }
      const mine = key !== undefined && !inflight.has(key)
      if (mine) inflight.set(key, order)
      const tenant = tenantOf(order.customer)
      return orders.frontDesk.submit(OrderTask, placed, key === undefined ? { tenant } : { key, tenant }).pipe(
        Effect.tap((ticket) =>
          ticket.duplicate ? Effect.void : Effect.sync(() => {
            remember(ticket.id, placed)
            trim()
          })
        ),
        Effect.ensuring(Effect.sync(() => {
          if (mine) inflight.delete(key)
        })),
        Effect.catch((e): Effect.Effect<never, Overloaded | DeskError> =>
          e._tag === "Overloaded"
            ? refused(e, order.customer)
            : Effect.fail(new DeskError({ operation: "submit", reason: e.message }))
        ),
        Effect.flatMap((ticket): Effect.Effect<{ readonly ticket: Ticket; readonly duplicate: boolean }, IdempotencyConflict> => {
          if (!ticket.duplicate) {
            accepted++
            return Effect.as(Metric.update(metrics.accepted, 1), { ticket: ticketOf(ticket.id, placed, acceptedStatus(ticket, tenant)), duplicate: false })
          }
          const d = details.get(ticket.id)
          const known = d ?? (key === undefined ? undefined : inflight.get(key))
          // Details of old final tickets are not kept (see `trim`): then the key alone decides,
          // as it does in the pipeline.
          if (known !== undefined && !sameOrder(known, order)) {
            return Effect.fail(new IdempotencyConflict({ key: key ?? "", ticket: ticket.id }))
          }
          duplicates++
          return Effect.succeed({
            ticket: ticketOf(ticket.id, d ?? placed, current(ticket.id) ?? acceptedStatus(ticket, tenant)),
            duplicate: true
          })
        })
      )
    })

  const latest = (n: number, source?: Source): ReadonlyArray<Ticket> => {
    const ids = source === "api" ? recentApi : recent
    const out: Array<Ticket> = []
    for (let i = ids.length - 1; i >= 0 && out.length < n; i--) {
      const id = ids[i]!
      const d = details.get(id)
      const s = current(id)
      if (d === undefined || s === undefined || (source !== undefined && d.source !== source)) continue
      out.push(ticketOf(id, d, s))
    }
    return out
  }

  const pool = warehouse.pools.get(Pick.name)!
  const figures = (): Figures => {
    const backlog = orders.backlog.snapshot()
    const lane = warehouse.dispatcher.lanes().get(Pick.name)
    const stats = { submitted: lane?.submitted ?? 0, dispatched: lane?.dispatched ?? 0, combined: lane?.combined ?? 0, pending: lane?.pending ?? 0 }
    return {
      accepted,
      completed: backlog.completions - completedAtStart,
      throttled,
      throttledByTenant,
      duplicates,
      recovered: orders.recovered,
      recoveredPicks: warehouse.recovered,
      reconciled: (orders.reconciler?.reconciled() ?? 0) + (warehouse.reconciler?.reconciled() ?? 0),
      backlog: backlog.depth,
      oldestAgeMs: backlog.oldestAgeMs,
      highWater: options.highWater,
      workers: pool.size(),
      busyWorkers: pool.busy(),
      minWorkers: options.minWorkers,
      maxWorkers: options.maxWorkers,
      jobs: counters.jobs,
      units: counters.units,
      pendingLines: stats.pending,
      warehouse: stats
    }
  }

  return Desk.of({ submit, status, latest, figures, orders, warehouse })
})

/** The desk as a layer (needs a `Journal` and a `Scheduler`). */
export const layer = (options: Options): Layer.Layer<Desk, DeskError, Journal.Journal | Scheduler.Scheduler> =>
  Layer.effect(Desk, make(options))
