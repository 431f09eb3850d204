/**
 * A task type declares one kind of asynchronous work: the Schema its payload must match, the
 * handler that performs it, how pending tasks of the type merge in the scheduler (`Merge`), the
 * retry `Schedule`, the handler timeout and the worker pool's size bounds.
 *
 * "Orders for the same product become one package" is configuration:
 * `merge: TaskType.combine({ key: (o) => o.product, fold: (os) => ({ ...os[0], qty: sum(os) }) })`.
 * The front desk validates against `payload`; workers run `handler`; the dispatcher reads
 * `merge`; the worker pool reads `retry`, `timeout`, `concurrency` and `batch`.
 */
import { Duration, Effect, Schedule, Schema } from "effect"
import type { Journal } from "@mailroom/persistence"
import type {
  IdempotencyConflict,
  InvalidPayload,
  InvalidSpawn,
  LogOwnershipLost,
  PayloadTooLarge,
  PipelineClosed,
  UnknownTaskType
} from "./TaskError.js"
import { InvalidTaskConfig } from "./TaskError.js"
import type { Ticket } from "./Ticket.js"

/** How pending tasks of one type merge before they reach a worker (see `@mailroom/scheduler`). */
export type Merge<P> =
  | { readonly kind: "none"; readonly key: ((payload: P) => string) | undefined }
  | { readonly kind: "coalesce"; readonly key: (payload: P) => string }
  | { readonly kind: "last-wins"; readonly key: (payload: P) => string }
  | {
    readonly kind: "combine"
    readonly key: (payload: P) => string
    readonly fold: (payloads: ReadonlyArray<P>) => P
  }

/** Every task runs on its own (the default). `key` only orders tasks with the same key. */
export const none = <P>(key?: (payload: P) => string): Merge<P> => ({ kind: "none", key })

/** Pending tasks with the same key run once, on the first payload; all of them get its output. */
export const coalesce = <P>(key: (payload: P) => string): Merge<P> => ({ kind: "coalesce", key })

/** Of the pending tasks with the same key only the last payload runs; all of them get its output. */
export const lastWins = <P>(key: (payload: P) => string): Merge<P> => ({ kind: "last-wins", key })

/**
 * Pending tasks with the same key fold into one payload and run once; all of them get its output.
 *
 * @example
 * TaskType.combine({ key: (o: Order) => o.product, fold: (os) => ({ product: os[0]!.product, qty: os.reduce((n, o) => n + o.qty, 0) }) })
 */
export const combine = <P>(options: {
  readonly key: (payload: P) => string
  readonly fold: (payloads: ReadonlyArray<P>) => P
}): Merge<P> => ({ kind: "combine", key: options.key, fold: options.fold })

/** Every failure of `TaskContext.spawn`. */
export type SpawnError =
  | InvalidPayload
  | PayloadTooLarge
  | UnknownTaskType
  | InvalidSpawn
  | IdempotencyConflict
  | PipelineClosed
  | LogOwnershipLost
  | Journal.AppendError

/** Options of `TaskContext.spawn`. */
export interface SpawnOptions {
  /**
   * One idempotency key per child (scoped by the parent). Default: the child's position among
   * the children this run spawned so far, so a run of the parent again finds the children of
   * the earlier run instead of spawning them twice (keep the spawns of a handler in a stable
   * order, or give keys).
   */
  readonly keys?: ReadonlyArray<string> | undefined
  /** Scheduler priority of the children (higher first under the `priority` policy). */
  readonly priority?: number | undefined
}

