/**
 * Mailroom actors as sharded entities on Effect's cluster engine (`effect/cluster`). A
 * `ShardedActor.entity` turns a behavior of `@mailroom/core` into a cluster `Entity`: one RPC
 * per message tag of the behavior's protocol, with the request's declared success and error
 * schemas (`tell` messages answer `void`). Every entity id is one actor: it lives on the runner
 * that owns the id's shard, keeps the behavior's state in memory while it is active, handles
 * its messages one at a time in the order the cluster delivers them, and applies the
 * behavior's supervision. `ShardedActor.ref(entity, id)` is the typed reference, with `tell`
 * and `ask` like an `ActorRef`, routed through `Sharding` to whichever runner owns the id.
 *
 * Messages of the tags named in `persisted` are stored by the cluster's `MessageStorage`
 * (PostgreSQL with `Runner.layer`) before they are acknowledged and kept until the handler has
 * finished with them; a runner that dies leaves them to the runner that takes its shards.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Actor, Message } from "@mailroom/core"
 * import { ShardedActor } from "@mailroom/cluster"
 *
 * class Deposit extends Schema.TaggedClass<Deposit>()("Deposit", { amount: Schema.Number }) {}
 * class Balance extends Message.Request<Balance>()("Balance", {}, { success: Schema.Number }) {}
 *
 * const Account = ShardedActor.entity("Account", Actor.behavior(Actor.protocol(Deposit, Balance), {
 *   initial: () => 0,
 *   receive: (balance, msg, ctx) => {
 *     if (msg._tag === "Deposit") return Effect.succeed(balance + msg.amount)
 *     ctx.reply(msg, balance)
 *     return Effect.succeed(balance)
 *   }
 * }), { persisted: ["Deposit"] })
 *
 * // On every runner: ShardedActor.layer(Account). Anywhere with Sharding:
 * const program = Effect.gen(function*() {
 *   const alice = yield* ShardedActor.ref(Account, "alice")
 *   yield* alice.tell(new Deposit({ amount: 10 }))
 *   return yield* alice.ask(new Balance())
 * })
 * ```
 */
import type { Actor } from "@mailroom/core"
import { ActorError, ActorSystem, Message } from "@mailroom/core"
import { Duration, Effect, Layer, Option, Schema } from "effect"
import type { Scope } from "effect"
import { ClusterError, ClusterSchema, Entity, Sharding, ShardingConfig } from "effect/cluster"
import { Rpc } from "effect/rpc"
import * as Incarnation from "./internal/incarnation.js"
import * as Counters from "./internal/stats.js"
import { DeliveryFailed, InvalidClusterConfig, InvalidEntityId } from "./ShardedError.js"

const TypeId: unique symbol = Symbol.for("@mailroom/cluster/ShardedEntity") as never

/** Options of `entity`. */
export interface Options<Tag extends string> {
  /**
   * Messages the cluster stores before acknowledging them and keeps until they are processed
   * (`true`: every message). Persisted messages survive the death of the runner that owns
   * the entity: the next owner handles them. Default: none (volatile, sent over the network).
   */
  readonly persisted?: boolean | ReadonlyArray<Tag> | undefined
  /**
   * Passivate an entity after this long without messages: its state is dropped (and `onStop`
   * runs); the next message starts it again from `initial()`. Default: the cluster's
   * `entityMaxIdleTime` (1 minute).
   */
  readonly maxIdleTime?: Duration.Input | undefined
  /**
   * Most messages in flight per entity: past it, volatile senders get `MailboxFull` and
   * persisted messages wait in storage. Default: the behavior's bounded mailbox capacity, or
   * the cluster's `entityMailboxCapacity` (4096).
   */
  readonly mailboxCapacity?: number | "unbounded" | undefined
  /** Default timeout of `ask` on references to this entity (default 5 seconds). */
  readonly askTimeout?: Duration.Input | undefined
  /** Places entity ids in shard groups (default: every id in `"default"`). */
  readonly shardGroup?: ((entityId: string) => string) | undefined
}

