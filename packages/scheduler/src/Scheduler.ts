/**
 * The central scheduler: work for a `Target` is submitted as `Operation`s, merged per key
 * (coalesce, last-wins, combine), ordered across keys by a `Policy`, and dispatched in batches
 * only when the target has demand (credits).
 *
 * `Scheduler` is a service with one method, `attach(target)`, which returns a `Lane` — the
 * submission side for that target. `layer(options)` provides the built-in merging scheduler;
 * a custom scheduler is any other implementation of the service, provided as a Layer.
 */
import { Context, Duration, Effect, Exit, Layer, Result, Schema } from "effect"
import type * as Scope from "effect/Scope"
import { Engine, type Sub } from "./internal/engine.js"
import * as Operation from "./Operation.js"
import * as Policy from "./Policy.js"
import type * as Target from "./Target.js"

/** The pending set of a target is full and the scheduler is configured to refuse (`whenFull: "fail"`). */
export class Overloaded extends Schema.TaggedError<Overloaded>()("Overloaded", {
  target: Schema.String,
  pending: Schema.Number,
  maxPending: Schema.Number
}) {
  override get message(): string {
    return `scheduler for ${this.target} is overloaded: ${this.pending} operations pending (maxPending ${this.maxPending}); retry later, raise maxPending, or use whenFull: "wait"`
  }
}

/** A scheduler or target option is out of range; `option` names it and `value` shows it. */
export class InvalidConfig extends Schema.TaggedError<InvalidConfig>()("InvalidConfig", {
  option: Schema.String,
  value: Schema.String,
  expected: Schema.String
}) {
  override get message(): string {
    return `invalid scheduler option ${this.option}: got ${this.value}, expected ${this.expected}`
  }
}

/** Configuration of the built-in scheduler. */
export interface Options {
  /** Orders each dispatch across keys. Default `Policy.fifo`. */
  readonly policy?: Policy.Policy | undefined
  /** Most merged operations per batch (unless the target sets its own). Default 1024. */
  readonly maxBatch?: number | undefined
  /**
   * When operations are merging (duplicates arriving), hold them up to this long for more to
   * merge, even if the target has a free credit. Default 0: dispatch whenever there is demand.
   * When nothing merged since the last dispatch there is nothing to gain, and work goes at once.
   */
  readonly maxDelay?: Duration.Input | undefined
  /** Most submissions pending (not dispatched) per target. Default 100,000. */
  readonly maxPending?: number | undefined
  /** When the pending set is full: `"wait"` (default) suspends submitters; `"fail"` fails them with `Overloaded`. */
  readonly whenFull?: "wait" | "fail" | undefined
  /** Default relative deadlines per kind in ms. Default `Operation.defaultDeadlines`. */
  readonly deadlines?: Partial<Record<Operation.Kind, number>> | undefined
}

/** Counters of one lane. */
export interface LaneStats {
  readonly submitted: number
  readonly dispatched: number
  readonly coalesced: number
  readonly superseded: number
  readonly combined: number
  readonly dropped: number
  readonly overloaded: number
  readonly batches: number
  readonly pending: number
  readonly inflightBatches: number
}

/** What a submitter learns besides the value. */
export interface Receipt<A> {
  readonly value: A
  /** A later write on the key replaced this one; `value` is the outcome of that write. */
  readonly superseded: boolean
}

