/**
 * An actor is a protocol (a `Schema` union of tagged message classes) plus a behavior: an
 * initial state and a handler `(state, message, context) → Effect<state>`. The actor system
 * runs each actor one message at a time, in the order each sender sent them. An idle actor
 * holds no fiber: it gets one only while it has messages whose handler needs one (handlers
 * that finish synchronously, like `Effect.succeed(next)`, run without a fiber at all).
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Actor, ActorSystem, Message } from "@mailroom/core"
 *
 * class Add extends Schema.TaggedClass<Add>()("Add", { n: Schema.Number }) {}
 * class Get extends Message.Request<Get>()("Get", {}, { success: Schema.Number }) {}
 *
 * const Counter = Actor.behavior(Actor.protocol(Add, Get), {
 *   initial: () => 0,
 *   receive: (n, msg, ctx) => {
 *     if (msg._tag === "Add") return Effect.succeed(n + msg.n)
 *     ctx.reply(msg, n)
 *     return Effect.succeed(n)
 *   }
 * })
 *
 * const program = Effect.gen(function*() {
 *   const counter = yield* ActorSystem.spawn(Counter)
 *   yield* counter.tell(new Add({ n: 2 }))
 *   return yield* counter.ask(new Get())   // 2
 * }).pipe(Effect.provide(ActorSystem.layer()))
 * ```
 */
import type { Duration, Effect } from "effect"
import { Schema } from "effect"
import type {
  ActorNameTaken,
  ActorStopped,
  AskTimeout,
  HandlerFailed,
  MailboxFull,
  MessageDecodeError,
  SystemClosed,
  TooManyWaitingSenders
} from "./ActorError.js"
import type * as Mailbox from "./Mailbox.js"
import type * as Message from "./Message.js"
import type * as Supervision from "./Supervision.js"

/** A protocol: the schema of every message an actor accepts. */
export type Protocol<M extends Message.Tagged> = Schema.Codec<M, unknown>

/** Builds a protocol from message classes (a `Schema.Union`). */
export const protocol = <const Members extends ReadonlyArray<Schema.Top & { readonly Type: Message.Tagged }>>(
  ...members: Members
): Schema.Union<Members> => Schema.Union(members)

/** Why an actor terminated. */
export type StopReason =
  | { readonly _tag: "Stopped" }
  | { readonly _tag: "Failed"; readonly detail: string }

/** Delivered to watchers (and to the parent) when an actor has terminated. */
export interface Terminated {
  readonly _tag: "Terminated"
  readonly actor: ActorRef<never>
  readonly reason: StopReason
}

/** The error type `tell` can fail with: a full `fail` mailbox, or too many senders waiting at a full `suspend` one. */
export type TellError = MailboxFull | TooManyWaitingSenders

/** The error type `ask` can fail with for request `R`. */
export type AskError<R> = Message.Failure<R> | AskTimeout | ActorStopped | HandlerFailed | MailboxFull | TooManyWaitingSenders

/** Options of `ask`. */
export interface AskOptions {
  /**
   * How long to wait for the reply (default: the system's `askTimeout`, 5 seconds). When it
   * passes before the handler started the request, the request is withdrawn: never handled,
   * dead-lettered with reason `AskTimeout`.
   */
  readonly timeout?: Duration.Input | undefined
}

/**
 * A typed address of an actor. It accepts only its protocol's messages; `ask` returns the
 * reply type the request declares.
 */
export interface ActorRef<in M> {
  readonly id: number
  /** The actor's name, when it was spawned with one. */
  readonly name: string | undefined
  /** A readable path: `/user/name` or `/user/parent/#42`. */
  readonly path: string
  /**
   * Enqueues a message. Suspends the sender while a bounded `suspend` mailbox is full (at most
   * `maxWaitingSenders` wait; the next one fails with `TooManyWaitingSenders` at once). A sender
   * interrupted while it waits withdraws its message (dead-lettered, `SenderInterrupted`).
   */
  tell(message: M): Effect.Effect<void, TellError>
  /**
   * Enqueues a message synchronously, outside any fiber. Answers `false` when the message
   * was not accepted (full `suspend`/`fail` mailbox); dropped and dead-lettered messages are
   * published as dead letters as with `tell`.
   */
  tellUnsafe(message: M): boolean
  /**
   * Sends a request and waits for its reply. An asker that gives up (timeout, or interrupted,
   * e.g. because its scope closed) before the handler started the request withdraws it: it
   * leaves the mailbox, is never handled and goes to dead letters (`AskTimeout`,
   * `SenderInterrupted`). On a full `suspend` mailbox the asker waits for room like `tell`.
   */
  ask<R extends M & Message.AnyRequest>(
    message: R,
    options?: AskOptions
  ): Effect.Effect<Message.Success<R>, AskError<R>>
  /** Decodes unknown input with the actor's protocol, then tells it. */
  tellUnknown(input: unknown): Effect.Effect<void, MessageDecodeError | TellError>
  /**
   * Stops after the messages already in the mailbox are handled (messages sent meanwhile, and
   * senders waiting for room, are dead-lettered at once); waits until terminated.
   */
  readonly stop: Effect.Effect<void>
  /** Stops now: the running handler is interrupted, waiting messages go to dead letters; waits until terminated. */
  readonly stopNow: Effect.Effect<void>
  /** Waits until the actor has terminated and answers why. */
  readonly awaitTermination: Effect.Effect<StopReason>
  /**
   * True until the actor starts stopping. During a graceful `stop` it is still true while the
   * actor handles what was in its mailbox, but messages sent meanwhile are dead-lettered.
   */
  readonly isAlive: boolean
}

