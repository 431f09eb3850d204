/**
 * A worker pool runs the handlers of one task type. It is the pull side of dispatch: it is a
 * scheduler `Target` whose credits are its workers, so the scheduler hands it a batch only when
 * a worker is free, and keeps merging pending tasks while all are busy.
 *
 * A worker takes its tasks through the ledger's `start` (a task that ended or runs elsewhere
 * meanwhile is skipped), runs the handler behind the idempotency guard (keyed by task id) and
 * the task type's timeout, and hands the outcome to the ledger: `succeed` with the output, or
 * `fail`, where the ledger decides from the type's retry `Schedule` whether the task is retried
 * (the worker does not wait for the delay) or fails for good; a handler failing with
 * `Saga.SagaCompensated` ends `compensated`.
 *
 * Timeouts are measured on the monotonic clock. At the deadline the run's `signal` aborts and
 * its fiber is interrupted; a run inside an uninterruptible region cannot be stopped, so the
 * pool waits for it and keeps its result (interrupting it then would discard a result whose
 * effects already happened, and a retry would apply them twice). Either way a task is never run
 * twice at once: its retry is scheduled only after the run has ended.
 *
 * The pool's size moves between the type's `concurrency.min` and `max` (see `Autoscaler`):
 * a resizable semaphore lets `size` workers run, and the dispatcher resizes the scheduler lane to
 * `size` credits with it, so work beyond the running workers waits in the scheduler (where it
 * still merges) rather than inside the pool. (With a custom scheduler whose lanes cannot be
 * resized, the target keeps offering `max` credits.)
 */
import { Cause, Context, Effect, Exit, Fiber, Result, Schedule, Semaphore } from "effect"
import type { Scope } from "effect"
import { Target } from "@mailroom/scheduler"
import type { Guard } from "./Idempotency.js"
import { prepare } from "./internal/intake.js"
import type { Ledger, TaskRecord } from "./internal/ledger.js"
import { type AcceptedTask, encodeOutput, hashPayload } from "./internal/log.js"
import { InvalidPayload, InvalidSpawn, TaskTimeout, UnknownTaskType } from "./TaskError.js"
import type * as TaskType from "./TaskType.js"
import type { Ticket } from "./Ticket.js"

/** The merged unit a worker receives: the tasks and the payload to run once for all of them. */
export interface Bundle {
  readonly tasks: ReadonlyArray<TaskRecord>
  readonly payload: unknown
}

/** A worker pool of one task type. */
export interface WorkerPool {
  readonly taskType: string
  readonly bounds: TaskType.Concurrency
  /** Workers allowed to run now. */
  readonly size: () => number
  /** Workers running a handler now. */
  readonly busy: () => number
  /** Sets the size (clamped to the bounds). */
  readonly resize: (size: number) => Effect.Effect<void>
  /** Interrupts running handlers and refuses new work (the pipeline is closing). */
  readonly stop: Effect.Effect<unknown>
  /** Tells the dispatcher how many submitted operations each finished batch held. */
  readonly onFinished: (f: (operations: number) => void) => void
  /** Tells the dispatcher the pool's new size after each resize. */
  readonly onResized: (f: (size: number) => Effect.Effect<void>) => void
  /** The scheduler target the dispatcher attaches. */
  readonly target: Target.Target<string, Bundle, void, never>
}

/** Folds the payloads of several tasks the way the type merges them. */
export const foldPayloads = (type: TaskType.Any, payloads: ReadonlyArray<unknown>): unknown => {
  if (payloads.length === 1) return payloads[0]
  switch (type.merge.kind) {
    case "combine":
      return type.merge.fold(payloads)
    case "last-wins":
      return payloads[payloads.length - 1]
    default:
      return payloads[0]
  }
}

const errorText = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.findErrorOption(cause)
  if (failure._tag === "Some") {
    const e = failure.value
    if (e instanceof Error) return e.message
    if (typeof e === "object" && e !== null && "_tag" in e) return `${String((e as { _tag: unknown })._tag)}: ${JSON.stringify(e)}`
    return String(e)
  }
  return Cause.pretty(cause).split("\n")[0] ?? "defect"
}

const isCompensated = (cause: Cause.Cause<unknown>): boolean => {
  const failure = Cause.findErrorOption(cause)
  return failure._tag === "Some" && typeof failure.value === "object" && failure.value !== null &&
    (failure.value as { _tag?: unknown })._tag === "SagaCompensated"
}

/**
 * Whether a fiber is inside an uninterruptible region now. Effect does not expose it; its
 * fiber runtime keeps the flag in `interruptible` (a test pins this against the pinned version).
 */
const uninterruptible = (fiber: Fiber.Fiber<unknown, unknown>): boolean =>
  (fiber as unknown as { readonly interruptible?: unknown }).interruptible === false

/** One run of a handler, as the watchdog sees it. */
interface Running {
  readonly fiber: Fiber.Fiber<unknown, unknown>
  /** Monotonic ms. */
  readonly deadline: number
  timedOut: boolean
  controller: AbortController | undefined
}