/** The submission side of a target. */
export interface Lane<in K extends Operation.Key, in I, out A, out E> {
  /** Submits one operation and waits for its outcome. Interrupting it withdraws only this submitter. */
  readonly submit: (op: Operation.Operation<K, I>) => Effect.Effect<A, E | Overloaded | Operation.InvalidOperation>
  /** Like `submit`, and also says whether a later write superseded this one. */
  readonly submitReceipt: (
    op: Operation.Operation<K, I>
  ) => Effect.Effect<Receipt<A>, E | Overloaded | Operation.InvalidOperation>
  /**
   * Submits many operations at once (in order, as if submitted one after another) and waits
   * for all outcomes, one `Exit` per operation. Interrupting it withdraws every submission.
   */
  readonly submitAll: (
    ops: ReadonlyArray<Operation.Operation<K, I>>
  ) => Effect.Effect<Array<Exit.Exit<A, E | Overloaded | Operation.InvalidOperation>>>
  /**
   * Submits from plain (non-Effect) code — a callback API, an actor, a request handler.
   * `onExit` is called exactly once unless the returned function withdraws the submitter first.
   */
  readonly submitCallback: (
    op: Operation.Operation<K, I>,
    onExit: (exit: Exit.Exit<A, E | Overloaded | Operation.InvalidOperation>) => void
  ) => () => void
  /** Current counters. */
  readonly stats: () => LaneStats
  /**
   * Changes the target's capacity (credits: batches in flight at once) while the lane runs — a
   * worker pool that was resized, a connection pool that grew. Work keeps waiting (and merging)
   * in the scheduler instead of queueing inside a target that has fewer workers than credits.
   * Optional: a custom scheduler may not support it.
   */
  readonly resize?: ((capacity: number) => Effect.Effect<void, InvalidConfig>) | undefined
}

/** The scheduler service. */
export class Scheduler extends Context.Service<Scheduler, {
  /** Attaches a target; the lane lives until the scope closes (then in-flight batches finish). */
  readonly attach: <K extends Operation.Key, I, A, E, R>(
    target: Target.Target<K, I, A, E, R>
  ) => Effect.Effect<Lane<K, I, A, E>, InvalidConfig, R | Scope.Scope>
}>()("@mailroom/scheduler/Scheduler") {}

/** Attaches `target` to the current `Scheduler`. */
export const attach = <K extends Operation.Key, I, A, E, R>(
  target: Target.Target<K, I, A, E, R>
): Effect.Effect<Lane<K, I, A, E>, InvalidConfig, R | Scope.Scope | Scheduler> =>
  Effect.flatMap(Scheduler, (s) => s.attach(target))

interface Resolved {
  readonly policy: Policy.Policy
  readonly maxBatch: number
  readonly maxDelay: number
  readonly maxPending: number
  readonly whenFull: "wait" | "fail"
  readonly deadlines: { readonly [K in Operation.Kind]: number }
}

const positiveInt = (option: string, value: unknown): InvalidConfig | undefined =>
  typeof value === "number" && Number.isInteger(value) && value > 0
    ? undefined
    : new InvalidConfig({ option, value: String(value), expected: "a positive integer" })

const resolve = (options: Options | undefined): Result.Result<Resolved, InvalidConfig> => {
  const maxBatch = options?.maxBatch ?? 1024
  const maxPending = options?.maxPending ?? 100_000
  const whenFull = options?.whenFull ?? "wait"
  const bad = positiveInt("maxBatch", maxBatch) ?? positiveInt("maxPending", maxPending)
  if (bad !== undefined) return Result.fail(bad)
  if (whenFull !== "wait" && whenFull !== "fail") {
    return Result.fail(new InvalidConfig({ option: "whenFull", value: String(whenFull), expected: `"wait" or "fail"` }))
  }
  let maxDelay: number
  try {
    maxDelay = options?.maxDelay === undefined ? 0 : Duration.toMillis(options.maxDelay)
  } catch {
    maxDelay = NaN
  }
  if (!(maxDelay >= 0) || maxDelay === Infinity) {
    return Result.fail(
      new InvalidConfig({ option: "maxDelay", value: String(options?.maxDelay), expected: "a finite duration ≥ 0" })
    )
  }
  const deadlines = { ...Operation.defaultDeadlines, ...options?.deadlines }
  for (const kind of Operation.kinds) {
    const d = deadlines[kind]
    if (typeof d !== "number" || !(d >= 0)) {
      return Result.fail(
        new InvalidConfig({ option: `deadlines.${kind}`, value: String(d), expected: "a number of milliseconds ≥ 0" })
      )
    }
  }
  const policy = options?.policy ?? Policy.fifo
  if (typeof policy !== "object" || policy === null || typeof policy.make !== "function") {
    return Result.fail(new InvalidConfig({ option: "policy", value: String(policy), expected: "a Policy" }))
  }
  if (policy.invalid !== undefined) {
    return Result.fail(new InvalidConfig({ option: `policy.${policy.invalid.option}`, value: policy.invalid.value, expected: policy.invalid.expected }))
  }
  return Result.succeed({ policy, maxBatch, maxDelay, maxPending, whenFull, deadlines })
}