/** A behavior registered as a cluster entity type. */
export interface ShardedEntity<M extends Message.Tagged, R = never> {
  readonly [TypeId]: typeof TypeId
  /** The entity type: the same on every runner and client. */
  readonly name: string
  readonly behavior: Actor.Behavior<M, any, any, R>
  /** The `effect/cluster` entity (its protocol holds one RPC per message tag). */
  readonly entity: Entity.Entity<string, Rpc.Any>
  /** The message tags of the protocol, in protocol order. */
  readonly tags: ReadonlyArray<M["_tag"]>
  /** The tags whose messages are persisted. */
  readonly persisted: ReadonlySet<string>
  /** The tags of request messages (those that declare a reply). */
  readonly requests: ReadonlySet<string>
  readonly options: Options<M["_tag"]>
  /** Set when an option or the protocol cannot be used; `layer` and `ref` fail with it. */
  readonly invalid: InvalidClusterConfig | undefined
}

/** The error type `ask` on a sharded reference can fail with for request `R`. */
export type AskError<R> = Actor.AskError<R> | DeliveryFailed

/**
 * A typed reference to the sharded actor with one entity id. It accepts only its protocol's
 * messages; `ask` returns the reply type the request declares.
 */
export interface ShardedRef<in M> {
  /** The entity type. */
  readonly entity: string
  readonly id: string
  /**
   * Sends a message without waiting for it to be handled: it returns once the cluster took it
   * (a persisted message: once it is stored).
   */
  tell(message: M): Effect.Effect<void, ActorError.MailboxFull | DeliveryFailed>
  /** Sends a request and waits for its reply. */
  ask<R extends M & Message.AnyRequest>(
    message: R,
    options?: Actor.AskOptions
  ): Effect.Effect<Message.Success<R>, AskError<R>>
  /** Decodes unknown input with the actor's protocol, then tells it. */
  tellUnknown(input: unknown): Effect.Effect<void, ActorError.MessageDecodeError | ActorError.MailboxFull | DeliveryFailed>
}

const NAME = /^[A-Za-z][A-Za-z0-9_.-]*$/

const tagOfMember = (member: unknown): string | undefined => {
  const fields = (member as { readonly fields?: Record<string, { readonly ast?: { readonly literal?: unknown } }> }).fields
  const literal = fields?.["_tag"]?.ast?.literal
  return typeof literal === "string" ? literal : undefined
}

/** The message schemas of a protocol (a union of message classes, possibly nested). */
const membersOf = (schema: unknown): Array<Schema.Top> => {
  const members = (schema as { readonly members?: ReadonlyArray<unknown> }).members
  if (Array.isArray(members)) return members.flatMap(membersOf)
  return [schema as Schema.Top]
}

const durationOption = (option: string, value: Duration.Input | undefined): InvalidClusterConfig | undefined => {
  if (value === undefined) return undefined
  const d = Duration.fromInput(value)
  return d._tag === "Some" && Duration.toMillis(d.value) > 0 && Duration.isFinite(d.value)
    ? undefined
    : new InvalidClusterConfig({ option, value: String(value), expected: "a positive finite duration (e.g. \"30 seconds\")" })
}

/**
 * Registers a behavior as a sharded entity type named `name`. The behavior's protocol becomes
 * the entity's RPC protocol; nothing runs until `layer` is provided on a runner.
 */
