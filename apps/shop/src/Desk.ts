/**
 * The shop's front desk: one task pipeline of `@mailroom/tasks` (request log: stream
 * `shop-orders`) with two task types.
 *
 * - `order`: `submit` hands the order to the pipeline's `FrontDesk` — payload `PlacedOrder`, the
 *   HTTP `Idempotency-Key` as the task's idempotency key (scoped by customer), the customer as the
 *   tenant. Admission control refuses it with `Overloaded` past the backlog's high-water mark or
 *   when the customer is over its rate; else it is appended to the log (durable before the
 *   answer) and its ticket is the order's ticket. The `order` handler spawns one `pick` child per
 *   line (a flow: recorded durably, keyed by line, so an order run again finds its picks instead
 *   of picking twice) and returns; the order waits for its picks holding no worker, and
 *   succeeds when they all did (fails if one failed for good).
 * - `pick`: picks combine per cart in the scheduler while the pickers are busy (`Warehouse.ts`);
 *   its pool is the warehouse, resized by the pipeline's autoscaler.
 *
 * Admission counts orders only (tasks without a parent): picks of an accepted order are part of
 * work already accepted and are never refused. Statuses, recovery, the reconciler, idempotency
 * (and its conflicts) and the order details on a ticket (the task's payload, from the pipeline)
 * all come from the pipeline. The desk keeps only this run's counters and the ids of the last
 * tickets it answered (for the dashboard's list).
 */
import { Context, Effect, Layer, Metric, Schema } from "effect"
import type { Scope } from "effect"
import type { Journal } from "@mailroom/persistence"
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
  /** In a cluster: every process's share (partitions, backlog, tasks done), from the board. */
  readonly cluster?: ReadonlyArray<ClusterShare>
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

/** The journal stream of the request log. */
export const stream = "shop-orders"

/** The front desk service. */
export class Desk extends Context.Service<Desk, {
  /** Admits, records, answers the ticket (callers decode the order with `Order` first). */
  readonly submit: (
    order: Order,
    options: { readonly idempotencyKey?: string | undefined; readonly source: Source }
  ) => Effect.Effect<{ readonly ticket: Ticket; readonly duplicate: boolean }, Overloaded | IdempotencyConflict | DeskError>
  /** The ticket's current status; `undefined` when no such ticket is known. */
  readonly status: (id: string) => Effect.Effect<Ticket | undefined, DeskError>
  /** The most recent tickets this run answered (newest first), optionally only from one source. */
  readonly latest: (n: number, source?: Source) => ReadonlyArray<Ticket>
  readonly figures: () => Figures
  /** The pipelines running in this process (one; in a cluster, the partitions it owns now). */
  readonly pipelines: () => ReadonlyArray<Pipeline.Pipeline>
}>()("@mailroom/shop/Desk") {}

/** Prometheus-visible figures of the shop (next to the pipeline's `mailroom_tasks_*`). */
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

/** The ticket of an order: its task's status and its payload (the order as placed). */
const ticketOf = (s: TaskTicket.TaskStatus, order: PlacedOrder): Ticket => {
  const status = s.status === "compensated" ? "failed" : s.status
  const base = { id: s.id, status, customer: order.customer, lines: order.lines, acceptedAt: s.acceptedAt, updatedAt: s.updatedAt, source: order.source }
  return s.error === undefined ? base : { ...base, error: s.error }
}

const RECENT = 200

/** What runs the desk's tasks: one pipeline in this process, or the partitions of a cluster. */
export interface Backend {
  readonly submit: (
    type: TaskType.Any,
    payload: PlacedOrder,
    options: { readonly key?: string; readonly tenant: string }
  ) => Effect.Effect<TaskTicket.Ticket, { readonly _tag: string; readonly message: string }>
  /** The status (with the payload); undefined when no such ticket is known. */
  readonly status: (id: string) => Effect.Effect<TaskTicket.TaskStatus | undefined, DeskError>
  /** The status known in this process right now (the list of recent tickets). */
  readonly statusNow: (id: string) => TaskTicket.TaskStatus | undefined
  /** The pipelines running in this process (all partitions it owns now, in a cluster). */
  readonly pipelines: () => ReadonlyArray<Pipeline.Pipeline>
  /** Every process's share, in a cluster. */
  readonly cluster: () => ReadonlyArray<ClusterShare> | undefined
}

/** One process of a clustered shop, as the board shows it. */
export interface ClusterShare {
  /** The runner's address (`host:port`). */
  readonly runner: string
  /** The partitions it runs. */
  readonly partitions: ReadonlyArray<number>
  /** Tasks (orders and picks) accepted and not final in them. */
  readonly depth: number
  /** Tasks final in them since they started there. */
  readonly completions: number
  /** This process. */
  readonly self: boolean
}

/** The shop's two task types (the pick counters are this process's). */
const startError = (e: { readonly message: string }) => new DeskError({ operation: "start", reason: e.message })

