/**
 * One activation of a sharded actor on the runner that owns its shard: the behavior's state,
 * a mailbox fed by the entity's RPC handlers, and one fiber that takes messages one at a time
 * (or a batch) and applies the behavior's supervision. The entity's RPC handlers run with
 * unbounded concurrency and only enqueue here, so the order in which the cluster delivers
 * messages to the entity is the order in which they are handled.
 *
 * Replies are held until the handler's effect has ended and are then given to the cluster,
 * which marks a persisted message processed only at that point: a runner that dies in the
 * middle of a handler leaves the message for the next owner.
 */
import { Actor, ActorError, Message, Supervision } from "@mailroom/core"
import type { ActorSystem } from "@mailroom/core"
import { Cause, Clock, Deferred, Duration, Effect, Exit, Fiber, Option, Schedule, Scope } from "effect"
import * as Stats from "./stats.js"

/** A message taken from the cluster, waiting for its reply. */
export interface Item {
  readonly _tag: "Item"
  readonly message: Message.Tagged
  readonly isRequest: boolean
  /** Completes the cluster request; `undefined` once answered (or for a local message). */
  resume: ((exit: Exit.Exit<unknown, unknown>) => void) | undefined
  /** The reply recorded by `ctx.reply` / `ctx.fail`, delivered when the handler ends. */
  reply: Exit.Exit<unknown, unknown> | undefined
}

type Signal =
  | { readonly _tag: "Terminated"; readonly signal: Actor.Terminated }
  | { readonly _tag: "Stop" }

type Entry = Item | Signal

/** Raised inside the handler effect when it runs past the behavior's timeout. */
class HandlerTimeout {
  readonly _tag = "HandlerTimeout"
  readonly millis: number
  constructor(millis: number) {
    this.millis = millis
  }
}

const classify = (cause: Cause.Cause<unknown>): Supervision.Failure => {
  const error = Cause.findErrorOption(cause)
  if (error._tag === "Some") {
    if (error.value instanceof HandlerTimeout) return { _tag: "Timeout", millis: error.value.millis }
    return { _tag: "Error", error: error.value }
  }
  return { _tag: "Defect", defect: Cause.squash(cause) }
}

const tagOf = (message: unknown): string =>
  typeof message === "object" && message !== null && typeof (message as Message.Tagged)._tag === "string"
    ? (message as Message.Tagged)._tag
    : "unknown"

export interface Config {
  readonly entityType: string
  readonly entityId: string
  readonly behavior: Actor.Behavior<any, any, any, any>
  readonly isRequest: (tag: string) => boolean
  /** The ActorSystem of the runner, for `ctx.spawn`. */
  readonly system: Option.Option<ActorSystem.ActorSystem["Service"]>
  /** Sends through the cluster to this same entity (for `ctx.self`). */
  readonly sendSelf: {
    readonly tell: (message: Message.Tagged) => Effect.Effect<void, ActorError.MailboxFull>
    readonly ask: (message: Message.Tagged, options?: Actor.AskOptions) => Effect.Effect<unknown, unknown>
    readonly tellUnknown: (input: unknown) => Effect.Effect<void, ActorError.MessageDecodeError | ActorError.MailboxFull>
  }
}

let nextId = 1

/**
 * Starts an incarnation in the current scope (the entity activation's) and answers its
 * `enqueue`: the function the entity's RPC handlers hand each request to.
 */
