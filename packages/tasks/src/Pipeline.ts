/**
 * The pipeline wires the pieces of the task system together over a `Journal` (the request log)
 * and a `Scheduler`:
 *
 *   FrontDesk → request log → Ticket ("accepted") → Dispatcher → Scheduler → WorkerPool
 *     → status events → Status;  Reconciler, Backlog, Autoscaler and Admission close the loop.
 *
 * The ledger (`internal/ledger.ts`) owns the index and every transition; the other modules call
 * its transitions. On start the ledger rebuilds the index (from the latest snapshot, when a
 * `Snapshot.SnapshotStore` is provided, plus the log after it) and puts every task that was
 * accepted but is not final back to work (recovery after a crash or restart), honouring logged
 * retry times and attempt budgets. Closing the pipeline's scope answers every waiting caller:
 * submissions not yet durable fail with `PipelineClosed`, `awaitFinal` and `changes` too.
 */
import { Context, Duration, Effect, Fiber, Layer, Option } from "effect"
import type { Scope } from "effect"
import { Journal } from "@mailroom/persistence"
import { Scheduler } from "@mailroom/scheduler"
import * as Admission from "./Admission.js"
import * as Autoscaler from "./Autoscaler.js"
import * as Backlog from "./Backlog.js"
import * as Dispatcher from "./Dispatcher.js"
import * as FrontDesk from "./FrontDesk.js"
import { Guard, makeMemory } from "./Idempotency.js"
import * as Ledger from "./internal/ledger.js"
import * as Reconciler from "./Reconciler.js"
import * as Status from "./Status.js"
import { type CorruptLog, InvalidTaskConfig, PipelineClosed } from "./TaskError.js"
import type * as TaskType from "./TaskType.js"
import type { Status as TaskStatusKind } from "./Ticket.js"
import * as WorkerPool from "./WorkerPool.js"

/** A task as `Options.onAccept` sees it. */
export type Accepted = Ledger.Accepted

/** Options of a pipeline. */
export interface Options<R = never> {
  /** The task types this pipeline accepts and runs. */
  readonly types: ReadonlyArray<TaskType.TaskType<any, any, any, R>>
  /** Journal stream of the request log (default `"mailroom-tasks"`). One pipeline per stream. */
  readonly stream?: string | undefined
  /** Most records per log append (default 8192). */
  readonly maxLogBatch?: number | undefined
  /**
   * Least time between two appends of the request log (default 0). A few milliseconds make
   * commits fewer and larger under load (each SQLite commit blocks the thread for its fsync), at
   * the cost of that much more submit latency.
   */
  readonly commitInterval?: Duration.Input | undefined
  /**
   * Final statuses kept for `status` and idempotency keys (default 100,000; older ones answer
   * `TicketNotFound`, and their keys may be used again). Snapshots hold them: start-up time
   * grows with this number, not with the log's history.
   */
  readonly retainFinal?: number | undefined
  /**
   * Snapshots of the index, when a `Snapshot.SnapshotStore` is provided: one at most every
   * `interval` (default 1 minute) and at the latest after `maxFacts` logged facts (default
   * 500,000), and one when the pipeline closes. Start-up loads the latest and replays only the
   * log after it. `false` turns them off.
   */
  readonly snapshot?: { readonly interval?: Duration.Input | undefined; readonly maxFacts?: number | undefined } | false | undefined
  readonly admission?: Admission.Options | undefined
  readonly dispatcher?: Dispatcher.Options | undefined
  /** `false` turns the reconciler off. */
  readonly reconciler?: Reconciler.Options | false | undefined
  /** `false` turns the autoscaler off (pools stay at `concurrency.initial`). */
  readonly autoscaler?: Autoscaler.Options | false | undefined
  /** How often the backlog monitor measures (default 1 second). */
  readonly backlogInterval?: Duration.Input | undefined
  /** The idempotency guard; default: the `Guard` in context, else an in-process one. */
  readonly guard?: Guard["Service"] | undefined
  /** Fault injection for tests: drop a status report when this answers true. */
  readonly loseReport?: ((id: string, status: TaskStatusKind) => boolean) | undefined
  /**
   * Called for every task as it enters the index: on start for each task of the request log
   * (`replayed: true`, before recovery dispatches anything), then for each accepted submission
   * once it is durable.
   */
  readonly onAccept?: ((task: Accepted) => void) | undefined
  /**
   * Put before every ticket id of this pipeline (0..32 of `[A-Za-z0-9_.-]`; default none): a
   * partitioned pipeline (see `@mailroom/cluster`) routes a ticket to its partition by it.
   */
  readonly idPrefix?: string | undefined
}

