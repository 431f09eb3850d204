/**
 * The dispatcher is the push side of the pipeline: it takes the tasks the ledger makes ready
 * (accepted, due for a retry, reclaimed, recovered) from one queue, records `dispatched` through
 * the ledger, and submits them to the `@mailroom/scheduler` lane of their type's worker pool —
 * with the task's tenant, priority and deadline, so the scheduler's policy (fair share,
 * priority, earliest deadline) orders them. The scheduler merges them per the type's `Merge`
 * (coalesce / last-wins / combine are submitted as scheduler `combine` operations whose fold
 * keeps every merged task, so the worker can report each task), orders them by its policy, and
 * hands batches to the pool when it has free workers.
 */
import { Cause, Effect, Exit, Queue } from "effect"
import type { Scope } from "effect"
import { Operation, Scheduler } from "@mailroom/scheduler"
import type { Ledger, TaskRecord } from "./internal/ledger.js"
import type * as TaskType from "./TaskType.js"
import { type Bundle, foldPayloads, type WorkerPool } from "./WorkerPool.js"

/** The dispatcher of one pipeline. */
export interface Dispatcher {
  /** Tasks dispatched so far (attempts, re-dispatches included). */
  readonly dispatched: () => number
  /** Pending counters of each type's scheduler lane. */
  readonly lanes: () => ReadonlyMap<string, Scheduler.LaneStats>
}

const combinerOf = (type: TaskType.Any): Operation.Combiner<Bundle, void> =>
  Operation.combiner<Bundle, void>(
    (inputs) => {
      const tasks: Array<TaskRecord> = []
      for (const b of inputs) for (const t of b.tasks) tasks.push(t)
      return { tasks, payload: foldPayloads(type, inputs.map((b) => b.payload)) }
    },
    (_, inputs) => inputs.map(() => undefined)
  )

const keyOf = (type: TaskType.Any, record: TaskRecord): string => {
  const key = type.merge.key
  if (key === undefined) return record.id
  try {
    return String(key(record.payload))
  } catch {
    return record.id
  }
}

/** Options of the dispatcher. */
export interface Options {
  /**
   * Most tasks of one type submitted to the scheduler and not yet finished (default 4096).
   * The rest wait in the dispatcher's FIFO; the scheduler merges and orders within the window.
   */
  readonly window?: number | undefined
}

