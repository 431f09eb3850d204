/**
 * A worker pool runs the handlers of one task type. It is the pull side of dispatch: it is a
 * scheduler `Target` whose credits are its workers, so the scheduler hands it a batch only when
 * a worker is free, and keeps merging pending tasks while all are busy.
 *
 * A worker marks its tasks `running`, runs the handler behind the idempotency guard (keyed by
 * task id) and the task type's timeout, and reports back: `succeeded` with the output, or a
 * failure — `retrying` while the type's retry `Schedule` allows another attempt (the task is
 * dispatched again after the delay, the worker does not wait), else `failed`; a handler failing
 * with `Saga.SagaCompensated` ends `compensated`.
 *
 * The pool's size moves between the type's `concurrency.min` and `max` (see `Autoscaler`):
 * a resizable semaphore lets `size` workers run, and the dispatcher resizes the scheduler lane to
 * `size` credits with it, so work beyond the running workers waits in the scheduler (where it
 * still merges) rather than inside the pool. (With a custom scheduler whose lanes cannot be
 * resized, the target keeps offering `max` credits.)
 */
import { Cause, Context, Duration, Effect, Exit, Fiber, Result, Schedule, Semaphore } from "effect"
import type { Scope } from "effect"
import { Target } from "@mailroom/scheduler"
import type { Guard } from "./Idempotency.js"
import { type Core, encodeOutput, type TaskRecord } from "./internal/core.js"
import { TaskTimeout } from "./TaskError.js"
import type * as TaskType from "./TaskType.js"

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

const ignore = (_: number) => {}
const noResize = (_: number) => Effect.void

/** Builds the pool of `type`. `redispatch` puts a task back to the dispatcher. */
export const make = Effect.fnUntraced(function*(options: {
  readonly core: Core
  readonly type: TaskType.Any
  readonly guard: Guard["Service"]
  readonly redispatch: (record: TaskRecord) => void
  readonly context: Context.Context<never>
  readonly scope: Scope.Scope
}) {
  const { core, guard, redispatch, type } = options
  const semaphore = yield* Semaphore.make(type.concurrency.initial)
  let size = type.concurrency.initial
  let busy = 0
  const timeout = type.timeout
  // Each handler runs in a child fiber; one watchdog per pool interrupts those past their
  // deadline (cheaper than a timer and a race per run), and closing the pool interrupts all.
  interface Running {
    readonly fiber: Fiber.Fiber<unknown, unknown>
    readonly deadline: number
    timedOut: boolean
  }
  const running = new Set<Running>()
  let stopping = false
  const tick = Math.max(1, Math.min(1000, Math.floor(timeout / 10)))
  const watchdog = Effect.sync(() => {
    const now = core.now()
    for (const r of running) {
      if (now >= r.deadline) {
        r.timedOut = true
        running.delete(r)
        r.fiber.interruptUnsafe()
      }
    }
  })
  yield* Effect.forkIn(Effect.repeat(watchdog, Schedule.spaced(tick)), options.scope)

  const runHandler = (tasks: ReadonlyArray<TaskRecord>, payload: unknown): Effect.Effect<unknown, unknown> =>
    Effect.flatMap(
      Effect.forkChild(
        Effect.provideContext(
          Effect.suspend(() =>
            type.handler(payload, {
              taskId: tasks[0]!.id,
              taskIds: tasks.map((t) => t.id),
              attempt: tasks[0]!.dispatches,
              tenant: tasks[0]!.tenant,
              taskType: type.name
            })
          ),
          options.context
        ) as Effect.Effect<unknown, unknown>,
        { startImmediately: true }
      ),
      (fiber) => {
        const r: Running = { fiber, deadline: core.now() + timeout, timedOut: false }
        running.add(r)
        return Effect.flatMap(Fiber.await(fiber), (exit) => {
          running.delete(r)
          if (r.timedOut) return Effect.fail(new TaskTimeout({ taskType: type.name, timeout }))
          return exit
        })
      }
    )

  const fail = (record: TaskRecord, cause: Cause.Cause<unknown>) =>
    Effect.gen(function*() {
      const error = errorText(cause)
      if (isCompensated(cause)) {
        core.report({ kind: "compensated", id: record.id, attempt: record.dispatches, error })
        return
      }
      if (record.step === undefined) {
        record.step = (yield* Schedule.toStep(type.retry)) as TaskRecord["step"]
      }
      const now = core.now()
      const next = yield* Effect.exit(record.step!(now, Cause.squash(cause)))
      if (Exit.isSuccess(next)) {
        const delay = (next.value as readonly [unknown, Duration.Duration])[1]
        const millis = Math.max(0, Math.round(Duration.toMillis(delay)))
        core.report({ kind: "retrying", id: record.id, attempt: record.dispatches, error, retryAt: now + millis })
        record.holder = "waiting-retry"
        record.heldSince = now
        yield* Effect.forkIn(Effect.andThen(Effect.sleep(millis), Effect.sync(() => redispatch(record))), options.scope)
      } else {
        core.report({ kind: "failed", id: record.id, attempt: record.dispatches, error })
      }
    })

  // Plain combinators rather than a generator: this runs once per task on the hot path.
  const runBundle = (bundle: Bundle): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (stopping) return Effect.void
      // A task may have ended, or be running elsewhere in this process, since it was dispatched.
      const tasks: Array<TaskRecord> = []
      for (const t of bundle.tasks) {
        if (core.live.get(t.id) === t && !t.executing) tasks.push(t)
        else if (t.holder === "inflight") t.holder = "idle"
      }
      if (tasks.length === 0) return Effect.void
      for (const t of tasks) {
        t.executing = true
        core.report({ kind: "running", id: t.id, attempt: t.dispatches })
      }
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
        const now = core.now()
        for (const t of tasks) {
          t.executing = false
          t.holder = "idle"
          t.heldSince = now
        }
        // Interrupted because the pipeline is closing: no report; recovery runs it again.
        if (stopping && Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)) return Effect.void
        if (Exit.isSuccess(exit)) {
          for (let i = 0; i < tasks.length; i++) {
            const t = tasks[i]!
            core.report({ kind: "succeeded", id: t.id, attempt: t.dispatches, output: encodeOutput(type, exit.value[i]) })
          }
          return Effect.void
        }
        return Effect.forEach(tasks, (t) => fail(t, exit.cause), { discard: true })
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
      for (const r of running) r.fiber.interruptUnsafe()
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