/** What a handler knows about the run it performs. */
export interface TaskContext {
  /** The first task of this run (the only one unless tasks were merged). */
  readonly taskId: string
  /** Every task this run performs (more than one when the type merges). */
  readonly taskIds: ReadonlyArray<string>
  /** Attempt number of the first task, from 1. */
  readonly attempt: number
  readonly tenant: string
  readonly taskType: string
  /**
   * Aborted when the run times out or the pipeline closes. Effect code is interrupted anyway;
   * hand the signal to promise APIs that take one (`fetch(url, { signal })`), or use
   * `Effect.tryPromise((signal) => ...)`. A promise that ignores it keeps running after the
   * timeout while the retry starts: its effect may apply twice. Wrap work that must finish in
   * `Effect.uninterruptible`: then the pipeline waits for it and keeps its result.
   */
  readonly signal: AbortSignal
  /**
   * Spawns child tasks (flows): they are recorded durably before this answers their tickets;
   * once the handler returns, this task waits (status `waiting`, no worker held) until every
   * child is final, then succeeds with the handler's output — or fails, per the type's
   * `children` policy. Only a run of one task can spawn (not a merged run).
   */
  readonly spawn: <P>(
    type: TaskType<P, any, any, any>,
    payloads: ReadonlyArray<P>,
    options?: SpawnOptions
  ) => Effect.Effect<ReadonlyArray<Ticket>, SpawnError>
}

/**
 * What a failed child does to its parent: `fail` (default) — the parent fails once all its
 * children are final and any of them did not succeed; `fail-fast` — the parent fails as soon as
 * one child fails for good (the others still run); `ignore` — the parent succeeds regardless.
 */
export type ChildrenPolicy = "fail" | "fail-fast" | "ignore"

/** Worker pool bounds of a task type; the autoscaler moves `initial` between `min` and `max`. */
export interface Concurrency {
  readonly min: number
  readonly max: number
  readonly initial: number
}

/** A declared task type. */
export interface TaskType<in out P, out A = unknown, out E = unknown, out R = never> {
  readonly name: string
  readonly payload: Schema.Codec<P, unknown>
  readonly output: Schema.Codec<any, unknown> | undefined
  readonly handler: (payload: P, context: TaskContext) => Effect.Effect<A, E, R>
  readonly merge: Merge<P>
  readonly retry: Schedule.Schedule<any, unknown>
  /** Milliseconds a handler may run; past it the run fails with `TaskTimeout`. */
  readonly timeout: number
  readonly maxPayloadBytes: number
  readonly concurrency: Concurrency
  /** Most merged work items one worker takes per pull. */
  readonly batch: number
  /**
   * When true the handler is idempotent by itself (e.g. a saga on its vouchers) and does not
   * run behind the pipeline's idempotency guard.
   */
  readonly idempotent: boolean
  /** What a child that did not succeed does to its parent (see `ChildrenPolicy`). */
  readonly children: ChildrenPolicy
}

/** Any task type (for collections). */
export type Any = TaskType<any, any, any, any>

/** Options of `make`. */
export interface Options<P, A, E, R> {
  readonly name: string
  readonly payload: Schema.Codec<P, any>
  /** Encodes the handler's output for the log and the guard; default: the value as JSON. */
  readonly output?: Schema.Codec<A, any> | undefined
  readonly handler: (payload: P, context: TaskContext) => Effect.Effect<A, E, R>
  /** Default `none()`. */
  readonly merge?: Merge<P> | undefined
  /** Retry schedule for failed runs; default: exponential from 100 ms, 3 retries. */
  readonly retry?: Schedule.Schedule<any, unknown> | undefined
  /** Default 30 seconds. */
  readonly timeout?: Duration.Input | undefined
  /** Largest payload as JSON, in bytes (UTF-16 code units); default 64 KiB. */
  readonly maxPayloadBytes?: number | undefined
  /** Default `{ min: 1, max: 16, initial: max }`; a number `n` means min = max = initial = n. */
  readonly concurrency?: number | Partial<Concurrency> | undefined
  /** Default 1. */
  readonly batch?: number | undefined
  readonly idempotent?: boolean | undefined
  /** Default `"fail"`. */
  readonly children?: ChildrenPolicy | undefined
}

/** The default retry schedule: 100 ms, 200 ms, 400 ms, then give up. */
export const defaultRetry: Schedule.Schedule<any, unknown> = Schedule.exponential("100 millis").pipe(
  Schedule.upTo({ times: 3 })
)