/**
 * Builds the built-in merging scheduler.
 *
 * @example
 * const scheduler = yield* Scheduler.make({ policy: Policy.elevator, maxBatch: 256 })
 */
export const make = Effect.fnUntraced(function*(options?: Options) {
  const resolved = resolve(options)
  if (Result.isFailure(resolved)) return yield* resolved.failure
  const config = resolved.success
  const attach = <K extends Operation.Key, I, A, E, R>(
    target: Target.Target<K, I, A, E, R>
  ): Effect.Effect<Lane<K, I, A, E>, InvalidConfig, R | Scope.Scope> =>
    Effect.gen(function*() {
      const bad = positiveInt("capacity", target.capacity) ??
        (target.maxBatch === undefined ? undefined : positiveInt("maxBatch", target.maxBatch))
      if (bad !== undefined) {
        return yield* new InvalidConfig({ option: `${target.name}.${bad.option}`, value: bad.value, expected: bad.expected })
      }
      const context = yield* Effect.context<R>()
      const engine = new Engine({
        name: target.name,
        capacity: target.capacity,
        maxBatch: config.maxBatch,
        maxDelay: config.maxDelay,
        maxPending: config.maxPending,
        whenFull: config.whenFull,
        deadlines: config.deadlines,
        select: config.policy.make(),
        context: context as Context.Context<never>,
        overloaded: (pending) => new Overloaded({ target: target.name, pending, maxPending: config.maxPending })
      }, target)
      yield* Effect.addFinalizer(() => engine.close())
      return makeLane<K, I, A, E>(engine)
    })
  return Scheduler.of({ attach })
})