export const entity = <M extends Message.Tagged, S, E, R>(
  name: string,
  behavior: Actor.Behavior<M, S, E, R>,
  options?: Options<M["_tag"]>
): ShardedEntity<M, R> => {
  const opts = options ?? {}
  let invalid: InvalidClusterConfig | undefined
  const check = (error: InvalidClusterConfig | undefined) => {
    if (invalid === undefined && error !== undefined) invalid = error
  }
  if (typeof name !== "string" || name.length > 150 || !NAME.test(name)) {
    check(new InvalidClusterConfig({
      option: "name",
      value: String(name),
      expected: "a letter followed by letters, digits, '_', '.' or '-' (at most 150 characters)"
    }))
  }
  const members = membersOf(behavior.protocol)
  const tags: Array<string> = []
  const requests = new Set<string>()
  const rpcs: Array<Rpc.Any> = []
  const persistedOption = opts.persisted ?? false
  const persisted = new Set<string>()
  for (const member of members) {
    const tag = tagOfMember(member)
    if (tag === undefined || tag.length === 0 || tag.length > 50) {
      check(new InvalidClusterConfig({
        option: `${name}.protocol`,
        value: tag ?? String((member as { readonly ast?: { readonly _tag?: unknown } }).ast?._tag ?? member),
        expected: "tagged message classes (Schema.TaggedClass or Message.Request) with a _tag of 1 to 50 characters"
      }))
      continue
    }
    if (tags.includes(tag)) {
      check(new InvalidClusterConfig({ option: `${name}.protocol`, value: tag, expected: "each message tag once" }))
      continue
    }
    tags.push(tag)
    const reply = member as unknown as Partial<Message.ReplySchemas<Schema.Top, Schema.Top>>
    const isRequest = Schema.isSchema(reply.success)
    if (isRequest) requests.add(tag)
    const isPersisted = persistedOption === true || (Array.isArray(persistedOption) && persistedOption.includes(tag))
    if (isPersisted) persisted.add(tag)
    rpcs.push(
      Rpc.make(tag, {
        payload: member,
        success: isRequest ? reply.success! : Schema.Void,
        error: Schema.Union([
          isRequest && Schema.isSchema(reply.error) ? reply.error : Schema.Never,
          ActorError.HandlerFailed,
          ActorError.ActorStopped
        ])
      }).annotate(ClusterSchema.Persisted, isPersisted)
    )
  }
  if (Array.isArray(persistedOption)) {
    for (const tag of persistedOption) {
      if (!tags.includes(tag)) {
        check(new InvalidClusterConfig({ option: `${name}.persisted`, value: String(tag), expected: `one of ${tags.join(", ")}` }))
      }
    }
  } else if (typeof persistedOption !== "boolean") {
    check(new InvalidClusterConfig({ option: `${name}.persisted`, value: String(persistedOption), expected: "a boolean or a list of message tags" }))
  }
  const capacity = opts.mailboxCapacity
  if (capacity !== undefined && capacity !== "unbounded" && !(Number.isInteger(capacity) && capacity > 0)) {
    check(new InvalidClusterConfig({ option: `${name}.mailboxCapacity`, value: String(capacity), expected: "a positive integer or \"unbounded\"" }))
  }
  check(durationOption(`${name}.maxIdleTime`, opts.maxIdleTime))
  check(durationOption(`${name}.askTimeout`, opts.askTimeout))
  if (behavior.receive === undefined && behavior.batch === undefined) {
    check(new InvalidClusterConfig({ option: `${name}.behavior`, value: "neither receive nor batch", expected: "a behavior built by Actor.behavior" }))
  }

  // Client spans cost a span per message; like handler spans (`span: true` on the behavior),
  // they are opt-in.
  let clusterEntity = Entity.make(NAME.test(name) ? name : "invalid", rpcs)
    .annotate(ClusterSchema.ClientTracingEnabled, behavior.span === true)
  const shardGroup = opts.shardGroup
  if (shardGroup !== undefined) {
    clusterEntity = clusterEntity.annotate(ClusterSchema.ShardGroup, (entityId) => shardGroup(entityId))
  }
  return {
    [TypeId]: TypeId,
    name,
    behavior: behavior as Actor.Behavior<M, any, any, R>,
    entity: clusterEntity,
    tags: tags as Array<M["_tag"]>,
    persisted,
    requests,
    options: opts,
    invalid
  }
}

/** The entity's mailbox capacity as configured, for `MailboxFull` errors. */
const capacityOf = (sharded: ShardedEntity<any, any>, config: Option.Option<ShardingConfig.ShardingConfig["Service"]>): number => {
  const option = sharded.options.mailboxCapacity
  if (typeof option === "number") return option
  const mailbox = sharded.behavior.mailbox
  if (option === undefined && mailbox?._tag === "Bounded") return mailbox.capacity
  const fallback = Option.isSome(config) ? config.value.entityMailboxCapacity : 4096
  return typeof fallback === "number" ? fallback : Number.POSITIVE_INFINITY
}

const defaultAskTimeout = Duration.seconds(5)