/** Attaches one lane per pool to the `Scheduler` and starts the dispatch fibers in the scope. */
export const make = Effect.fnUntraced(function*(options: {
  readonly ledger: Ledger
  readonly pools: ReadonlyMap<string, WorkerPool>
  readonly options?: Options | undefined
}): Effect.fn.Return<Dispatcher, Scheduler.InvalidConfig, Scheduler.Scheduler | Scope.Scope> {
  const { ledger, pools } = options
  const window = options.options?.window ?? 4096
  const scope = yield* Effect.scope
  const scheduler = yield* Scheduler.Scheduler
  const wake = yield* Queue.sliding<void>(1)
  let signaled = false
  const signal = () => {
    if (signaled) return
    signaled = true
    Queue.offerUnsafe(wake, undefined)
  }
  interface Lane {
    readonly type: TaskType.Any
    readonly lane: Scheduler.Lane<string, Bundle, void, never>
    readonly combiner: Operation.Combiner<Bundle, void>
    /** FIFO of tasks waiting for the window (`head` = next to take). */
    pending: Array<TaskRecord>
    head: number
    inflight: number
  }
  const lanes = new Map<string, Lane>()
  for (const [name, pool] of pools) {
    const type = ledger.types.get(name)!
    pool.onFinished((n) => {
      const lane = lanes.get(name)
      if (lane === undefined) return
      lane.inflight -= n
      signal()
    })
    const lane = yield* scheduler.attach(pool.target)
    // The lane's credits follow the pool's size (see `WorkerPool`): work waits in the scheduler.
    const resizeLane = lane.resize
    if (resizeLane !== undefined) {
      const follow = (size: number) =>
        resizeLane(size).pipe(Effect.catch((e) => Effect.logWarning(`tasks/${name}: could not resize the scheduler lane: ${e.message}`)))
      yield* follow(pool.size())
      pool.onResized(follow)
    }
    lanes.set(name, { type, lane, combiner: combinerOf(type), pending: [], head: 0, inflight: 0 })
  }
  // Registered after the lanes, so it runs before they close (and wait for in-flight batches).
  yield* Effect.addFinalizer(() => Effect.forEach(pools.values(), (pool) => pool.stop, { discard: true }))
  let dispatched = 0

  const submit = (lane: Lane, ops: Array<Operation.Operation<string, Bundle>>) =>
    Effect.gen(function*() {
      const exits = yield* lane.lane.submitAll(ops)
      for (let i = 0; i < exits.length; i++) {
        const exit = exits[i]!
        if (Exit.isSuccess(exit)) continue
        // The lane refused or the batch died: leave the tasks to the reconciler.
        // Refused before reaching the pool (Overloaded, InvalidOperation): free its window slot.
        const error = Cause.findErrorOption(exit.cause)
        if (error._tag === "Some") lane.inflight -= 1
        for (const t of ops[i]!.input.tasks) ledger.undispatch(t)
        if (!Cause.hasInterruptsOnly(exit.cause)) {
          yield* Effect.logWarning(`tasks/${lane.type.name}: dispatch failed, the reconciler will retry`, exit.cause)
        }
      }
    })

  const pump = (lane: Lane) =>
    Effect.suspend(() => {
      const room = window - lane.inflight
      if (room <= 0 || lane.head >= lane.pending.length) return Effect.void
      const now = ledger.now()
      const ops: Array<Operation.Operation<string, Bundle>> = []
      const type = lane.type
      while (ops.length < room && lane.head < lane.pending.length) {
        const record = lane.pending[lane.head++]!
        if (!ledger.dispatch(record)) continue
        dispatched++
        const bundle: Bundle = { tasks: [record], payload: record.payload }
        // Options only when the task has something to say (most have the default tenant and no priority or deadline).
        const opOptions = record.tenant === "default" && record.priority === undefined && record.deadline === undefined
          ? undefined
          : {
            tenant: record.tenant,
            ...(record.priority === undefined ? {} : { priority: record.priority }),
            ...(record.deadline === undefined ? {} : { deadline: Math.max(0, record.deadline - now) })
          }
        ops.push(
          type.merge.kind === "none"
            ? Operation.single(keyOf(type, record), bundle, opOptions)
            : Operation.combine(keyOf(type, record), bundle, lane.combiner, opOptions)
        )
      }
      if (lane.head >= lane.pending.length) {
        lane.pending = []
        lane.head = 0
      } else if (lane.head > 65536) {
        lane.pending = lane.pending.slice(lane.head)
        lane.head = 0
      }
      if (ops.length === 0) return Effect.void
      lane.inflight += ops.length
      return Effect.asVoid(Effect.forkIn(submit(lane, ops), scope))
    })

  // The one queue the ledger feeds: on each wake its tasks go to their type's FIFO, then into
  // the window.
  ledger.onReady = signal
  const loop = Effect.gen(function*() {
    while (true) {
      yield* Queue.take(wake)
      signaled = false
      for (const record of ledger.takeReady()) lanes.get(record.type)?.pending.push(record)
      for (const lane of lanes.values()) yield* pump(lane)
    }
  })
  yield* Effect.forkScoped(loop)
  // Tasks made ready before the dispatcher existed (recovery runs after it is built).
  signal()

  return {
    dispatched: () => dispatched,
    lanes: () => {
      const out = new Map<string, Scheduler.LaneStats>()
      for (const [name, lane] of lanes) out.set(name, lane.lane.stats())
      return out
    }
  }
})
