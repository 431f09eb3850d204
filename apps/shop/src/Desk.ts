/**
 * The shop's front desk and the minimum task pipeline behind it (`ShopDesk`).
 *
 * Record first, answer fast: `submit` checks admission (the backlog's high-water mark), appends
 * `OrderAccepted` to the ticket's journal stream (durable before the answer) and returns the
 * ticket at once. Then every order line goes to the scheduler as a `combine` operation keyed by
 * sku (multi-item orders split), the warehouse's pulling workers do the bundled jobs, and when
 * the last line of an order is picked `OrderSucceeded` is appended and the ticket's status
 * changes. On start the desk replays the journal: tickets accepted by an earlier run and never
 * finished (a Ctrl-C in the middle of a rush) are dispatched again, so nothing accepted is lost.
 *
 * This is the app's own small pipeline, written while `@mailroom/tasks` (the framework's full
 * pipeline: reconciler, sagas, per-tenant limits) was still being built; the rest of the app
 * talks to it only through the `Desk` service below, so switching is one Layer.
 *
 * Journal layout: stream `ticket-<id>`, events `OrderAccepted` (v1) then `OrderSucceeded` (v1).
 * The in-between statuses (`dispatched`, `running`) are kept in memory only.
 */
import { Context, Effect, Exit, Layer, Metric, Queue, Schema } from "effect"
import { Journal } from "@mailroom/persistence"
import { Operation, Scheduler } from "@mailroom/scheduler"
import { createHash, randomUUID } from "node:crypto"
import { Order, type Ticket } from "./Order.js"
import * as Warehouse from "./Warehouse.js"

