/**
 * Event-sourced actors on top of `@mailroom/core`: the actor's state is a fold over the events
 * of its journal stream.
 *
 * - A command handler (`decide`) looks at the state and a message and answers the events to
 *   persist and, for requests, the reply (computed from the state after those events).
 * - A pure event handler (`apply`) folds one event into the state; it runs on recovery and
 *   after each successful persist — the only way the state changes.
 * - Recovery (on start and after every restart) loads the latest snapshot and replays the
 *   events after it; `snapshotEvery: N` saves a snapshot each time the version crosses a
 *   multiple of N.
 * - A failed persist (storage down, a conflicting writer, an unknown outcome) fails the
 *   handler: the state is NOT advanced and the reply is not sent; the default supervision
 *   restarts the actor with backoff, and the restart recovers the true state from the journal.
 *   The actor never carries on as if the write had happened.
 *
 * @example
 * ```ts
 * const account = EventSourced.behavior(Actor.protocol(Deposit, Balance), {
 *   stream: "account-1",
 *   events: AccountEvents,
 *   initial: 0,
 *   apply: (balance, event) => balance + event.cents,
 *   decide: (balance, msg) =>
 *     msg._tag === "Deposit"
 *       ? EventSourced.persist([new Deposited({ cents: msg.cents })])
 *       : EventSourced.reply(balance),
 *   snapshotEvery: 1000
 * })
 * const ref = yield* ActorSystem.spawn(account)
 * ```
 */
import { Actor, type Message, Supervision } from "@mailroom/core"
import { Effect, Schedule, Schema } from "effect"
import { Journal } from "./Journal.js"
import * as Snapshot from "./Snapshot.js"
import type { EventTypes } from "./Upcast.js"

/** What a command decided: events to persist, and the reply to send once they are persisted. */
export interface Decision<Ev, S> {
  readonly events: ReadonlyArray<Ev>
  /** Computes the reply from the state after the events (only for requests). */
  readonly reply?: ((state: S) => unknown) | undefined
}

/** Persist `events`; reply (for a request) with `reply(stateAfter)`. */
export const persist = <Ev, S = any>(events: ReadonlyArray<Ev>, reply?: (state: S) => unknown): Decision<Ev, S> => ({
  events,
  reply
})

/** Persist nothing and reply `value` (queries, rejected commands answered with a value). */
export const reply = <S = any>(value: unknown): Decision<never, S> => ({ events: [], reply: () => value })

/** Persist nothing, reply nothing. */
export const none: Decision<never, any> = { events: [] }

/** The actor's state: the folded domain state and the stream version it reflects. */
export interface Recovered<S> {
  readonly state: S
  readonly version: number
}

/** Options of an event-sourced behavior. */
export interface Options<M extends Message.Tagged, S, Ev extends { readonly _tag: string }, E, R> {
  /** The journal stream (persistence id) of this actor. */
  readonly stream: string
  readonly events: EventTypes<Ev>
  readonly initial: S
  /** Pure: folds one event into the state. */
  readonly apply: (state: S, event: Ev) => S
  /** The command handler. */
  readonly decide: (state: S, message: M) => Decision<Ev, S> | Effect.Effect<Decision<Ev, S>, E, R>
  /** Save a snapshot every N events (default: never). */
  readonly snapshotEvery?: number | undefined
  /** Encodes the state for snapshots (default: the state must already be a JSON value). */
  readonly stateSchema?: Schema.Codec<S, unknown> | undefined
  /** Supervision (default: restart with exponential backoff from 50 ms, recovering from the journal). */
  readonly supervision?: Supervision.Strategy | undefined
}

/** A persist failed, so the command's events were not (known to be) written. */
export class PersistFailed extends Schema.TaggedError<PersistFailed>()("PersistFailed", {
  stream: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `Persisting events to stream "${this.stream}" failed: ${this.reason}; the actor restarts and recovers from the journal`
  }
}

/** A recovery (snapshot + replay) failed. */
export class RecoveryFailed extends Schema.TaggedError<RecoveryFailed>()("RecoveryFailed", {
  stream: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `Recovering stream "${this.stream}" failed: ${this.reason}`
  }
}

const defaultSupervision = (): Supervision.Strategy =>
  Supervision.always(Supervision.restart({
    backoff: Schedule.min([Schedule.exponential("50 millis"), Schedule.spaced("5 seconds")]) as Schedule.Schedule<unknown, unknown>
  }))

/** Builds an event-sourced actor behavior (needs `Journal` and `Snapshot.SnapshotStore`). */
export const behavior = <
  P extends Schema.Top & { readonly Type: Message.Tagged },
  S,
  Ev extends { readonly _tag: string },
  E = never,
  R = never
>(
  protocol: P,
  options: Options<P["Type"], S, Ev, E, R>
): Actor.Behavior<P["Type"], Recovered<S>, E | PersistFailed | RecoveryFailed, R | Journal | Snapshot.SnapshotStore> => {
  const every = options.snapshotEvery
  if (every !== undefined && (!Number.isSafeInteger(every) || every < 1)) {
    throw new RangeError(`EventSourced.behavior: snapshotEvery must be a positive integer, got ${String(every)}`)
  }
  const stream = options.stream
  const encodeState = options.stateSchema ? Schema.encodeUnknownSync(options.stateSchema) : (s: S) => s as unknown
  const decodeState = options.stateSchema ? Schema.decodeUnknownSync(options.stateSchema) : (json: unknown) => json as S
  const fold = { types: options.events, initial: options.initial, apply: (s: S, e: Ev) => options.apply(s, e) }

  const recover = Snapshot.recover(stream, fold, decodeState).pipe(
    Effect.map((r): Recovered<S> => ({ state: r.state, version: r.last })),
    Effect.mapError((error) => new RecoveryFailed({ stream, reason: error.message }))
  )

  return Actor.behavior<P, Recovered<S>, E | PersistFailed | RecoveryFailed, R | Journal | Snapshot.SnapshotStore>(protocol, {
    initial: () => ({ state: options.initial, version: 0 }),
    supervision: options.supervision ?? defaultSupervision(),
    onStart: () => recover,
    receive: (current, message, ctx) =>
      Effect.gen(function*() {
        const decided = options.decide(current.state, message)
        const decision = Effect.isEffect(decided) ? yield* decided : decided
        let next = current
        if (decision.events.length > 0) {
          const journal = yield* Journal
          const encoded = yield* Effect.forEach(decision.events, (event) => options.events.encode(event)).pipe(
            Effect.mapError((error) => new PersistFailed({ stream, reason: error.message }))
          )
          yield* journal.append(stream, encoded, current.version).pipe(
            Effect.mapError((error) => new PersistFailed({ stream, reason: error.message }))
          )
          // Written and acknowledged: only now does the state move.
          let state = current.state
          for (const event of decision.events) state = options.apply(state, event)
          next = { state, version: current.version + decision.events.length }
          if (every !== undefined && Math.floor(next.version / every) > Math.floor(current.version / every)) {
            const store = yield* Snapshot.SnapshotStore
            // A snapshot is an optimisation: failing to save one must not fail the command.
            yield* Effect.suspend(() => store.save(stream, next.version, encodeState(next.state))).pipe(
              Effect.catchCause((cause) => Effect.logWarning(`Snapshot of ${stream} at ${next.version} not saved`, cause))
            )
          }
        }
        if (decision.reply !== undefined) ctx.reply(message as never, decision.reply(next.state) as never)
        return next
      })
  })
}