const makeLane = <K extends Operation.Key, I, A, E>(engine: Engine): Lane<K, I, A, E> => {
  type Err = E | Overloaded | Operation.InvalidOperation
  const invalid = (op: Operation.Operation<K, I>): Operation.InvalidOperation | undefined => {
    const reason = Operation.validate(op)
    return reason === undefined ? undefined : new Operation.InvalidOperation({ key: String(op?.key), reason })
  }
  const submit = (op: Operation.Operation<K, I>): Effect.Effect<A, Err> =>
    Effect.callback<A, Err>((resume) => {
      const bad = invalid(op)
      if (bad !== undefined) return resume(Effect.fail(bad))
      const sub = engine.submit(op, (exit) => resume(exit as Exit.Exit<A, Err>), 0)
      return Effect.sync(() => engine.withdraw(sub))
    })
  const submitReceipt = (op: Operation.Operation<K, I>): Effect.Effect<Receipt<A>, Err> =>
    Effect.callback<Receipt<A>, Err>((resume) => {
      const bad = invalid(op)
      if (bad !== undefined) return resume(Effect.fail(bad))
      const sub = engine.submit(op, (exit, superseded) =>
        resume(
          Exit.isSuccess(exit)
            ? Exit.succeed({ value: exit.value as A, superseded })
            : (exit as Exit.Exit<never, Err>)
        ), 0)
      return Effect.sync(() => engine.withdraw(sub))
    })
  const submitAll = (ops: ReadonlyArray<Operation.Operation<K, I>>): Effect.Effect<Array<Exit.Exit<A, Err>>> =>
    Effect.callback<Array<Exit.Exit<A, Err>>>((resume) => {
      const n = ops.length
      const out: Array<Exit.Exit<A, Err>> = []
      out.length = n
      if (n === 0) return resume(Effect.succeed(out))
      let remaining = n
      const subs: Array<Sub | undefined> = []
      subs.length = n
      const done = (exit: Exit.Exit<unknown, unknown>, _superseded: boolean, i: number) => {
        out[i] = exit as Exit.Exit<A, Err>
        if (--remaining === 0) resume(Effect.succeed(out))
      }
      for (let i = 0; i < n; i++) {
        const op = ops[i]!
        const bad = invalid(op)
        if (bad !== undefined) done(Exit.fail(bad), false, i)
        else subs[i] = engine.submit(op, done, i)
      }
      return Effect.sync(() => {
        for (let i = 0; i < n; i++) {
          const sub = subs[i]
          if (sub !== undefined) engine.withdraw(sub)
        }
      })
    })
  const submitCallback = (
    op: Operation.Operation<K, I>,
    onExit: (exit: Exit.Exit<A, Err>) => void
  ): () => void => {
    const bad = invalid(op)
    if (bad !== undefined) {
      onExit(Exit.fail(bad))
      return noop
    }
    const sub = engine.submit(op, onExit as (exit: Exit.Exit<unknown, unknown>) => void, 0)
    return () => engine.withdraw(sub)
  }
  const resize = (capacity: number): Effect.Effect<void, InvalidConfig> =>
    Effect.suspend(() => {
      const bad = positiveInt(`${engine.config.name}.capacity`, capacity)
      if (bad !== undefined) return Effect.fail(bad)
      engine.setCapacity(capacity)
      return Effect.void
    })
  return { submit, submitReceipt, submitAll, submitCallback, stats: () => ({ ...engine.stats }), resize }
}


const noop = () => {}

/**
 * The built-in merging scheduler as a Layer.
 *
 * @example
 * program.pipe(Effect.provide(Scheduler.layer({ policy: Policy.elevator })))
 */
export const layer = (options?: Options): Layer.Layer<Scheduler, InvalidConfig> =>
  Layer.effect(Scheduler, make(options))

/**
 * Builds a scheduler service from a plain submit function per target: the few lines a custom
 * scheduler needs. `submitAll` and `stats` are derived.
 *
 * @example
 * // a scheduler that never merges: one batch of one per operation
 * const direct = Scheduler.custom((target) => (op) => ...)
 */
export const custom = (
  attach: <K extends Operation.Key, I, A, E, R>(
    target: Target.Target<K, I, A, E, R>
  ) => Effect.Effect<(op: Operation.Operation<K, I>) => Effect.Effect<A, E | Overloaded | Operation.InvalidOperation>, InvalidConfig, R | Scope.Scope>
): Scheduler["Service"] =>
  Scheduler.of({
    attach: <K extends Operation.Key, I, A, E, R>(target: Target.Target<K, I, A, E, R>) =>
      Effect.map(attach(target), (submit): Lane<K, I, A, E> => {
        let submitted = 0
        let dispatched = 0
        const counted = (op: Operation.Operation<K, I>) => {
          submitted++
          return Effect.tap(submit(op), () =>
            Effect.sync(() => {
              dispatched++
            }))
        }
        return {
          submit: counted,
          submitCallback: (op, onExit) => {
            const interrupt = Effect.runCallback(counted(op), { onExit })
            return () => interrupt()
          },
          submitReceipt: (op) => Effect.map(counted(op), (value) => ({ value, superseded: false })),
          submitAll: (ops) => Effect.forEach(ops, (op) => Effect.exit(counted(op)), { concurrency: "unbounded" }),
          stats: () => ({
            submitted,
            dispatched,
            coalesced: 0,
            superseded: 0,
            combined: 0,
            dropped: 0,
            overloaded: 0,
            batches: dispatched,
            pending: submitted - dispatched,
            inflightBatches: 0
          })
        }
      })
  })