export const taskTypes = Effect.fnUntraced(function*(options: Options, counters: Warehouse.Counters) {
  const Pick = yield* Warehouse.pickType({ ...options, counters }).pipe(Effect.mapError(startError))
  const OrderTask = yield* TaskType.make({
    name: "order",
    payload: PlacedOrder,
    // A flow: one pick per line, recorded before the handler returns; the order then waits for
    // them without holding a worker (so a few order workers serve any backlog).
    handler: (order, context) =>
      Effect.map(context.spawn(Pick, order.lines.map((line) => ({ sku: line.sku, qty: line.qty }))), (picks) => ({
        picks: picks.map((p) => p.id)
      })),
    timeout: "1 minute",
    concurrency: 8
  }).pipe(Effect.mapError(startError))
  return { OrderTask, Pick }
})

/** The pipeline options of the shop (one pipeline, or each partition of a cluster). */
export const pipelineOptions = (options: Options, types: { readonly OrderTask: TaskType.TaskType<any, any, any>; readonly Pick: TaskType.TaskType<any, any, any> }): Pipeline.Options => ({
  types: [types.OrderTask, types.Pick],
  stream,
  retainFinal: (options.retain ?? 50_000) * 4,
  admission: { highWater: options.highWater, tenantRate: options.tenantRate },
  autoscaler: { interval: "500 millis", backlogPerWorker: 10 }
})

/** Starts the pipeline in the current scope and answers the desk over it. */
export const make = Effect.fnUntraced(function*(
  options: Options
): Effect.fn.Return<Desk["Service"], DeskError, Journal.Journal | Scheduler.Scheduler | Scope.Scope> {
  const counters: Warehouse.Counters = { jobs: 0, units: 0 }
  const types = yield* taskTypes(options, counters)
  const pipeline = yield* Pipeline.make(pipelineOptions(options, types)).pipe(
    Effect.mapError((e) => new DeskError({ operation: "start", reason: e.message }))
  )
  const backend: Backend = {
    submit: (type, payload, opts) => pipeline.frontDesk.submit(type, payload, opts),
    status: (id) =>
      pipeline.status.get(id, { payload: true }).pipe(
        Effect.map((s): TaskTicket.TaskStatus | undefined => s),
        Effect.catchTag("TicketNotFound", () => Effect.succeed(undefined)),
        Effect.mapError((e) => new DeskError({ operation: "status", reason: e.message }))
      ),
    statusNow: (id) => {
      const exit = Effect.runSyncExit(pipeline.status.get(id))
      return exit._tag === "Success" ? exit.value : undefined
    },
    pipelines: () => [pipeline],
    cluster: () => undefined
  }
  return over(backend, options, types, counters, pipeline)
})

