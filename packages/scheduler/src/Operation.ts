/**
 * An operation is one unit of work submitted to the `Scheduler`: a key, a kind that says how
 * operations on the same key merge, an input, and optional priority, deadline and tenant.
 *
 * Kinds:
 * - `coalesce` (reads): pending reads of a key run once; a read arriving while the same read
 *   is in flight joins it unless a later operation on the key is already pending.
 * - `last-wins` (writes): of consecutive pending writes on a key only the last one runs.
 * - `combine`: consecutive pending operations on a key fold into one with a `Combiner`, and the
 *   outcome is split back to each submitter.
 * - `none`: runs as submitted.
 *
 * Operations are plain immutable values; the scheduler validates them when they are submitted.
 */
import { Duration, Schema } from "effect"

/** A key: operations on the same key are ordered and merged; the elevator sweeps keys in ascending order. */
export type Key = string | number

/** How operations on the same key merge. */
export type Kind = "coalesce" | "last-wins" | "combine" | "none"

/** All kinds, for validation and iteration. */
export const kinds: ReadonlyArray<Kind> = ["coalesce", "last-wins", "combine", "none"]

/**
 * Folds the inputs of several `combine` operations on one key into a single input, and splits
 * the outcome of the combined operation back into one result per submitter (same order).
 */
export interface Combiner<in out I, in out A> {
  readonly fold: (inputs: ReadonlyArray<I>) => I
  readonly split: (outcome: A, inputs: ReadonlyArray<I>) => ReadonlyArray<A>
}

/** An operation on key `K` carrying input `I`. */
export interface Operation<out K extends Key, out I> {
  readonly key: K
  readonly kind: Kind
  readonly input: I
  /** Higher runs first under the `priority` policy. Default 0. */
  readonly priority: number
  /** Relative deadline in milliseconds; `undefined` means the scheduler's default for the kind. */
  readonly deadline: number | undefined
  /** Tenant for the fair-share policy. Default `"default"`. */
  readonly tenant: string
  readonly combiner: Combiner<any, any> | undefined
}

/** Options common to every operation constructor. */
export interface Options {
  readonly priority?: number | undefined
  /** Time after submission by which the operation should be dispatched. */
  readonly deadline?: Duration.Input | undefined
  readonly tenant?: string | undefined
}

/**
 * Default deadlines per kind, after Linux's deadline I/O scheduler (reads 500 ms, writes 5 s).
 */
export const defaultDeadlines: { readonly [K in Kind]: number } = {
  coalesce: 500,
  "last-wins": 5_000,
  combine: 5_000,
  none: 5_000
}

const deadlineMillis = (input: Duration.Input | undefined): number | undefined =>
  input === undefined ? undefined : typeof input === "number" ? input : Duration.toMillis(input)

/** Builds an operation of any kind. */
export const make = <K extends Key, I>(
  kind: Kind,
  key: K,
  input: I,
  options?: Options & { readonly combiner?: Combiner<I, any> | undefined }
): Operation<K, I> => ({
  key,
  kind,
  input,
  priority: options?.priority ?? 0,
  deadline: deadlineMillis(options?.deadline),
  tenant: options?.tenant ?? "default",
  combiner: options?.combiner
})

/**
 * A read: identical pending or in-flight reads of the key run once and share the outcome.
 *
 * @example
 * Operation.read("user:1")
 */
export const read: {
  <K extends Key>(key: K, input?: undefined, options?: Options): Operation<K, undefined>
  <K extends Key, I>(key: K, input: I, options?: Options): Operation<K, I>
} = <K extends Key, I>(key: K, input?: I, options?: Options): Operation<K, I | undefined> =>
  make("coalesce", key, input, options)

/** A write: consecutive pending writes on the key collapse to the last one. */
export const write = <K extends Key, I>(key: K, input: I, options?: Options): Operation<K, I> =>
  make("last-wins", key, input, options)

/** An operation folded with other pending ones on the key by `combiner`. */
export const combine = <K extends Key, I, A>(
  key: K,
  input: I,
  combiner: Combiner<I, A>,
  options?: Options
): Operation<K, I> => make("combine", key, input, { ...options, combiner })

/** An operation that never merges (still ordered per key). */
export const single = <K extends Key, I>(key: K, input: I, options?: Options): Operation<K, I> =>
  make("none", key, input, options)

/** Builds a `Combiner` from a fold and a split. */
export const combiner = <I, A>(
  fold: (inputs: ReadonlyArray<I>) => I,
  split: (outcome: A, inputs: ReadonlyArray<I>) => ReadonlyArray<A>
): Combiner<I, A> => ({ fold, split })

/** A submitted operation was malformed; `reason` says which field and why. */
export class InvalidOperation extends Schema.TaggedError<InvalidOperation>()("InvalidOperation", {
  key: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid operation on key ${this.key}: ${this.reason}`
  }
}

/** Returns a reason string when `op` is malformed, otherwise `undefined`. */
export const validate = (op: Operation<Key, unknown>): string | undefined => {
  if (op === null || typeof op !== "object") return `expected an operation object, got ${String(op)}`
  if (typeof op.key !== "string" && (typeof op.key !== "number" || Number.isNaN(op.key))) {
    return `key must be a string or a number, got ${String(op.key)}`
  }
  if (!kinds.includes(op.kind)) return `kind must be one of ${kinds.join(", ")}, got ${String(op.kind)}`
  if (typeof op.priority !== "number" || !Number.isFinite(op.priority)) {
    return `priority must be a finite number, got ${String(op.priority)}`
  }
  if (op.deadline !== undefined && (typeof op.deadline !== "number" || !(op.deadline >= 0))) {
    return `deadline must be a non-negative duration, got ${String(op.deadline)}`
  }
  if (op.kind === "combine" && (op.combiner === undefined || typeof op.combiner.fold !== "function")) {
    return "a combine operation needs a combiner (Operation.combine(key, input, combiner))"
  }
  return undefined
}
