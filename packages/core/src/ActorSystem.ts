/**
 * The actor system is a service: it spawns actors (named or anonymous), looks them up by
 * name, publishes dead letters and keeps metrics. Closing its layer stops every actor —
 * gracefully (each handles what is already in its mailbox) or immediately, as configured,
 * with a time limit on each part; past the last one, `onStop` hooks still running are
 * interrupted, so closing the layer ends.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function*() {
 *   const ref = yield* ActorSystem.spawn(Counter, { name: "counter" })
 *   yield* ref.tell(new Add({ n: 1 }))
 * }).pipe(Effect.provide(ActorSystem.layer()))
 * ```
 */
import type { Scope } from "effect"
import { Context, Duration, Effect, Exit, Layer, PubSub, Stream } from "effect"
import type * as Actor from "./Actor.js"
import { ActorNameTaken, ActorNotFound, InvalidSystemConfig, SystemClosed } from "./ActorError.js"
import type * as DeadLetter from "./DeadLetter.js"
import type * as Message from "./Message.js"
import { Cell } from "./internal/cell.js"
import { SystemCore } from "./internal/system.js"
import type { Stats } from "./internal/system.js"

export type { Stats } from "./internal/system.js"
export { metrics } from "./internal/system.js"

/** Options of the actor system layer. */
export interface Options {
  /** Default `ask` timeout (default 5 seconds). */
  readonly askTimeout?: Duration.Input | undefined
  /** How the system stops its actors when the layer closes (default "graceful"). */
  readonly shutdown?: "graceful" | "immediate" | undefined
  /**
   * Time limit of each shutdown phase (default 10 s). Graceful: after it, the actors still
   * running are stopped immediately; immediate (or after that second phase): after it, `onStop`
   * hooks still running are interrupted and those not started are skipped, so closing the layer
   * always ends (unless an `onStop` is uninterruptible).
   */
  readonly shutdownTimeout?: Duration.Input | undefined
  /** Messages an actor handles per dispatcher turn before others get a turn (default 1024). */
  readonly throughput?: number | undefined
  /** Longest dispatcher run before yielding to the event loop, in ms (default 8). */
  readonly sliceMillis?: number | undefined
}

/** The actor system service. */
export class ActorSystem extends Context.Service<ActorSystem, {
  /** Spawns a top-level actor. */
  spawn<M extends Message.Tagged, S, E, R>(
    behavior: Actor.Behavior<M, S, E, R>,
    options?: Actor.SpawnOptions
  ): Effect.Effect<Actor.ActorRef<M>, ActorNameTaken | SystemClosed, R>
  /** Finds a live actor by name; the protocol must be the one it was spawned with. */
  lookup<P extends { readonly Type: Message.Tagged }>(
    name: string,
    protocol: P
  ): Effect.Effect<Actor.ActorRef<P["Type"]>, ActorNotFound>
  /** Every dead letter from now on. */
  readonly deadLetters: Stream.Stream<DeadLetter.DeadLetter>
  /** A subscription to dead letters, live from the moment this effect runs, for the scope. */
  readonly subscribeDeadLetters: Effect.Effect<PubSub.Subscription<DeadLetter.DeadLetter>, never, Scope.Scope>
  /** Current counters. */
  readonly stats: Effect.Effect<Stats>
}>()("@mailroom/core/ActorSystem") {}

const invalid = (option: string, value: unknown, expected: string) =>
  Effect.fail(new InvalidSystemConfig({ option, value: String(value), expected }))

const durationOption = (option: string, value: Duration.Input | undefined, fallback: Duration.Input) => {
  const d = Duration.fromInput(value ?? fallback)
  return d._tag === "Some" && Duration.toMillis(d.value) >= 0
    ? Effect.succeed(d.value)
    : invalid(option, value, "a non-negative duration (e.g. \"5 seconds\" or a number of ms)")
}

const validateOptions = Effect.fnUntraced(function*(options: Options | undefined) {
  const throughput = options?.throughput ?? 1024
  if (!Number.isInteger(throughput) || throughput < 1) return yield* invalid("throughput", throughput, "a positive integer")
  const slice = options?.sliceMillis ?? 8
  if (typeof slice !== "number" || !(slice > 0)) return yield* invalid("sliceMillis", slice, "a positive number of ms")
  const shutdown = options?.shutdown ?? "graceful"
  if (shutdown !== "graceful" && shutdown !== "immediate") {
    return yield* invalid("shutdown", shutdown, "\"graceful\" or \"immediate\"")
  }
  const askTimeout = yield* durationOption("askTimeout", options?.askTimeout, "5 seconds")
  const shutdownTimeout = yield* durationOption("shutdownTimeout", options?.shutdownTimeout, "10 seconds")
  return {
    throughput,
    slice,
    askTimeoutMillis: Duration.toMillis(askTimeout),
    shutdownTimeout,
    immediate: shutdown === "immediate"
  }
})