/** The desk over a backend: submissions, tickets, figures. */
export const over = (
  backend: Backend,
  options: Options,
  types: { readonly OrderTask: TaskType.Any; readonly Pick: TaskType.Any },
  counters: Warehouse.Counters,
  pipeline: Pipeline.Pipeline | undefined
): Desk["Service"] => {
  const { OrderTask, Pick } = types
  // The ids (and orders) of the tickets this run answered, newest last, for the dashboard's
  // list; a ticket's details otherwise come from the pipeline (its payload).
  const recent: Array<{ readonly id: string; readonly order: PlacedOrder; readonly accepted: TaskTicket.TaskStatus }> = []
  const remember = (id: string, order: PlacedOrder, accepted: TaskTicket.TaskStatus) => {
    recent.push({ id, order, accepted })
    if (recent.length > 2 * RECENT) recent.splice(0, recent.length - RECENT)
  }

  // Counters of this run: orders completed here since each pipeline started here.
  const baselines = new Map<Pipeline.Pipeline, number>()
  const completedHere = () => {
    let n = 0
    for (const p of backend.pipelines()) {
      const done = p.backlog.snapshot().completionsByType.get(OrderTask.name) ?? 0
      let base = baselines.get(p)
      if (base === undefined) baselines.set(p, base = p === pipeline ? done : 0)
      n += done - base
    }
    return n
  }
  completedHere()
  let accepted = 0
  let duplicates = 0
  let throttled = 0
  let throttledByTenant = 0

  const status = (id: string): Effect.Effect<Ticket | undefined, DeskError> =>
    Effect.map(backend.status(id), (s) => s === undefined || s.taskType !== OrderTask.name ? undefined : ticketOf(s, s.payload as PlacedOrder))

  const backlogNow = () => {
    let roots = 0
    for (const p of backend.pipelines()) roots += p.backlog.snapshot().roots
    return roots
  }

  const refused = (e: { readonly reason: "backlog" | "tenant-rate"; readonly retryAfter: number; readonly detail: string }, customer: string) => {
    throttled++
    if (e.reason === "tenant-rate") throttledByTenant++
    return Effect.andThen(
      Metric.update(metrics.throttled, 1),
      Effect.fail(new Overloaded({
        reason: e.reason,
        customer,
        backlog: backlogNow(),
        highWater: options.highWater,
        retryAfterSeconds: Math.max(1, Math.ceil(e.retryAfter / 1000)),
        detail: e.detail
      }))
    )
  }

  const submit = (order: Order, opts: { readonly idempotencyKey?: string | undefined; readonly source: Source }) =>
    Effect.gen(function*() {
      const placed: PlacedOrder = { customer: order.customer, lines: order.lines, source: opts.source }
      const key = opts.idempotencyKey
      const tenant = tenantOf(order.customer)
      const ticket = yield* backend.submit(OrderTask, placed, key === undefined ? { tenant } : { key, tenant }).pipe(
        Effect.catch((e): Effect.Effect<never, Overloaded | IdempotencyConflict | DeskError> => {
          if (e._tag === "Overloaded") return refused(e as TaskError.Overloaded, order.customer)
          if (e._tag === "IdempotencyConflict") {
            const c = e as TaskError.IdempotencyConflict
            return Effect.fail(new IdempotencyConflict({ key: c.key, ticket: c.ticket }))
          }
          return Effect.fail(new DeskError({ operation: "submit", reason: e.message }))
        })
      )
      const fresh = { ...acceptedStatus(ticket), tenant }
      if (ticket.duplicate) {
        duplicates++
        const current = yield* status(ticket.id)
        return { ticket: current ?? ticketOf(fresh, placed), duplicate: true }
      }
      accepted++
      remember(ticket.id, placed, fresh)
      yield* Metric.update(metrics.accepted, 1)
      return { ticket: ticketOf(fresh, placed), duplicate: false }
    })

  const latest = (n: number, source?: Source): ReadonlyArray<Ticket> => {
    const out: Array<Ticket> = []
    for (let i = recent.length - 1; i >= 0 && out.length < n; i--) {
      const { accepted, id, order } = recent[i]!
      if (source !== undefined && order.source !== source) continue
      out.push(ticketOf(backend.statusNow(id) ?? accepted, order))
    }
    return out
  }

  const figures = (): Figures => {
    let completions = 0
    let recovered = 0
    let recoveredPicks = 0
    let reconciled = 0
    let depth = 0
    let oldestAgeMs = 0
    let workers = 0
    let busyWorkers = 0
    const stats = { submitted: 0, dispatched: 0, combined: 0, pending: 0 }
    for (const p of backend.pipelines()) {
      const b = p.backlog.snapshot()
      depth += b.roots
      oldestAgeMs = Math.max(oldestAgeMs, b.oldestAgeMs)
      recovered += p.recoveredByType.get(OrderTask.name) ?? 0
      recoveredPicks += p.recoveredByType.get(Pick.name) ?? 0
      reconciled += p.reconciler?.reconciled() ?? 0
      const pool = p.pools.get(Pick.name)
      workers += pool?.size() ?? 0
      busyWorkers += pool?.busy() ?? 0
      const lane = p.dispatcher.lanes().get(Pick.name)
      stats.submitted += lane?.submitted ?? 0
      stats.dispatched += lane?.dispatched ?? 0
      stats.combined += lane?.combined ?? 0
      stats.pending += lane?.pending ?? 0
    }
    completions = completedHere()
    const cluster = backend.cluster()
    return {
      accepted,
      completed: completions,
      throttled,
      throttledByTenant,
      duplicates,
      recovered,
      recoveredPicks,
      reconciled,
      backlog: depth,
      oldestAgeMs,
      highWater: options.highWater,
      workers,
      busyWorkers,
      // Each pipeline (each partition, in a cluster) has its own warehouse pool.
      minWorkers: options.minWorkers * Math.max(1, backend.pipelines().length),
      maxWorkers: options.maxWorkers * Math.max(1, backend.pipelines().length),
      jobs: counters.jobs,
      units: counters.units,
      pendingLines: stats.pending,
      warehouse: stats,
      ...(cluster === undefined ? {} : { cluster })
    }
  }

  return Desk.of({ submit, status, latest, figures, pipelines: backend.pipelines })
}

// The status a fresh ticket stands for, before the log has anything newer.
const acceptedStatus = (t: TaskTicket.Ticket): Omit<TaskTicket.TaskStatus, "tenant"> => ({
  id: t.id,
  taskType: t.taskType,
  status: "accepted",
  attempt: 0,
  acceptedAt: t.acceptedAt,
  updatedAt: t.acceptedAt
})

/** The desk as a layer (needs a `Journal` and a `Scheduler`). */
export const layer = (options: Options): Layer.Layer<Desk, DeskError, Journal.Journal | Scheduler.Scheduler> =>
  Layer.effect(Desk, make(options))