/** The backlog is past its high-water mark: the desk refuses new work instead of falling over. */
export class Overloaded extends Schema.TaggedError<Overloaded>()("Overloaded", {
  backlog: Schema.Number,
  highWater: Schema.Number,
  retryAfterSeconds: Schema.Number
}) {
  override get message(): string {
    return `the shop is overloaded: ${this.backlog} orders waiting (high-water mark ${this.highWater}); retry after ${this.retryAfterSeconds} s`
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

/** The journal failed or holds something the desk cannot read. */
export class DeskError extends Schema.TaggedError<DeskError>()("DeskError", {
  operation: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `front desk ${this.operation} failed: ${this.reason}`
  }
}

/** Live figures of the pipeline, cumulative counters plus current levels. */
export interface Figures {
  readonly accepted: number
  readonly completed: number
  readonly throttled: number
  readonly duplicates: number
  readonly recovered: number
  /** Orders accepted and not finished. */
  readonly backlog: number
  /** Age of the oldest unfinished order (ms). */
  readonly oldestAgeMs: number
  readonly highWater: number
  readonly workers: number
  readonly busyWorkers: number
  readonly minWorkers: number
  readonly maxWorkers: number
  readonly jobs: number
  readonly units: number
  /** Order lines pending in the scheduler, not yet handed to the warehouse. */
  readonly pendingLines: number
  readonly queuedJobs: number
  readonly warehouse: Scheduler.LaneStats
}

/** How the desk is set up. */
export interface Options {
  /** Refuse new orders while this many are unfinished. */
  readonly highWater: number
  readonly minWorkers: number
  readonly maxWorkers: number
  readonly timing: Warehouse.Timing
  /** Finished tickets kept in memory for `status`/`latest` (older ones are read from the journal). */
  readonly keepFinished?: number | undefined
}

/** Sensible defaults: a small warehouse that a flood can overwhelm within seconds. */
export const defaults: Options = {
  highWater: 3000,
  minWorkers: 1,
  maxWorkers: 8,
  timing: { setupMs: 12, perUnitMs: 4 }
}

/** The front desk service. */
export class Desk extends Context.Service<Desk, {
  /** Validates nothing (callers decode with `Order`), admits, records, answers the ticket. */
  readonly submit: (
    order: Order,
    options: { readonly idempotencyKey?: string | undefined; readonly source: Ticket["source"] }
  ) => Effect.Effect<{ readonly ticket: Ticket; readonly duplicate: boolean }, Overloaded | IdempotencyConflict | DeskError>
  /** The ticket's current status; `undefined` when no such ticket was ever accepted. */
  readonly status: (id: string) => Effect.Effect<Ticket | undefined, DeskError>
  /** The most recent tickets (newest first), optionally only from one source. */
  readonly latest: (n: number, source?: Ticket["source"]) => ReadonlyArray<Ticket>
  readonly figures: () => Figures
  /** The warehouse pool, for the autoscaler. */
  readonly pool: Warehouse.Pool
}>()("@mailroom/shop/Desk") {}

/** Prometheus-visible figures of the shop. */
export const metrics = {
  accepted: Metric.counter("mailroom_shop_orders_accepted", { description: "orders accepted by the front desk", incremental: true }),
  completed: Metric.counter("mailroom_shop_orders_completed", { description: "orders whose every line was picked", incremental: true }),
  throttled: Metric.counter("mailroom_shop_orders_throttled", { description: "orders refused with Overloaded (HTTP 429)", incremental: true }),
  backlog: Metric.gauge("mailroom_shop_backlog", { description: "orders accepted and not finished" }),
  oldestAge: Metric.gauge("mailroom_shop_backlog_oldest_age_ms", { description: "age of the oldest unfinished order (ms)" }),
  workers: Metric.gauge("mailroom_shop_workers", { description: "warehouse pool size" })
}

const ticketIdFor = (key: string) => "t-" + createHash("sha256").update(key).digest("hex").slice(0, 24)
const streamOf = (id: string) => `ticket-${id}`

const AcceptedData = Schema.Struct({
  customer: Schema.String,
  lines: Order.fields.lines,
  acceptedAt: Schema.Number,
  source: Schema.Literals(["api", "load"])
})
const decodeAccepted = Schema.decodeUnknownResult(AcceptedData)

const sameOrder = (a: Order, b: Order) =>
  a.customer === b.customer && a.lines.length === b.lines.length &&
  a.lines.every((l, i) => l.sku === b.lines[i]!.sku && l.qty === b.lines[i]!.qty)

/** Builds the desk: replays the journal, attaches the warehouse, starts the finisher. */
export const make = Effect.fnUntraced(function*(options: Options) {
  const journal = yield* Journal.Journal
  const keepFinished = options.keepFinished ?? 20_000

  const tickets = new Map<string, Ticket>() // insertion order = acceptance order
  const unfinished = new Map<string, Ticket>() // insertion order: first = oldest
  const finishedOrder: Array<string> = []
  let accepted = 0
  let completed = 0
  let throttled = 0
  let duplicates = 0
  let recovered = 0
  const completions: Array<number> = [] // timestamps of the last completions, for retry-after

  const setStatus = (id: string, status: Ticket["status"], error?: string) => {
    const t = tickets.get(id)
    if (t === undefined || t.status === status) return
    if (t.status === "succeeded" || t.status === "failed") return
    const next: Ticket = error === undefined
      ? { ...t, status, updatedAt: Date.now() }
      : { ...t, status, updatedAt: Date.now(), error }
    tickets.set(id, next)
    if (status === "succeeded" || status === "failed") {
      unfinished.delete(id)
      finishedOrder.push(id)
      if (finishedOrder.length > keepFinished * 1.25) {
        for (const old of finishedOrder.splice(0, finishedOrder.length - keepFinished)) tickets.delete(old)
      }
    } else if (unfinished.has(id)) unfinished.set(id, next)
  }

  const pool = yield* Warehouse.makePool({
    initial: options.minWorkers,
    timing: options.timing,
    onPick: (bundle) => {
      for (const id of bundle.tickets) setStatus(id, "running")
    }
  })
  const lane = yield* Scheduler.attach(
    Warehouse.target(pool, (batch) => {
      for (const work of batch) for (const id of work.input.tickets) setStatus(id, "dispatched")
    })
  ).pipe(Effect.orDie)
  // Registered after the lane, so it runs before the lane's own finalizer (which waits for
  // in-flight batches): stop recording, abandon unfinished jobs; their orders stay accepted in
  // the journal and the next run dispatches them again.
  let closing = false
  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      closing = true
      pool.abandonAll()
    })
  )

  // Finisher: records completions in batches (the journal's group commit merges them further).
  const finished = yield* Queue.unbounded<{ readonly id: string; readonly error: string | undefined }>()
  yield* Effect.forkScoped(Effect.forever(Effect.gen(function*() {
    const batch = yield* Queue.takeAll(finished)
    if (closing) return
    yield* Effect.forEach(batch, ({ id, error }) =>
      journal.append(streamOf(id), [{
        id: error === undefined ? "succeeded" : "failed",
        type: error === undefined ? "OrderSucceeded" : "OrderFailed",
        schemaVersion: 1,
        data: error === undefined ? { at: Date.now() } : { at: Date.now(), error }
      }], "any").pipe(
        Effect.matchEffect({
          onFailure: (e) => Effect.logError(`could not record the end of ticket ${id}: ${e.message}`),
          onSuccess: () =>
            Effect.sync(() => {
              setStatus(id, error === undefined ? "succeeded" : "failed", error)
              completed++
              completions.push(Date.now())
              if (completions.length > 2048) completions.splice(0, 1024)
            })
        })
      ), { concurrency: "unbounded", discard: true })
    yield* Metric.update(metrics.completed, batch.length)
  })))

  const dispatch = (ticket: Ticket) => {
    let remaining = ticket.lines.length
    let failure: string | undefined
    for (const line of ticket.lines) {
      lane.submitCallback(
        Operation.combine<string, Warehouse.Bundle, Warehouse.JobResult>(
          line.sku,
          { units: line.qty, tickets: [ticket.id] },
          Warehouse.bundler
        ),
        (exit) => {
          if (closing) return
          if (Exit.isFailure(exit)) failure = "the warehouse could not pick a line"
          if (--remaining === 0) Queue.offerUnsafe(finished, { id: ticket.id, error: failure })
        }
      )
    }
  }

  const admit = (ticket: Ticket) => {
    tickets.set(ticket.id, ticket)
    unfinished.set(ticket.id, ticket)
    dispatch(ticket)
  }

  // Recovery: replay the request log; re-dispatch what was accepted and never finished.
  yield* Effect.gen(function*() {
    let after = 0
    const open = new Map<string, Ticket>()
    while (true) {
      const page = yield* journal.readAll(after, 10_000)
      if (page.length === 0) break
      for (const e of page) {
        if (!e.stream.startsWith("ticket-")) continue
        const id = e.stream.slice("ticket-".length)
        if (e.type === "OrderAccepted") {
          const data = decodeAccepted(e.data)
          if (data._tag === "Failure") {
            return yield* new DeskError({ operation: "recovery", reason: `event at position ${e.position} (${e.stream}) is not a valid OrderAccepted: ${data.failure.message}` })
          }
          open.set(id, { id, status: "accepted", ...data.success, updatedAt: data.success.acceptedAt })
        } else if (e.type === "OrderSucceeded" || e.type === "OrderFailed") {
          open.delete(id)
        }
      }
      after = page[page.length - 1]!.position
    }
    for (const ticket of open.values()) {
      recovered++
      admit(ticket)
    }
  }).pipe(Effect.mapError((e) => e._tag === "DeskError" ? e : new DeskError({ operation: "recovery", reason: e.message })))

  const retryAfter = () => {
    const now = Date.now()
    let recent = 0
    for (let i = completions.length - 1; i >= 0 && completions[i]! > now - 5000; i--) recent++
    const rate = Math.max(recent / 5, 1)
    const excess = unfinished.size - options.highWater * 0.8
    return Math.min(60, Math.max(1, Math.ceil(excess / rate)))
  }

  const fromJournal = (id: string) =>
    Effect.gen(function*() {
      const events = yield* journal.readStream(streamOf(id))
      const first = events[0]
      if (first === undefined) return undefined
      const data = decodeAccepted(first.data)
      if (data._tag === "Failure") {
        return yield* new DeskError({ operation: "status", reason: `stream ${first.stream} holds an invalid OrderAccepted: ${data.failure.message}` })
      }
      const last = events[events.length - 1]!
      const status: Ticket["status"] = last.type === "OrderSucceeded" ? "succeeded" : last.type === "OrderFailed" ? "failed" : "accepted"
      return { id, status, ...data.success, updatedAt: data.success.acceptedAt } satisfies Ticket
    }).pipe(Effect.catchTags({
      JournalError: (e) => Effect.fail(new DeskError({ operation: "status", reason: e.message })),
      CorruptEvent: (e) => Effect.fail(new DeskError({ operation: "status", reason: e.message }))
    }))

  const submit = (order: Order, opts: { readonly idempotencyKey?: string | undefined; readonly source: Ticket["source"] }) =>
    Effect.gen(function*() {
      const key = opts.idempotencyKey
      const id = key === undefined ? "t-" + randomUUID().replaceAll("-", "").slice(0, 24) : ticketIdFor(key)
      if (key !== undefined) {
        const known = tickets.get(id) ?? (yield* fromJournal(id))
        if (known !== undefined) {
          if (!sameOrder(known, order)) return yield* new IdempotencyConflict({ key, ticket: id })
          duplicates++
          return { ticket: known, duplicate: true }
        }
      }
      if (unfinished.size >= options.highWater) {
        throttled++
        yield* Metric.update(metrics.throttled, 1)
        return yield* new Overloaded({ backlog: unfinished.size, highWater: options.highWater, retryAfterSeconds: retryAfter() })
      }
      const now = Date.now()
      const ticket: Ticket = { id, status: "accepted", customer: order.customer, lines: order.lines, acceptedAt: now, updatedAt: now, source: opts.source }
      const result = yield* journal.append(streamOf(id), [{
        id: "accepted",
        type: "OrderAccepted",
        schemaVersion: 1,
        data: { customer: order.customer, lines: order.lines, acceptedAt: now, source: opts.source }
      }], "any").pipe(Effect.mapError((e) => new DeskError({ operation: "submit", reason: e.message })))
      if (result.duplicate) {
        // A concurrent submit with the same key won the race: answer its ticket.
        const known = tickets.get(id) ?? (yield* fromJournal(id))
        if (known === undefined || !sameOrder(known, order)) return yield* new IdempotencyConflict({ key: key ?? id, ticket: id })
        duplicates++
        return { ticket: known, duplicate: true }
      }
      accepted++
      yield* Metric.update(metrics.accepted, 1)
      admit(ticket)
      return { ticket, duplicate: false }
    })

  const latest = (n: number, source?: Ticket["source"]): ReadonlyArray<Ticket> => {
    const out: Array<Ticket> = []
    const all = [...tickets.values()]
    for (let i = all.length - 1; i >= 0 && out.length < n; i--) {
      const t = all[i]!
      if (source === undefined || t.source === source) out.push(t)
    }
    return out
  }

  const figures = (): Figures => {
    const oldest = unfinished.values().next()
    const stats = lane.stats()
    return {
      accepted,
      completed,
      throttled,
      duplicates,
      recovered,
      backlog: unfinished.size,
      oldestAgeMs: oldest.done ? 0 : Date.now() - oldest.value.acceptedAt,
      highWater: options.highWater,
      workers: pool.size(),
      busyWorkers: pool.busy(),
      minWorkers: options.minWorkers,
      maxWorkers: options.maxWorkers,
      jobs: pool.jobsDone(),
      units: pool.unitsDone(),
      pendingLines: stats.pending,
      queuedJobs: pool.queued(),
      warehouse: stats
    }
  }

  return Desk.of({
    submit,
    status: (id) => (tickets.has(id) ? Effect.succeed(tickets.get(id)) : fromJournal(id)),
    latest,
    figures,
    pool
  })
})

/** The desk as a layer (needs a `Journal` and a `Scheduler`). */
export const layer = (options: Options) => Layer.effect(Desk, make(options))