/** Builds an actor system; closing the layer stops every actor. */
export const make = Effect.fnUntraced(function*(options?: Options) {
  const config = yield* validateOptions(options)
  const context = yield* Effect.context<never>()
  const deadLetters = yield* PubSub.unbounded<DeadLetter.DeadLetter>()
  const core = new SystemCore(context, deadLetters, config.askTimeoutMillis, config.throughput, config.slice)
  // Each phase gets `shutdownTimeout`; the last one (force) cannot hang on an `onStop` hook.
  const immediate = core.shutdown("immediate").pipe(
    Effect.timeoutOrElse({ duration: config.shutdownTimeout, orElse: () => core.shutdown("force") })
  )
  yield* Effect.addFinalizer(() =>
    (config.immediate
      ? immediate
      : core.shutdown("graceful").pipe(
        Effect.timeoutOrElse({ duration: config.shutdownTimeout, orElse: () => immediate })
      )).pipe(Effect.andThen(PubSub.shutdown(deadLetters)))
  )
  const service = ActorSystem.of({
    spawn: (behavior, spawnOptions) =>
      Effect.contextWith((ctx: Context.Context<any>) => {
        const r = core.spawnCell(behavior, spawnOptions?.name, undefined, ctx)
        return r instanceof Cell ? Effect.succeed(r as Actor.ActorRef<any>) : Effect.fail(r)
      }),
    lookup: (name, protocol) =>
      Effect.suspend(() => {
        const cell = core.names.get(name)
        if (cell === undefined || !cell.isAlive || cell.compiled.behavior.protocol !== (protocol as unknown)) {
          return Effect.fail(new ActorNotFound({ name }))
        }
        return Effect.succeed(cell as Actor.ActorRef<any>)
      }),
    deadLetters: Stream.fromPubSub(deadLetters),
    subscribeDeadLetters: PubSub.subscribe(deadLetters),
    stats: Effect.sync(() => core.stats())
  })
  cores.set(service, core)
  return service
})

/** The core behind each system service, for the one-step `spawn` below. */
const cores = new WeakMap<object, SystemCore>()

/** The actor system layer; an unusable option fails it with `InvalidSystemConfig`. */
export const layer = (options?: Options): Layer.Layer<ActorSystem, InvalidSystemConfig> =>
  Layer.effect(ActorSystem, make(options))

/** Spawns a top-level actor in the current system. */
export const spawn = <M extends Message.Tagged, S, E, R>(
  behavior: Actor.Behavior<M, S, E, R>,
  options?: Actor.SpawnOptions
): Effect.Effect<Actor.ActorRef<M>, ActorNameTaken | SystemClosed, ActorSystem | R> =>
  Effect.contextWith((ctx: Context.Context<ActorSystem | R>) => {
    const service = Context.get(ctx, ActorSystem)
    const core = cores.get(service)
    // A system built elsewhere (a custom implementation of the service) spawns its own way.
    if (core === undefined) return service.spawn(behavior, options)
    const r = core.spawnCell(behavior, options?.name, undefined, ctx)
    return r instanceof Cell ? Exit.succeed(r as Actor.ActorRef<M>) : Exit.fail(r)
  })

/** Spawns an actor that is stopped (gracefully) when the current scope closes. */
export const spawnScoped = <M extends Message.Tagged, S, E, R>(
  behavior: Actor.Behavior<M, S, E, R>,
  options?: Actor.SpawnOptions
) =>
  Effect.acquireRelease(spawn(behavior, options), (ref) => ref.stop)

/** Looks up a live actor by name. */
export const lookup = <P extends { readonly Type: Message.Tagged }>(name: string, protocol: P) =>
  Effect.flatMap(Effect.service(ActorSystem), (system) => system.lookup(name, protocol))

/** The dead-letter stream of the current system. */
export const deadLetters: Stream.Stream<DeadLetter.DeadLetter, never, ActorSystem> = Stream.unwrap(
  Effect.map(Effect.service(ActorSystem), (system) => system.deadLetters)
)

/** Subscribes to the current system's dead letters for the current scope. */
export const subscribeDeadLetters: Effect.Effect<PubSub.Subscription<DeadLetter.DeadLetter>, never, ActorSystem | Scope.Scope> =
  Effect.flatMap(Effect.service(ActorSystem), (s) => s.subscribeDeadLetters)

/** The counters of the current system. */
export const stats: Effect.Effect<Stats, never, ActorSystem> = Effect.flatMap(Effect.service(ActorSystem), (s) => s.stats)
