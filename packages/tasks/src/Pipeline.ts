/**
 * The pipeline wires the pieces of the task system together over a `Journal` (the request log)
 * and a `Scheduler`:
 *
 *   FrontDesk → request log → Ticket ("accepted") → Dispatcher → Scheduler → WorkerPool
 *     → status events → Status;  Reconciler, Backlog, Autoscaler and Admission close the loop.
 *
 * On start it replays the log into its index and dispatches again every task that was
 * accepted but is not final (recovery after a crash or restart).
 */
import { Context, Duration, Effect, Layer, Option } from "effect"
import type { Scope } from "effect"
import { Journal } from "@mailroom/persistence"
import { Scheduler } from "@mailroom/scheduler"
import * as Admission from "./Admission.js"
import * as Autoscaler from "./Autoscaler.js"
import * as Backlog from "./Backlog.js"
import * as Dispatcher from "./Dispatcher.js"
import * as FrontDesk from "./FrontDesk.js"
import { Guard, makeMemory } from "./Idempotency.js"
import * as Core from "./internal/core.js"
import * as Reconciler from "./Reconciler.js"
import * as Status from "./Status.js"
import { type CorruptLog, InvalidTaskConfig } from "./TaskError.js"
import type * as TaskType from "./TaskType.js"
import type { Status as TaskStatusKind } from "./Ticket.js"
import * as WorkerPool from "./WorkerPool.js"

/** A task as `Options.onAccept` sees it. */
export type Accepted = Core.Accepted

/** Options of a pipeline. */
export interface Options<R = never> {
  /** The task types this pipeline accepts and runs. */
  readonly types: ReadonlyArray<TaskType.TaskType<any, any, any, R>>
  /** Journal stream of the request log (default `"mailroom-tasks"`). */
  readonly stream?: string | undefined
  /** Most records per log append (default 8192). */
  readonly maxLogBatch?: number | undefined
  /**
   * Least time between two appends of the request log (default 0). A few milliseconds make
   * commits fewer and larger under load (each SQLite commit blocks the thread for its fsync), at
   * the cost of that much more submit latency.
   */
  readonly commitInterval?: Duration.Input | undefined
  /** Final statuses kept for `status` (default 1,000,000; older ones answer `TicketNotFound`). */
  readonly retainFinal?: number | undefined
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
   * once it is durable. Lets an application keep what it shows about a task (its payload, say)
   * without reading the log a second time.
   */
  readonly onAccept?: ((task: Accepted) => void) | undefined
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
  /** Tasks found accepted but not final in the log at start, and dispatched again. */
  readonly recovered: number
}

/** The pipeline service (provided by `layer`, with `FrontDesk` and `Status`). */
export class Tasks extends Context.Service<Tasks, Pipeline>()("@mailroom/tasks/Pipeline") {}

/** Every failure of starting a pipeline. */
export type StartError = InvalidTaskConfig | Scheduler.InvalidConfig | CorruptLog | Journal.ReadError

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
  const retainFinal = options.retainFinal ?? 1_000_000
  for (const [option, value] of [["maxLogBatch", maxLogBatch], ["retainFinal", retainFinal]] as const) {
    if (!Number.isInteger(value) || value < 1) {
      return yield* new InvalidTaskConfig({ option, value: String(value), expected: "a positive integer" })
    }
  }
  const highWater = options.admission?.highWater
  if (highWater !== undefined && !(highWater > 0)) {
    return yield* new InvalidTaskConfig({ option: "admission.highWater", value: String(highWater), expected: "a number > 0" })
  }
  const rates: Array<readonly [string, Admission.Rate]> = [
    ...(options.admission?.tenantRate === undefined ? [] : [["admission.tenantRate", options.admission.tenantRate] as const]),
    ...Object.entries(options.admission?.tenants ?? {}).map(([t, r]) => [`admission.tenants.${t}`, r] as const)
  ]
  for (const [option, rate] of rates) {
    const bad = Admission.invalidRate(rate)
    if (bad !== undefined) {
      return yield* new InvalidTaskConfig({ option: `${option}.${bad.field}`, value: String(bad.value), expected: bad.expected })
    }
  }
  const scope = yield* Effect.scope
  const context = yield* Effect.context<R>()
  const guard = options.guard ?? Option.getOrElse(yield* Effect.serviceOption(Guard), makeMemory)
  const core = yield* Core.make(types, {
    stream: options.stream ?? "mailroom-tasks",
    maxBatch: maxLogBatch,
    retainFinal,
    commitInterval: options.commitInterval === undefined ? 0 : Duration.toMillis(options.commitInterval),
    loseReport: options.loseReport,
    onAccept: options.onAccept
  })
  yield* core.replay()

  let dispatcher: Dispatcher.Dispatcher | undefined
  const pools = new Map<string, WorkerPool.WorkerPool>()
  for (const type of types.values()) {
    pools.set(
      type.name,
      yield* WorkerPool.make({
        core,
        type,
        guard,
        redispatch: (record) => dispatcher?.dispatch(record),
        context: context as Context.Context<never>,
        scope
      })
    )
  }
  dispatcher = yield* Dispatcher.make({ core, pools, options: options.dispatcher })
  const d = dispatcher
  core.onAccepted = (record) => d.dispatch(record)
  core.onFinal = (ids) => guard.release(ids)

  const backlog = yield* Backlog.make({ core, interval: options.backlogInterval })
  const admission = Admission.make({ core, backlog, options: options.admission })
  const reconciler = options.reconciler === false
    ? undefined
    : yield* Reconciler.make({ core, dispatcher, options: options.reconciler })
  const autoscaler = options.autoscaler === false
    ? undefined
    : yield* Autoscaler.make({ core, pools, options: options.autoscaler })

  // Recovery: everything accepted and not final is dispatched again.
  let recovered = 0
  for (const record of core.live.values()) {
    if (!types.has(record.type)) {
      yield* Effect.logWarning(`task ${record.id} has type "${record.type}", which this pipeline does not run; it stays pending`)
      continue
    }
    d.dispatch(record)
    recovered++
  }

  return {
    frontDesk: FrontDesk.make(core, admission),
    status: Status.make(core),
    backlog,
    admission,
    pools,
    dispatcher,
    reconciler,
    autoscaler,
    guard,
    recovered
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