/** Builds the reference over the cluster client of the entity. */
const makeRef = <M extends Message.Tagged>(
  sharded: ShardedEntity<M, any>,
  clientFor: (entityId: string) => any,
  id: string,
  capacity: number
): ShardedRef<M> => {
  const actor = `${sharded.name}/${id}`
  const client = clientFor(id)
  const askTimeout = sharded.options.askTimeout === undefined
    ? defaultAskTimeout
    : Duration.fromInputUnsafe(sharded.options.askTimeout)
  const mapError = (messageTag: string) => (error: unknown): unknown => {
    if (ClusterError.MailboxFull.is(error)) return new ActorError.MailboxFull({ actor, messageTag, capacity })
    if (
      ClusterError.EntityNotAssignedToRunner.is(error) || ClusterError.AlreadyProcessingMessage.is(error) ||
      ClusterError.RunnerUnavailable.is(error) || ClusterError.MalformedMessage.is(error) ||
      (typeof error === "object" && error !== null && (error as { readonly _tag?: unknown })._tag === "PersistenceError")
    ) {
      const tag = (error as { readonly _tag: string })._tag
      const cause = (error as { readonly cause?: unknown }).cause
      return new DeliveryFailed({
        entity: sharded.name,
        entityId: id,
        messageTag,
        reason: `${tag}${cause !== undefined ? `: ${String(cause)}` : ""}`
      })
    }
    return error
  }
  const send = (message: Message.Tagged, discard: boolean): Effect.Effect<any, any> => {
    const method = sharded.tags.includes(message._tag) ? client[message._tag] : undefined
    if (typeof method !== "function") {
      return Effect.die(new Error(`${actor}: ${String(message._tag)} is not a message of its protocol (${sharded.tags.join(", ")})`))
    }
    return Effect.mapError(method(message, discard ? { discard: true } : undefined) as Effect.Effect<any, any>, mapError(message._tag))
  }
  const tell = (message: M) => send(message, true) as Effect.Effect<void, ActorError.MailboxFull | DeliveryFailed>
  return {
    entity: sharded.name,
    id,
    tell,
    ask: ((message: M & Message.AnyRequest, options?: Actor.AskOptions) => {
      const timeout = options?.timeout === undefined ? askTimeout : Duration.fromInputUnsafe(options.timeout)
      return Effect.timeoutOrElse(send(message, false), {
        duration: timeout,
        orElse: () =>
          Effect.fail(new ActorError.AskTimeout({ actor, messageTag: message._tag, timeoutMillis: Duration.toMillis(timeout) }))
      })
    }) as ShardedRef<M>["ask"],
    tellUnknown: (input) =>
      Schema.decodeUnknownEffect(sharded.behavior.protocol)(input).pipe(
        Effect.mapError((e) => new ActorError.MessageDecodeError({ actor, issue: e.message })),
        Effect.flatMap((message) => tell(message as M))
      ) as Effect.Effect<void, ActorError.MessageDecodeError | ActorError.MailboxFull | DeliveryFailed>
  }
}

const checkId = (sharded: ShardedEntity<any, any>, id: string): InvalidEntityId | undefined =>
  typeof id === "string" && id.length > 0 && id.length <= 255
    ? undefined
    : new InvalidEntityId({ entity: sharded.name, entityId: String(id), expected: "a non-empty string of at most 255 characters" })

/**
 * A typed reference to the entity `id`, routed through the cluster. Works on runners and on
 * client-only processes alike (anywhere `Sharding` is provided).
 */
export const ref = <M extends Message.Tagged>(
  sharded: ShardedEntity<M, any>,
  id: string
): Effect.Effect<ShardedRef<M>, InvalidEntityId | InvalidClusterConfig, Sharding.Sharding> =>
  Effect.gen(function*() {
    if (sharded.invalid !== undefined) return yield* sharded.invalid
    const badId = checkId(sharded, id)
    if (badId !== undefined) return yield* badId
    const clientFor = yield* sharded.entity.client
    const config = yield* Effect.serviceOption(ShardingConfig.ShardingConfig)
    return makeRef(sharded, clientFor, id, capacityOf(sharded, config))
  })

/**
 * A function from entity id to reference, for code that addresses many ids: the entity's
 * configuration is checked once, each id when its reference is made.
 */
export const client = <M extends Message.Tagged>(
  sharded: ShardedEntity<M, any>
): Effect.Effect<(id: string) => Effect.Effect<ShardedRef<M>, InvalidEntityId>, InvalidClusterConfig, Sharding.Sharding> =>
  Effect.gen(function*() {
    if (sharded.invalid !== undefined) return yield* sharded.invalid
    const clientFor = yield* sharded.entity.client
    const capacity = capacityOf(sharded, yield* Effect.serviceOption(ShardingConfig.ShardingConfig))
    return (id: string) => {
      const badId = checkId(sharded, id)
      return badId !== undefined ? Effect.fail(badId) : Effect.succeed(makeRef(sharded, clientFor, id, capacity))
    }
  })

