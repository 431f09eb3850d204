/**
 * A target is where the scheduler dispatches to: an actor, a worker pool, or a resource such as
 * a database or an HTTP API. It signals demand with credits — `capacity` batches may be in
 * flight at once, and each finished batch returns its credit — and its handler receives a whole
 * batch of merged operations in one call.
 *
 * The scheduler holds work while the target has no credit, and keeps merging while it waits:
 * the busier the target, the larger and more merged the batches.
 */
import { Effect, Result } from "effect"
import type { Key, Kind } from "./Operation.js"

/** One merged operation as the handler sees it. */
export interface Work<out K extends Key, out I> {
  readonly key: K
  readonly kind: Kind
  /**
   * The input to apply: the first read's input (`coalesce`), the last live write's input
   * (`last-wins`), the folded input (`combine`) or the operation's own input (`none`).
   */
  readonly input: I
  /** How many submitters share this operation. */
  readonly size: number
  readonly priority: number
  readonly tenant: string
}

/** A dispatch target whose handler answers each work item with a `Result`. */
export interface Target<in out K extends Key, in out I, in out A, in out E, out R = never> {
  readonly name: string
  /** Credits: how many batches may be in flight at once (e.g. connections in a pool). */
  readonly capacity: number
  /** Largest batch this target accepts; `undefined` uses the scheduler's `maxBatch`. */
  readonly maxBatch: number | undefined
  /**
   * Handles one batch. It must return exactly one `Result` per work item, in order; failing
   * the effect fails every operation of the batch with that error.
   */
  readonly handle: (batch: ReadonlyArray<Work<K, I>>) => Effect.Effect<ReadonlyArray<Result.Result<A, E>>, E, R>
  /** Same as `handle` for targets built by `make`: one plain value per item (saves a wrapper per item). */
  readonly handleValues: ((batch: ReadonlyArray<Work<K, I>>) => Effect.Effect<ReadonlyArray<A>, E, R>) | undefined
}

/** Options for `make` and `makeResults`. */
export interface Options {
  readonly name?: string | undefined
  readonly capacity?: number | undefined
  readonly maxBatch?: number | undefined
}

/**
 * A target whose handler returns one value per work item (in order), or fails the whole batch.
 *
 * @example
 * const users = Target.make({
 *   name: "users-db",
 *   capacity: 4,
 *   handle: (batch) => Effect.promise(() => db.getUsers(batch.map((w) => w.key)))
 * })
 */
export const make = <K extends Key, I, A, E = never, R = never>(
  options: Options & {
    readonly handle: (batch: ReadonlyArray<Work<K, I>>) => Effect.Effect<ReadonlyArray<A>, E, R>
  }
): Target<K, I, A, E, R> => {
  const handle = options.handle
  const target = makeResults<K, I, A, E, R>({
    ...options,
    handle: (batch) =>
      Effect.map(handle(batch), (values) => {
        const out: Array<Result.Result<A, E>> = []
        for (let i = 0; i < values.length; i++) out.push(Result.succeed(values[i]!))
        return out
      })
  })
  return { ...target, handleValues: handle }
}

/** A target whose handler can fail single work items (a `Result` per item). */
export const makeResults = <K extends Key, I, A, E = never, R = never>(
  options: Options & {
    readonly handle: (batch: ReadonlyArray<Work<K, I>>) => Effect.Effect<ReadonlyArray<Result.Result<A, E>>, E, R>
  }
): Target<K, I, A, E, R> => ({
  name: options.name ?? "target",
  capacity: options.capacity ?? 1,
  maxBatch: options.maxBatch,
  handle: options.handle,
  handleValues: undefined
})