/** What a handler can do besides returning the next state. */
export interface ActorContext<M> {
  readonly self: ActorRef<M>
  /** Replies to a request taken from this actor's mailbox. */
  reply<R extends M & Message.AnyRequest>(request: R, value: Message.Success<R>): void
  /** Answers a request with its declared error; the actor itself does not fail. */
  fail<R extends M & Message.AnyRequest>(request: R, error: Message.Failure<R>): void
  /** Spawns a child: it stops when this actor stops. */
  spawn<C extends Message.Tagged, S, E, R>(
    behavior: Behavior<C, S, E, R>,
    options?: SpawnOptions
  ): Effect.Effect<ActorRef<C>, ActorNameTaken | SystemClosed, R>
  /** Delivers `Terminated` for `other` to this actor's `onTerminated` hook. */
  watch(other: ActorRef<never>): void
  unwatch(other: ActorRef<never>): void
}

/** Batch receive: the handler gets every waiting message, up to `max`, in one call. */
export interface BatchReceive<M, S, E, R> {
  readonly max: number
  readonly receive: (state: S, messages: ReadonlyArray<M>, ctx: ActorContext<M>) => Effect.Effect<S, E, R>
}

/** A behavior: protocol, initial state, handler and options. */
export interface Behavior<M extends Message.Tagged, S, E = never, R = never> {
  readonly protocol: Protocol<M>
  /** A label for metrics and paths (defaults to the protocol's tags). */
  readonly label?: string | undefined
  readonly initial: () => S
  readonly receive?: ((state: S, message: M, ctx: ActorContext<M>) => Effect.Effect<S, E, R>) | undefined
  readonly batch?: BatchReceive<M, S, E, R> | undefined
  readonly mailbox?: Mailbox.Mailbox | undefined
  readonly supervision?: Supervision.Strategy | undefined
  /**
   * Trace effectful handlers: each message whose handler runs on a fiber gets a span
   * `<label>.<tag>` with the actor's path (handlers that complete synchronously stay untraced,
   * which keeps the fast path free of tracing cost).
   */
  readonly span?: boolean | undefined
  /** Per-message timeout: a handler that runs longer fails with a timeout. */
  readonly timeout?: Duration.Input | undefined
  /** Runs before the first message (and after each restart). */
  readonly onStart?: ((state: S, ctx: ActorContext<M>) => Effect.Effect<S, E, R>) | undefined
  /** Runs once when the actor stops (after its children stopped). */
  readonly onStop?: ((state: S, ctx: ActorContext<M>) => Effect.Effect<void, never, R>) | undefined
  /** Receives `Terminated` for watched actors and for children. */
  readonly onTerminated?: ((state: S, terminated: Terminated, ctx: ActorContext<M>) => Effect.Effect<S, E, R>) | undefined
}

/** Spawn options. */
export interface SpawnOptions {
  /** A unique name among live actors; `lookup` finds the actor by it. */
  readonly name?: string | undefined
}

/** Builds a behavior for a protocol; the message type is inferred from the protocol. */
export const behavior = <P extends Schema.Top & { readonly Type: Message.Tagged }, S, E = never, R = never>(
  protocol: P,
  definition: Omit<Behavior<P["Type"], S, E, R>, "protocol">
): Behavior<P["Type"], S, E, R> => {
  if (definition.receive === undefined && definition.batch === undefined) {
    throw new TypeError("Actor.behavior: give `receive` or `batch`")
  }
  if (definition.batch !== undefined && !(Number.isInteger(definition.batch.max) && definition.batch.max >= 1)) {
    throw new RangeError(`Actor.behavior: batch.max must be a positive integer, got ${String(definition.batch.max)}`)
  }
  return { ...definition, protocol: protocol as unknown as Protocol<P["Type"]> }
}

/** The message type of a behavior. */
export type MessageOf<B> = B extends Behavior<infer M, any, any, any> ? M : never