export const start = Effect.fnUntraced(function*(config: Config) {
  const behavior = config.behavior
  const strategy = behavior.supervision ?? Supervision.defaultStrategy
  const timeoutMillis = behavior.timeout === undefined ? 0 : Duration.toMillis(Duration.fromInputUnsafe(behavior.timeout))
  const label = behavior.label ?? config.entityType
  const path = `/cluster/${config.entityType}/${config.entityId}`
  const actorName = `${config.entityType}/${config.entityId}`
  const stats = Stats.forType(config.entityType)
  const scope = yield* Effect.scope
  const context = yield* Effect.context<never>()
  const clock = yield* Clock.Clock
  const runFork = Effect.runForkWith(context)

  // ---- mailbox: a FIFO with a single taker (the incarnation's fiber) ----
  let queue: Array<Entry> = []
  let head = 0
  let wake: (() => void) | undefined
  const size = () => queue.length - head
  const push = (entry: Entry) => {
    queue.push(entry)
    const w = wake
    wake = undefined
    if (w !== undefined) w()
  }
  const unshift = (entry: Entry) => {
    if (head > 0) queue[--head] = entry
    else queue.unshift(entry)
    const w = wake
    wake = undefined
    if (w !== undefined) w()
  }
  const shift = (): Entry => {
    const entry = queue[head]!
    queue[head++] = undefined as never
    if (head > 1024 && head * 2 > queue.length) {
      queue = queue.slice(head)
      head = 0
    }
    return entry
  }
  const awaitEntry: Effect.Effect<void> = Effect.callback<void>((resume) => {
    if (size() > 0) return resume(Effect.void)
    wake = () => resume(Effect.void)
    return Effect.sync(() => {
      wake = undefined
    })
  })

  // ---- incarnation state ----
  let state: unknown = undefined
  let started = false
  let current: ReadonlyArray<Item> = []
  let restartTimes: Array<number> = []
  let backoffStep: ((input: unknown) => Effect.Effect<unknown, unknown>) | undefined
  let termination = yield* Deferred.make<Actor.StopReason>()
  const children = new Set<Actor.ActorRef<any>>()
  const watches = new Map<Actor.ActorRef<never>, Fiber.Fiber<void>>()

  const complete = (item: Item, exit: Exit.Exit<unknown, unknown>) => {
    const resume = item.resume
    item.resume = undefined
    if (resume !== undefined) resume(exit)
  }

  const deadLetter = (item: Item, reason: "HandlerFailed" | "Timeout" | "ActorStopped", detail: string | undefined) => {
    stats.deadLetters++
    if (item.reply !== undefined) {
      // The handler answered before it failed: the asker keeps that answer.
      complete(item, item.reply)
    } else if (reason === "ActorStopped") {
      complete(item, Exit.fail(new ActorError.ActorStopped({ actor: actorName, messageTag: tagOf(item.message) })))
    } else {
      complete(item, Exit.fail(new ActorError.HandlerFailed({ actor: actorName, messageTag: tagOf(item.message), reason: detail ?? reason })))
    }
    return Effect.logWarning(`dead letter: ${tagOf(item.message)} to ${path} (${reason}${detail !== undefined ? `: ${detail}` : ""})`)
  }

  const settle = (items: ReadonlyArray<Item>) => {
    for (const item of items) {
      stats.processed++
      if (item.reply !== undefined) complete(item, item.reply)
      else if (item.isRequest) {
        complete(item, Exit.die(new Error(`${path} handled the request ${tagOf(item.message)} without replying: call ctx.reply or ctx.fail`)))
      } else complete(item, Exit.void)
    }
  }

  const findCurrent = (request: unknown): Item | undefined => {
    for (const item of current) if (item.message === request) return item
    return undefined
  }

  const watch = (other: Actor.ActorRef<never>) => {
    if (watches.has(other)) return
    const fiber = runFork(
      Effect.flatMap(other.awaitTermination, (reason) =>
        Effect.sync(() => {
          watches.delete(other)
          push({ _tag: "Terminated", signal: { _tag: "Terminated", actor: other, reason } })
        }))
    )
    watches.set(other, fiber)
  }
  const unwatch = (other: Actor.ActorRef<never>) => {
    const fiber = watches.get(other)
    if (fiber === undefined) return
    watches.delete(other)
    fiber.interruptUnsafe()
  }

  const stopChildren = Effect.suspend(() => {
    const all = [...children]
    children.clear()
    for (const child of all) unwatch(child as Actor.ActorRef<never>)
    return Effect.forEach(all, (child) => child.stopNow, { discard: true, concurrency: "unbounded" })
  })

  const self: Actor.ActorRef<any> = {
    id: nextId++,
    name: config.entityId,
    path,
    tell: (message) => config.sendSelf.tell(message),
    tellUnsafe: (message) => {
      runFork(Effect.ignore(config.sendSelf.tell(message)))
      return true
    },
    ask: ((message: Message.Tagged, options?: Actor.AskOptions) => config.sendSelf.ask(message, options)) as any,
    tellUnknown: (input) => config.sendSelf.tellUnknown(input),
    stop: Effect.suspend(() => {
      push({ _tag: "Stop" })
      return Effect.asVoid(Deferred.await(termination))
    }),
    stopNow: Effect.suspend(() => {
      unshift({ _tag: "Stop" })
      return Effect.asVoid(Deferred.await(termination))
    }),
    get awaitTermination() {
      return Deferred.await(termination)
    },
    get isAlive() {
      return started
    }
  }

  const ctx: Actor.ActorContext<any> = {
    self,
    reply: (request, value) => {
      const item = findCurrent(request)
      if (item !== undefined && item.reply === undefined) item.reply = Exit.succeed(value)
    },
    fail: (request, error) => {
      const item = findCurrent(request)
      if (item !== undefined && item.reply === undefined) item.reply = Exit.fail(error)
    },
    spawn: (child, options) => {
      if (Option.isNone(config.system)) {
        return Effect.die(
          new Error(`ctx.spawn in sharded actor ${path} needs the runner's ActorSystem: provide ActorSystem.layer() to ShardedActor.layer`)
        )
      }
      return Effect.tap(config.system.value.spawn(child, options), (ref) =>
        Effect.sync(() => {
          children.add(ref)
          watch(ref as Actor.ActorRef<never>)
        }))
    },
    watch,
    unwatch
  }

  /** Runs a handler effect with the behavior's timeout and span; a throw is a defect. */
  const guard = (thunk: () => Effect.Effect<unknown, unknown, unknown>, spanTag: string) => {
    let effect: Effect.Effect<unknown, unknown, unknown>
    try {
      effect = thunk()
    } catch (defect) {
      effect = Effect.die(defect)
    }
    if (timeoutMillis > 0) {
      effect = Effect.timeoutOrElse(effect, {
        duration: timeoutMillis,
        orElse: () => Effect.fail(new HandlerTimeout(timeoutMillis))
      })
    }
    if (behavior.span === true) {
      effect = Effect.withSpan(effect, `${label}.${spanTag}`, { attributes: { "actor.path": path } })
    }
    return Effect.exit(effect as Effect.Effect<unknown, unknown>)
  }

  // ---- lifecycle ----

  /**
   * Starts an incarnation; false when it did not start. From the loop (`first`: the message
   * that starts it), an `initial()` that throws answers that message with the failure, and the
   * next message tries again.
   */
  const begin = (first: boolean): Effect.Effect<boolean> => Effect.suspend(() => {
    try {
      state = behavior.initial()
    } catch (defect) {
      return Effect.as(failStart(defect, first), false)
    }
    started = true
    const onStart = behavior.onStart
    if (onStart === undefined) return Effect.succeed(true)
    return Effect.flatMap(guard(() => onStart(state, ctx), "onStart"), (exit) => {
      if (Exit.isSuccess(exit)) {
        state = exit.value
        return Effect.succeed(true)
      }
      return Effect.map(failed(classify(exit.cause), []), () => started)
    })
  })

  const failStart = (defect: unknown, answerFirst: boolean): Effect.Effect<void> =>
    Effect.suspend(() => {
      stats.failures++
      const detail = `initial() failed: ${Supervision.describe({ _tag: "Defect", defect })}`
      const first = answerFirst && size() > 0 ? queue[head] : undefined
      if (first?._tag !== "Item") return Effect.logError(`${path}: ${detail}`)
      shift()
      return deadLetter(first, "HandlerFailed", detail)
    })

  /**
   * Ends the incarnation: the messages waiting at this moment are answered `ActorStopped`
   * (later ones start the next incarnation), then the children stop and `onStop` runs.
   */
  const end = (reason: Actor.StopReason): Effect.Effect<void> =>
    Effect.gen(function*() {
      if (!started) return
      started = false
      const waiting = queue.slice(head)
      queue = []
      head = 0
      for (const entry of waiting) {
        if (entry._tag === "Item") yield* deadLetter(entry, "ActorStopped", undefined)
      }
      yield* stopChildren
      const onStop = behavior.onStop
      if (onStop !== undefined) {
        yield* Effect.exit(Effect.suspend(() => onStop(state, ctx) as Effect.Effect<void>))
      }
      state = undefined
      restartTimes = []
      backoffStep = undefined
      yield* Deferred.succeed(termination, reason)
      termination = yield* Deferred.make<Actor.StopReason>()
    })

  /** Supervision of a failed handler (or hook); `items` are the messages it was handling. */
  const failed = (failure: Supervision.Failure, items: ReadonlyArray<Item>): Effect.Effect<void> =>
    Effect.gen(function*() {
      stats.failures++
      const detail = Supervision.describe(failure)
      const reason = failure._tag === "Timeout" ? "Timeout" : "HandlerFailed"
      let directive: Supervision.Directive
      try {
        directive = strategy(failure)
      } catch {
        directive = Supervision.stop
      }
      switch (directive._tag) {
        case "Resume":
          for (const item of items) yield* deadLetter(item, reason, detail)
          return
        case "Stop":
        case "Escalate":
          // A sharded actor has no parent: escalating stops it, like a top-level actor.
          for (const item of items) yield* deadLetter(item, reason, detail)
          return yield* end({ _tag: "Failed", detail })
        case "Restart": {
          const now = clock.currentTimeMillisUnsafe()
          restartTimes = restartTimes.filter((t) => t > now - directive.withinMillis)
          if (restartTimes.length === 0) backoffStep = undefined // a quiet window resets the backoff
          if (restartTimes.length >= directive.maxRestarts) {
            const gaveUp = `${detail} (gave up after ${directive.maxRestarts} restarts within ${directive.withinMillis} ms: the actor stopped)`
            for (const item of items) yield* deadLetter(item, reason, gaveUp)
            return yield* end({ _tag: "Failed", detail: gaveUp })
          }
          restartTimes.push(now)
          stats.restarts++
          const redeliver = directive.redeliver && items.length === 1 ? items[0] : undefined
          for (const item of items) {
            if (item !== redeliver) yield* deadLetter(item, reason, detail)
          }
          yield* stopChildren
          if (backoffStep === undefined) backoffStep = yield* Schedule.toStepWithSleep(directive.backoff)
          const step = yield* Effect.exit(backoffStep(undefined))
          if (Exit.isFailure(step)) {
            if (redeliver !== undefined) yield* deadLetter(redeliver, reason, detail)
            return yield* end({ _tag: "Failed", detail: `${detail} (restart gave up: backoff schedule ended)` })
          }
          started = false
          if (!(yield* begin(false))) {
            if (redeliver !== undefined) yield* deadLetter(redeliver, "ActorStopped", undefined)
            return
          }
          if (redeliver !== undefined) {
            redeliver.reply = undefined
            yield* handle([redeliver])
          }
          return
        }
      }
    })

  const handle = (items: ReadonlyArray<Item>): Effect.Effect<void> =>
    Effect.suspend(() => {
      current = items
      const run = behavior.batch !== undefined
        ? guard(() => behavior.batch!.receive(state, items.map((i) => i.message), ctx), "batch")
        : guard(() => behavior.receive!(state, items[0]!.message, ctx), tagOf(items[0]!.message))
      return Effect.flatMap(run, (exit) => {
        current = []
        if (Exit.isSuccess(exit)) {
          state = exit.value
          settle(items)
          return Effect.void
        }
        return failed(classify(exit.cause), items)
      })
    })

  const onTerminated = (signal: Actor.Terminated): Effect.Effect<void> =>
    Effect.suspend(() => {
      children.delete(signal.actor as Actor.ActorRef<any>)
      const hook = behavior.onTerminated
      if (hook === undefined || !started) return Effect.void
      return Effect.flatMap(guard(() => hook(state, signal, ctx), "terminated"), (exit) => {
        if (Exit.isSuccess(exit)) {
          state = exit.value
          return Effect.void
        }
        return failed(classify(exit.cause), [])
      })
    })

  const maxBatch = behavior.batch?.max ?? 1

  const loop = Effect.gen(function*() {
    while (true) {
      yield* awaitEntry
      const first = queue[head]!
      if (first._tag === "Stop") {
        shift()
        yield* end({ _tag: "Stopped" })
        continue
      }
      if (!started && !(yield* begin(true))) continue
      if (first._tag === "Terminated") {
        shift()
        yield* onTerminated(first.signal)
        continue
      }
      const items: Array<Item> = []
      while (items.length < maxBatch && size() > 0 && queue[head]!._tag === "Item") items.push(shift() as Item)
      yield* handle(items)
    }
  })

  // The loop must outlive any bug outside the behavior's own code (which `guard` already
  // contains): otherwise every caller of this entity would wait forever. Answer what was being
  // handled with the defect and start over with a fresh incarnation.
  const resilient: Effect.Effect<never> = Effect.catchCause(loop, (cause) => {
    if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
    const interrupted = current
    current = []
    started = false
    for (const item of interrupted) complete(item, Exit.die(Cause.squash(cause)))
    return Effect.andThen(
      Effect.logError(`sharded actor ${path} failed outside its handlers; starting a new incarnation`, cause),
      Effect.suspend(() => resilient)
    )
  })

  // Passivation or a rebalance closes the activation's scope: the incarnation ends like a
  // stop (children, `onStop`); what is still queued is left to the cluster (persisted
  // messages are delivered again to the next owner, volatile callers are interrupted).
  yield* Scope.addFinalizer(
    scope,
    Effect.suspend(() => {
      stats.active--
      queue = []
      head = 0
      if (!started) return Effect.void
      started = false
      return Effect.gen(function*() {
        yield* stopChildren
        const onStop = behavior.onStop
        if (onStop !== undefined) yield* Effect.exit(Effect.suspend(() => onStop(state, ctx) as Effect.Effect<void>))
        yield* Deferred.succeed(termination, { _tag: "Stopped" })
      })
    })
  )
  stats.active++
  yield* Effect.forkIn(resilient, scope)

  return {
    /** Hands a cluster request to the incarnation; the returned effect ends with its reply. */
    enqueue: (message: Message.Tagged): Effect.Effect<unknown, unknown> =>
      Effect.callback<unknown, unknown>((resume) => {
        const item: Item = {
          _tag: "Item",
          message,
          isRequest: config.isRequest(message._tag),
          resume: (exit) => resume(exit),
          reply: undefined
        }
        push(item)
        // The caller left: the message stays queued and is handled; its reply is dropped.
        return Effect.sync(() => {
          item.resume = undefined
        })
      })
  }
})