/** The `TaskContext` of one run (a class: one object per run, no closures on the hot path). */
class RunContext implements TaskType.TaskContext {
  running: Running | undefined
  private spawned = 0
  readonly taskId: string
  readonly taskIds: ReadonlyArray<string>
  readonly attempt: number
  readonly tenant: string
  readonly taskType: string
  private readonly tasks: ReadonlyArray<TaskRecord>
  private readonly ledger: Ledger

  constructor(tasks: ReadonlyArray<TaskRecord>, type: TaskType.Any, ledger: Ledger) {
    this.tasks = tasks
    this.ledger = ledger
    this.taskId = tasks[0]!.id
    this.taskIds = tasks.length === 1 ? [tasks[0]!.id] : tasks.map((t) => t.id)
    this.attempt = tasks[0]!.dispatches
    this.tenant = tasks[0]!.tenant
    this.taskType = type.name
  }

  get signal(): AbortSignal {
    const r = this.running
    if (r === undefined) return AbortSignal.abort()
    return (r.controller ??= new AbortController()).signal
  }

  spawn<P>(
    type: TaskType.TaskType<P, any, any, any>,
    payloads: ReadonlyArray<P>,
    options?: TaskType.SpawnOptions
  ): Effect.Effect<ReadonlyArray<Ticket>, TaskType.SpawnError> {
    return Effect.suspend((): Effect.Effect<ReadonlyArray<Ticket>, TaskType.SpawnError> => {
      const ledger = this.ledger
      if (this.tasks.length !== 1) {
        return Effect.fail(new InvalidSpawn({ taskType: this.taskType, reason: `this run performs ${this.tasks.length} merged tasks; only a run of one task can have children` }))
      }
      if (ledger.types.get(type?.name) !== type) return Effect.fail(new UnknownTaskType({ taskType: String(type?.name) }))
      if (!Array.isArray(payloads)) return Effect.fail(new InvalidPayload({ taskType: type.name, field: "payloads", reason: "an array of payloads" }))
      const keys = options?.keys
      if (keys !== undefined) {
        if (!Array.isArray(keys) || keys.length !== payloads.length) {
          return Effect.fail(new InvalidPayload({ taskType: type.name, field: "options.keys", reason: `one key per payload (${payloads.length})` }))
        }
        const bad = keys.findIndex((k) => typeof k !== "string" || k.length === 0 || k.length > 256 || k.startsWith("#"))
        if (bad >= 0) {
          return Effect.fail(new InvalidPayload({ taskType: type.name, field: `options.keys[${bad}]`, reason: "1..256 characters, not starting with # (kept for positional keys)" }))
        }
      }
      const priority = options?.priority
      if (priority !== undefined && (typeof priority !== "number" || !Number.isFinite(priority))) {
        return Effect.fail(new InvalidPayload({ taskType: type.name, field: "options.priority", reason: `a finite number, got ${String(priority)}` }))
      }
      const parent = this.tasks[0]!
      const at = ledger.now()
      const tasks: Array<AcceptedTask> = []
      const decoded: Array<unknown> = []
      for (let i = 0; i < payloads.length; i++) {
        const prepared = prepare(type, payloads[i], `payloads[${i}]`)
        if (!("value" in prepared)) return Effect.fail(prepared)
        tasks.push({
          id: ledger.newId(),
          type: type.name,
          tenant: parent.tenant,
          key: keys?.[i] ?? `#${this.spawned + i}`,
          hash: hashPayload(prepared.value),
          parent: parent.id,
          ...(priority === undefined ? {} : { priority }),
          payload: prepared.value,
          at
        })
        decoded.push(prepared.decoded)
      }
      this.spawned += payloads.length
      return Effect.map(ledger.spawn(parent, tasks, decoded), (records) =>
        records.map((r, i): Ticket => ({ id: r.id, taskType: r.type, status: "accepted", acceptedAt: r.acceptedAt, duplicate: r.id !== tasks[i]!.id })))
    })
  }
}

const ignore = (_: number) => {}
const noResize = (_: number) => Effect.void