/** A running pipeline. */
export interface Pipeline {
  readonly frontDesk: FrontDesk.FrontDesk["Service"]
  readonly status: Status.Status["Service"]
  readonly backlog: Backlog.Backlog
  readonly admission: Admission.Admission
  readonly pools: ReadonlyMap<string, WorkerPool.WorkerPool>
  readonly dispatcher: Dispatcher.Dispatcher
  readonly reconciler: Reconciler.Reconciler | undefined
  readonly autoscaler: Autoscaler.Autoscaler | undefined
  readonly guard: Guard["Service"]
  /** Tasks found accepted but not final in the log at start, and put back to work. */
  readonly recovered: number
  /** ... per task type. */
  readonly recoveredByType: ReadonlyMap<string, number>
  /** Log events replayed at start (after the snapshot, when one was loaded). */
  readonly replayed: number
}

/** The pipeline service (provided by `layer`, with `FrontDesk` and `Status`). */
export class Tasks extends Context.Service<Tasks, Pipeline>()("@mailroom/tasks/Pipeline") {}

/** Every failure of starting a pipeline. */
export type StartError = InvalidTaskConfig | Scheduler.InvalidConfig | CorruptLog | Journal.ReadError

const positiveInteger = (option: string, value: number) =>
  Number.isInteger(value) && value >= 1
    ? undefined
    : new InvalidTaskConfig({ option, value: String(value), expected: "a positive integer" })

const duration = (option: string, input: Duration.Input | undefined, fallback: number) => {
  if (input === undefined) return fallback
  let ms: number
  try {
    ms = Duration.toMillis(Duration.fromInputUnsafe(input))
  } catch {
    ms = NaN
  }
  return ms >= 0 && Number.isFinite(ms) ? ms : new InvalidTaskConfig({ option, value: String(input), expected: "a finite duration >= 0" })
}

/**
 * Starts a pipeline in the current scope.
 *
 * @example
 * ```ts
 * const pipeline = yield* Pipeline.make({ types: [SendEmail] })
 * const ticket = yield* pipeline.frontDesk.submit(SendEmail, { to: "a@example.com", body: "hi" })
 * const final = yield* pipeline.status.awaitFinal(ticket)
 * ```
 */
