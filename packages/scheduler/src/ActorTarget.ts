/**
 * Actors behind the scheduler: a `Target` whose work items are messages to an actor (or a pool
 * of actors) from `@mailroom/core`. The scheduler merges, orders and batches the messages
 * before they reach the mailboxes — reads of one key coalesce into one request, consecutive
 * writes collapse to the last, combinable messages fold into one — and each batch is delivered
 * to one actor of the pool in one go (an actor with batch receive gets it in one call).
 *
 * With `ask` the actor's reply is the operation's outcome and a batch holds its credit until
 * every reply arrived, so the actor's pace is the demand signal. With `tell` a batch is done
 * once its messages are enqueued (a bounded mailbox then gives the back-pressure).
 */
import type { Duration } from "effect"
import { Effect, Result } from "effect"
import type { Actor, Message } from "@mailroom/core"
import type { Key } from "./Operation.js"
import * as Target from "./Target.js"

/** Options of `ask` and `tell`. */
export interface Options {
  readonly name?: string | undefined
  /** Batches in flight at once. Default: one per actor in the pool. */
  readonly capacity?: number | undefined
  readonly maxBatch?: number | undefined
  /** Reply timeout per request (`ask` only); default the actor system's. */
  readonly timeout?: Duration.Input | undefined
}

const pool = <M>(actors: Actor.ActorRef<M> | ReadonlyArray<Actor.ActorRef<M>>): ReadonlyArray<Actor.ActorRef<M>> =>
  Array.isArray(actors) ? (actors as ReadonlyArray<Actor.ActorRef<M>>) : [actors as Actor.ActorRef<M>]

// An empty pool offers no credit: `Scheduler.attach` refuses it with `InvalidConfig`
// ("<name>.capacity": a positive integer), and its handler can never run.
const nameOf = <M>(refs: ReadonlyArray<Actor.ActorRef<M>>, options: Options | undefined) =>
  options?.name ?? (refs.length === 0 ? "actor-pool(empty: needs at least one actor)" : `actor:${refs[0]!.path}`)
const capacityOf = <M>(refs: ReadonlyArray<Actor.ActorRef<M>>, options: Options | undefined) =>
  refs.length === 0 ? 0 : options?.capacity ?? refs.length

/**
 * Requests answered by an actor (or a pool: each batch goes to the next actor, round-robin).
 * Every work item is `ask`ed; its reply (or declared error) is the operation's outcome.
 *
 * @example
 * const lane = yield* Scheduler.attach(ActorTarget.ask<string, Get | Put>(accountRef))
 * const balance = yield* lane.submit(Operation.read("acc-1", new Get()))
 */
export const ask = <K extends Key, M extends Message.Tagged & Message.AnyRequest>(
  actors: Actor.ActorRef<M> | ReadonlyArray<Actor.ActorRef<M>>,
  options?: Options
): Target.Target<K, M, Message.Success<M>, Actor.AskError<M>> => {
  const refs = pool(actors)
  let next = 0
  const askOptions = options?.timeout === undefined ? undefined : { timeout: options.timeout }
  return Target.makeResults<K, M, Message.Success<M>, Actor.AskError<M>>({
    name: nameOf(refs, options),
    capacity: capacityOf(refs, options),
    maxBatch: options?.maxBatch,
    handle: (batch) => {
      const ref = refs[next++ % refs.length]!
      // asks are started in batch order, so the messages reach the mailbox in that order
      return Effect.forEach(
        batch,
        (work) => Effect.result(ref.ask(work.input, askOptions)) as Effect.Effect<Result.Result<Message.Success<M>, Actor.AskError<M>>>,
        { concurrency: "unbounded" }
      )
    }
  })
}

/**
 * Fire-and-forget messages to an actor (or a pool, round-robin per batch): a batch completes
 * when all its messages are enqueued, in order.
 */
export const tell = <K extends Key, M extends Message.Tagged>(
  actors: Actor.ActorRef<M> | ReadonlyArray<Actor.ActorRef<M>>,
  options?: Omit<Options, "timeout">
): Target.Target<K, M, void, Actor.TellError> => {
  const refs = pool(actors)
  let next = 0
  return Target.make<K, M, void, Actor.TellError>({
    name: nameOf(refs, options),
    capacity: capacityOf(refs, options),
    maxBatch: options?.maxBatch,
    handle: (batch) => {
      const ref = refs[next++ % refs.length]!
      return Effect.forEach(batch, (work) => ref.tell(work.input))
    }
  })
}