/** Builds the pool of `type`. */
export const make = Effect.fnUntraced(function*(options: {
  readonly ledger: Ledger
  readonly type: TaskType.Any
  readonly guard: Guard["Service"]
  readonly context: Context.Context<never>
  readonly scope: Scope.Scope
}) {
  const { guard, ledger, type } = options
  const semaphore = yield* Semaphore.make(type.concurrency.initial)
  let size = type.concurrency.initial
  let busy = 0
  const timeout = type.timeout
  // Each handler runs in a child fiber; one watchdog per pool interrupts those past their
  // deadline (cheaper than a timer and a race per run), and closing the pool interrupts all.
  const running = new Set<Running>()
  let stopping = false
  const tick = Math.max(1, Math.min(1000, Math.floor(timeout / 10)))
  const watchdog = Effect.sync(() => {
    const now = ledger.mono()
    for (const r of running) {
      // Past the deadline inside an uninterruptible region: wait for it (checked again next tick).
      if (now < r.deadline || uninterruptible(r.fiber)) continue
      r.timedOut = true
      running.delete(r)
      r.controller?.abort(new TaskTimeout({ taskType: type.name, timeout }))
      r.fiber.interruptUnsafe()
    }
  })
  yield* Effect.forkIn(Effect.repeat(watchdog, Schedule.spaced(tick)), options.scope)

  const runHandler = (tasks: ReadonlyArray<TaskRecord>, payload: unknown): Effect.Effect<unknown, unknown> => {
    const context = new RunContext(tasks, type, ledger)
    return Effect.flatMap(
      Effect.forkChild(
        Effect.provideContext(Effect.suspend(() => type.handler(payload, context)), options.context) as Effect.Effect<unknown, unknown>,
        { startImmediately: true }
      ),
      (fiber) => {
        const r: Running = { fiber, deadline: ledger.mono() + timeout, timedOut: false, controller: undefined }
        context.running = r
        running.add(r)
        return Effect.flatMap(Fiber.await(fiber), (exit) => {
          running.delete(r)
          if (r.timedOut) return Effect.fail(new TaskTimeout({ taskType: type.name, timeout }))
          return exit
        })
      }
    )
  }

  // Plain combinators rather than a generator: this runs once per task on the hot path.
  const runBundle = (bundle: Bundle): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (stopping) {
        for (const t of bundle.tasks) ledger.undispatch(t)
        return Effect.void
      }
      // A task may have ended, or be running elsewhere in this process, since it was dispatched.
      const tasks: Array<TaskRecord> = []
      for (const t of bundle.tasks) if (ledger.start(t)) tasks.push(t)
      if (tasks.length === 0) return Effect.void
      const payload = tasks.length === bundle.tasks.length ? bundle.payload : foldPayloads(type, tasks.map((t) => t.payload))
      const run = type.idempotent
        ? Effect.map(runHandler(tasks, payload), (out) => tasks.map(() => out))
        : guard.once(tasks.map((t) => t.id), (fresh) => {
          const subset = fresh.length === tasks.length ? tasks : fresh.map((i) => tasks[i]!)
          const p = subset === tasks ? payload : foldPayloads(type, subset.map((t) => t.payload))
          return Effect.map(runHandler(subset, p), (out) => subset.map(() => out))
        })
      busy++
      return Effect.flatMap(Effect.exit(run), (exit) => {
        busy--
        // Interrupted because the pipeline is closing: no report; recovery runs it again.
        if (stopping && Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)) {
          for (const t of tasks) ledger.abandon(t)
          return Effect.void
        }
        if (Exit.isSuccess(exit)) {
          for (let i = 0; i < tasks.length; i++) ledger.succeed(tasks[i]!, encodeOutput(type, exit.value[i]))
          return Effect.void
        }
        const error = errorText(exit.cause)
        const squashed = Cause.squash(exit.cause)
        const compensated = isCompensated(exit.cause)
        return Effect.forEach(tasks, (t) => ledger.fail(t, error, squashed, compensated), { discard: true })
      })
    })

  let finished: (operations: number) => void = ignore
  let resized: (size: number) => Effect.Effect<void> = noResize
  const handle = (batch: ReadonlyArray<Target.Work<string, Bundle>>) =>
    Effect.as(
      semaphore.withPermit(
        batch.length === 1 ? runBundle(batch[0]!.input) : Effect.forEach(batch, (work) => runBundle(work.input), { discard: true })
      ),
      batch.map(() => Result.succeed(undefined))
    ).pipe(Effect.ensuring(Effect.sync(() => {
      let n = 0
      for (const work of batch) n += work.size
      finished(n)
    })))

  const target = Target.makeResults<string, Bundle, void, never>({
    name: `tasks/${type.name}`,
    capacity: type.concurrency.max,
    maxBatch: type.batch,
    handle
  })

  const pool: WorkerPool = {
    taskType: type.name,
    bounds: type.concurrency,
    size: () => size,
    busy: () => busy,
    resize: (n) =>
      Effect.suspend(() => {
        const next = Math.max(type.concurrency.min, Math.min(type.concurrency.max, Math.round(n)))
        if (next === size) return Effect.void
        size = next
        return Effect.andThen(Semaphore.resize(semaphore, next), resized(next))
      }),
    target,
    // Closing the pipeline interrupts running handlers (their tasks stay non-final in the log
    // and are recovered on the next start) instead of waiting for them.
    stop: Effect.sync(() => {
      stopping = true
      for (const r of running) {
        r.controller?.abort()
        r.fiber.interruptUnsafe()
      }
      running.clear()
    }),
    onFinished: (f) => {
      finished = f
    },
    onResized: (f) => {
      resized = f
    }
  }
  return pool
})