export const make = Effect.fnUntraced(function*<R = never>(
  options: Options<R>
): Effect.fn.Return<Pipeline, StartError, Journal.Journal | Scheduler.Scheduler | Scope.Scope | R> {
  const types = new Map<string, TaskType.Any>()
  for (const type of options.types) {
    if (types.has(type.name)) {
      return yield* new InvalidTaskConfig({ option: "types", value: type.name, expected: "task type names to be unique" })
    }
    types.set(type.name, type)
  }
  const maxLogBatch = options.maxLogBatch ?? 8192
  const retainFinal = options.retainFinal ?? 100_000
  const snapshotOptions = options.snapshot === false ? undefined : options.snapshot ?? {}
  const maxFacts = snapshotOptions?.maxFacts ?? 500_000
  const bad = positiveInteger("maxLogBatch", maxLogBatch) ?? positiveInteger("retainFinal", retainFinal) ??
    positiveInteger("snapshot.maxFacts", maxFacts)
  if (bad) return yield* bad
  const idPrefix = options.idPrefix ?? ""
  if (typeof idPrefix !== "string" || !/^[A-Za-z0-9_.-]{0,32}$/.test(idPrefix)) {
    return yield* new InvalidTaskConfig({ option: "idPrefix", value: String(idPrefix), expected: "0..32 of [A-Za-z0-9_.-]" })
  }
  const commitInterval = duration("commitInterval", options.commitInterval, 0)
  if (commitInterval instanceof InvalidTaskConfig) return yield* commitInterval
  const snapshotInterval = duration("snapshot.interval", snapshotOptions?.interval, 60_000)
  if (snapshotInterval instanceof InvalidTaskConfig) return yield* snapshotInterval
  const highWater = options.admission?.highWater
  if (highWater !== undefined && !(highWater > 0)) {
    return yield* new InvalidTaskConfig({ option: "admission.highWater", value: String(highWater), expected: "a number > 0" })
  }
  const rates: Array<readonly [string, Admission.Rate]> = [
    ...(options.admission?.tenantRate === undefined ? [] : [["admission.tenantRate", options.admission.tenantRate] as const]),
    ...Object.entries(options.admission?.tenants ?? {}).map(([t, r]) => [`admission.tenants.${t}`, r] as const)
  ]
  for (const [option, rate] of rates) {
    const invalid = Admission.invalidRate(rate)
    if (invalid !== undefined) {
      return yield* new InvalidTaskConfig({ option: `${option}.${invalid.field}`, value: String(invalid.value), expected: invalid.expected })
    }
  }
  const scope = yield* Effect.scope
  const context = yield* Effect.context<R>()
  const guard = options.guard ?? Option.getOrElse(yield* Effect.serviceOption(Guard), makeMemory)
  const stream = options.stream ?? "mailroom-tasks"
  const ledger = yield* Ledger.make(types, {
    stream,
    maxBatch: maxLogBatch,
    retainFinal,
    commitInterval,
    snapshot: snapshotOptions === undefined ? undefined : { interval: snapshotInterval, maxFacts },
    loseReport: options.loseReport,
    onAccept: options.onAccept,
    idPrefix
  })
  const replayed = yield* ledger.load()
  ledger.onFinal = (id) => guard.release([id])

  // Closing: the workers stop first (the dispatcher's finalizer, registered later, runs
  // earlier), then the ledger closes — waiting callers are answered, the append in flight
  // finishes, the reports still queued are written and a snapshot is taken.
  const writer = yield* Effect.forkIn(ledger.writer, scope)
  yield* Effect.addFinalizer(() =>
    Effect.gen(function*() {
      ledger.close(new PipelineClosed({ stream }))
      yield* Fiber.interrupt(writer)
      yield* ledger.flush
      yield* ledger.takeSnapshot()
    })
  )

  const pools = new Map<string, WorkerPool.WorkerPool>()
  for (const type of types.values()) {
    pools.set(type.name, yield* WorkerPool.make({ ledger, type, guard, context: context as Context.Context<never>, scope }))
  }
  const dispatcher = yield* Dispatcher.make({ ledger, pools, options: options.dispatcher })
  const backlog = yield* Backlog.make({ ledger, interval: options.backlogInterval })
  const admission = Admission.make({ ledger, backlog, options: options.admission })
  const reconciler = options.reconciler === false ? undefined : yield* Reconciler.make({ ledger, options: options.reconciler })
  const autoscaler = options.autoscaler === false ? undefined : yield* Autoscaler.make({ ledger, pools, options: options.autoscaler })

  // Recovery: everything accepted and not final goes back to work.
  for (const record of ledger.live.values()) {
    if (!types.has(record.type)) {
      yield* Effect.logWarning(`task ${record.id} has type "${record.type}", which this pipeline does not run; it stays pending`)
    }
  }
  const recovered = ledger.recover()

  return {
    frontDesk: FrontDesk.make(ledger, admission),
    status: Status.make(ledger),
    backlog,
    admission,
    pools,
    dispatcher,
    reconciler,
    autoscaler,
    guard,
    recovered,
    recoveredByType: ledger.recoveredByType,
    replayed
  }
})

/**
 * The pipeline as a layer providing `Tasks`, `FrontDesk.FrontDesk` and `Status.Status`; needs a
 * `Journal` and a `Scheduler` (and whatever the handlers need).
 *
 * @example
 * ```ts
 * const Live = Pipeline.layer({ types: [SendEmail] }).pipe(
 *   Layer.provide(Journal.layerMemory()),
 *   Layer.provide(Scheduler.layer())
 * )
 * ```
 */
export const layer = <R = never>(
  options: Options<R>
): Layer.Layer<Tasks | FrontDesk.FrontDesk | Status.Status, StartError, Journal.Journal | Scheduler.Scheduler | R> =>
  Layer.effectContext(
    Effect.map(make(options), (pipeline) =>
      Context.make(Tasks, pipeline).pipe(
        Context.add(FrontDesk.FrontDesk, pipeline.frontDesk),
        Context.add(Status.Status, pipeline.status)
      ))
  )