const positiveInt = (option: string, value: number): InvalidTaskConfig | undefined =>
  Number.isInteger(value) && value > 0
    ? undefined
    : new InvalidTaskConfig({ option, value: String(value), expected: "a positive integer" })

/**
 * Declares a task type; fails with `InvalidTaskConfig` naming the bad option.
 *
 * @example
 * ```ts
 * const SendEmail = TaskType.makeUnsafe({
 *   name: "send-email",
 *   payload: Schema.Struct({ to: Schema.String, body: Schema.String }),
 *   handler: (email) => mailer.send(email),
 *   retry: Schedule.exponential("1 second").pipe(Schedule.upTo({ times: 5 })),
 *   timeout: "10 seconds"
 * })
 * ```
 */
export const make = <P, A = unknown, E = never, R = never>(
  options: Options<P, A, E, R>
): Effect.Effect<TaskType<P, A, E, R>, InvalidTaskConfig> =>
  Effect.suspend(() => {
    const result = build(options)
    return result instanceof InvalidTaskConfig ? Effect.fail(result) : Effect.succeed(result)
  })

/** Like `make`, but throws `InvalidTaskConfig` (for module-level declarations). */
export const makeUnsafe = <P, A = unknown, E = never, R = never>(options: Options<P, A, E, R>): TaskType<P, A, E, R> => {
  const result = build(options)
  if (result instanceof InvalidTaskConfig) throw result
  return result
}

const build = <P, A, E, R>(options: Options<P, A, E, R>): TaskType<P, A, E, R> | InvalidTaskConfig => {
  if (typeof options.name !== "string" || !/^[A-Za-z0-9_.:-]{1,128}$/.test(options.name)) {
    return new InvalidTaskConfig({ option: "name", value: String(options.name), expected: "1..128 of [A-Za-z0-9_.:-]" })
  }
  let timeout: number
  try {
    timeout = Duration.toMillis(Duration.fromInputUnsafe(options.timeout ?? "30 seconds"))
  } catch {
    timeout = NaN
  }
  if (!(timeout > 0) || !Number.isFinite(timeout)) {
    return new InvalidTaskConfig({ option: `${options.name}.timeout`, value: String(options.timeout), expected: "a finite duration > 0" })
  }
  const maxPayloadBytes = options.maxPayloadBytes ?? 64 * 1024
  const batch = options.batch ?? 1
  const c = options.concurrency
  const max = typeof c === "number" ? c : c?.max ?? 16
  const min = typeof c === "number" ? c : c?.min ?? Math.min(1, max)
  const initial = typeof c === "number" ? c : c?.initial ?? max
  const bad = positiveInt(`${options.name}.maxPayloadBytes`, maxPayloadBytes) ??
    positiveInt(`${options.name}.batch`, batch) ??
    positiveInt(`${options.name}.concurrency.max`, max) ??
    positiveInt(`${options.name}.concurrency.min`, min) ??
    positiveInt(`${options.name}.concurrency.initial`, initial)
  if (bad) return bad
  if (!(min <= initial && initial <= max)) {
    return new InvalidTaskConfig({
      option: `${options.name}.concurrency`,
      value: JSON.stringify({ min, initial, max }),
      expected: "min <= initial <= max"
    })
  }
  const children = options.children ?? "fail"
  if (children !== "fail" && children !== "fail-fast" && children !== "ignore") {
    return new InvalidTaskConfig({ option: `${options.name}.children`, value: String(children), expected: `"fail", "fail-fast" or "ignore"` })
  }
  const merge = options.merge ?? none<P>()
  if (merge.kind !== "none" && typeof merge.key !== "function") {
    return new InvalidTaskConfig({ option: `${options.name}.merge.key`, value: String(merge.key), expected: "a function" })
  }
  return {
    name: options.name,
    payload: options.payload,
    output: options.output,
    handler: options.handler,
    merge,
    retry: options.retry ?? defaultRetry,
    timeout,
    maxPayloadBytes,
    concurrency: { min, max, initial },
    batch,
    idempotent: options.idempotent ?? false,
    children
  }
}