/**
 * Inside a handler, a failed delivery to itself (`ctx.self`) is not an expected outcome: a
 * defect, supervised like any other.
 */
const orDieDelivery = <A, E>(effect: Effect.Effect<A, E | DeliveryFailed>) =>
  Effect.catchTag(effect as Effect.Effect<A, DeliveryFailed>, "DeliveryFailed", (e) => Effect.die(e)) as Effect.Effect<
    A,
    Exclude<E, DeliveryFailed>
  >

/**
 * Runs the entity on this runner: registers it with `Sharding`, so the runner hosts the ids
 * of the shards it owns. Provide it on every runner (client-only processes need only `ref`).
 * `ctx.spawn` in the behavior uses the runner's `ActorSystem` when one is provided.
 */
export const layer = <M extends Message.Tagged, R>(
  sharded: ShardedEntity<M, R>
): Layer.Layer<
  never,
  InvalidClusterConfig,
  Sharding.Sharding | Exclude<R, Scope.Scope | Entity.CurrentAddress | Entity.CurrentRunnerAddress>
> => {
  if (sharded.invalid !== undefined) return Layer.effectDiscard(Effect.fail(sharded.invalid))
  const requests = sharded.requests
  const build = Effect.gen(function*() {
    const address = yield* Entity.CurrentAddress
    const system = yield* Effect.serviceOption(ActorSystem.ActorSystem)
    const clientFor = yield* sharded.entity.client
    const capacity = capacityOf(sharded, yield* Effect.serviceOption(ShardingConfig.ShardingConfig))
    const selfRef = makeRef(sharded, clientFor, address.entityId, capacity)
    const incarnation = yield* Incarnation.start({
      entityType: sharded.name,
      entityId: address.entityId,
      behavior: sharded.behavior,
      isRequest: (tag) => requests.has(tag),
      system,
      sendSelf: {
        tell: (message) => orDieDelivery(selfRef.tell(message as M)),
        ask: (message, options) => orDieDelivery(selfRef.ask(message as M & Message.AnyRequest, options)),
        tellUnknown: (input) => orDieDelivery(selfRef.tellUnknown(input))
      }
    })
    const handlers: Record<string, (request: Entity.Request<any>) => Effect.Effect<unknown, unknown>> = {}
    for (const tag of sharded.tags) handlers[tag] = (request) => incarnation.enqueue(request.payload as Message.Tagged)
    return handlers
  })
  const mailbox = sharded.behavior.mailbox
  const mailboxCapacity = sharded.options.mailboxCapacity ?? (mailbox?._tag === "Bounded" ? mailbox.capacity : undefined)
  return (sharded.entity as Entity.Entity<string, any>).toLayer(build as any, {
    // The incarnation serializes the messages; the RPC server only hands them over in order.
    concurrency: "unbounded",
    maxIdleTime: sharded.options.maxIdleTime,
    mailboxCapacity,
    // Handlers never fail the server: supervision turns every failure into a reply.
    disableFatalDefects: true
  }) as Layer.Layer<never, never, any>
}

/**
 * Keeps the current entity from being passivated (`true`) or lets it be again (`false`): for
 * an entity that must stay active while nothing is sent to it, such as the owner of a
 * partition of work. Call it from the behavior (e.g. in `onStart`); it lasts for the
 * incarnation, and across runners the entity is activated again where its shard moves.
 */
export const keepAlive: (enabled: boolean) => Effect.Effect<void, never, Sharding.Sharding | Entity.CurrentAddress> =
  Entity.keepAlive

/** Counters of one entity type on this runner. */
export interface Stats {
  /** Messages handled here (the reply given to the cluster). */
  readonly processed: number
  readonly failures: number
  readonly restarts: number
  readonly deadLetters: number
  /** Entities resident on this runner now. */
  readonly active: number
}

/** This process's counters, per entity type: its share of the cluster's work. */
export const stats: Effect.Effect<Readonly<Record<string, Stats>>> = Effect.sync(Counters.snapshot)

/** Tests whether a value is a `ShardedEntity`. */
export const isShardedEntity = (u: unknown): u is ShardedEntity<Message.Tagged, unknown> =>
  typeof u === "object" && u !== null && TypeId in u
