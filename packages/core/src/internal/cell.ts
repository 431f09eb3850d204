/**
 * The actor cell: one object that is at once the actor's state holder, its `ActorRef` and the
 * `ActorContext` its handler receives. It owns a mailbox (allocated on first message) and
 * runs on the system's dispatcher only while it has work, so an idle actor is a plain object
 * with no fiber.
 *
 * Invariants:
 * - at most one message (or batch, or signal) is being handled at a time (`status === RUNNING`);
 * - user messages are handled in mailbox order; system messages overtake them;
 * - every message that is not handled is published as a dead letter exactly once, and the
 *   asker of a dead-lettered request is answered with a typed error;
 * - a sender that gives up (an ask timing out, a sender interrupted) before the handler took its
 *   message withdraws it: it is dead-lettered at once and skipped where it lies (mailbox or line
 *   of waiting senders), so it is never handled and no longer counts against the capacity;
 * - senders wait for room (`putters`) only while the mailbox is full, and stopping (or a graceful
 *   stop request) answers all of them at once.
 */
import { Cause, Clock, Context, Duration, Effect, Exit, Fiber, Schedule, Schema } from "effect"
import type * as Actor from "../Actor.js"
import { ActorStopped, AskTimeout, HandlerFailed, MailboxFull, MessageDecodeError, TooManyWaitingSenders } from "../ActorError.js"
import type * as DeadLetter from "../DeadLetter.js"
import * as Mailbox from "../Mailbox.js"
import type * as Message from "../Message.js"
import * as Supervision from "../Supervision.js"
import { Fifo } from "./fifo.js"
import type { SystemCore } from "./system.js"

/** Lifecycle states of a cell. */
export const IDLE = 0
export const SCHEDULED = 1
export const RUNNING = 2
export const SUSPENDED = 3
export const STOPPING = 4
export const STOPPED = 5

/** Where an ask envelope is (`AskEnvelope.where`). */
const LOOSE = 0 // not placed yet, or answered without being placed
const QUEUED = 1 // in the mailbox
const WAITING = 2 // in the line of senders waiting for room
const TAKEN = 3 // taken by the handler: it runs to its end even if the asker gives up
const WITHDRAWN = 4 // the asker gave up before the handler took it: skipped where it lies

/** A request waiting for its reply. */
export class AskEnvelope {
  /** The asker has its answer, or gave up: nothing more is sent to it. */
  done = false
  /** Answered by its handler (`ctx.reply`/`ctx.fail`): never dead-lettered or redelivered afterwards. */
  replied = false
  where = LOOSE
  timer: Fiber.Fiber<unknown, unknown> | undefined = undefined
  readonly message: Message.Tagged
  readonly resume: (exit: Exit.Exit<any, any>) => void
  constructor(message: Message.Tagged, resume: (exit: Exit.Exit<any, any>) => void) {
    this.message = message
    this.resume = resume
  }
  succeed(value: unknown): void {
    if (this.done) return
    this.done = true
    if (this.timer !== undefined) this.timer.interruptUnsafe()
    this.resume(Exit.succeed(value))
  }
  fail(error: unknown): void {
    if (this.done) return
    this.done = true
    if (this.timer !== undefined) this.timer.interruptUnsafe()
    this.resume(Exit.fail(error))
  }
  die(defect: unknown): void {
    if (this.done) return
    this.done = true
    if (this.timer !== undefined) this.timer.interruptUnsafe()
    this.resume(Exit.die(defect))
  }
}

/** A `tell` waiting for room in a bounded `suspend` mailbox (a waiting ask waits as its envelope). */
class Putter {
  readonly item: unknown
  readonly resume: (exit: Exit.Exit<void, TooManyWaitingSenders>) => void
  constructor(item: unknown, resume: (exit: Exit.Exit<void, TooManyWaitingSenders>) => void) {
    this.item = item
    this.resume = resume
  }
  /** The sender was interrupted: skipped when the line moves (already dead-lettered). */
  withdrawn = false
}

/** Marks the point of a graceful stop in the user queue. */
const POISON = { _tag: "PoisonPill" } as const
/** `current` while a signal (terminated, child failure) is being handled. */
const SIGNAL = { _tag: "Signal" } as const
/** What `take` answers for a withdrawn request it skipped. */
const SKIPPED = { _tag: "Skipped" } as const

/** A handler ran past its per-message timeout. */
export class HandlerTimeout {
  readonly _tag = "HandlerTimeout"
  readonly millis: number
  constructor(millis: number) {
    this.millis = millis
  }
}

type SystemMessage =
  | { readonly _tag: "Stop" }
  | { readonly _tag: "Watch"; readonly watcher: Cell }
  | { readonly _tag: "Unwatch"; readonly watcher: Cell }
  | { readonly _tag: "Terminated"; readonly signal: Actor.Terminated }
  | { readonly _tag: "ChildFailed"; readonly child: Cell; readonly failure: Supervision.Failure }

const STOP_NOW: SystemMessage = { _tag: "Stop" }
const STOPPED_NORMALLY: Actor.StopReason = { _tag: "Stopped" }

const tagOf = (item: unknown): string => {
  const m = item instanceof AskEnvelope ? item.message : item
  return typeof m === "object" && m !== null && typeof (m as { _tag?: unknown })._tag === "string"
    ? (m as { _tag: string })._tag
    : typeof m
}

/** The compiled, shared part of a behavior: computed once per behavior object. */
export interface Compiled {
  readonly behavior: Actor.Behavior<any, any, any, any>
  readonly receive: ((state: any, message: any, ctx: any) => Effect.Effect<any, any, any>) | undefined
  readonly batchMax: number
  /** Whether an idle actor may handle a message on the sender's stack (not in batch mode). */
  readonly inline: boolean
  readonly capacity: number
  readonly strategy: "suspend" | "dropNewest" | "dropOldest" | "fail" | undefined
  /** `suspend`: how many senders may wait for room at once. */
  readonly maxWaiting: number
  readonly timeoutMillis: number
  readonly span: boolean
  readonly strategyFn: Supervision.Strategy
  readonly label: string
}

const compiledCache = new WeakMap<object, Compiled>()

export const compile = (behavior: Actor.Behavior<any, any, any, any>): Compiled => {
  let c = compiledCache.get(behavior)
  if (c === undefined) {
    const mailbox = behavior.mailbox
    // `Mailbox.bounded` already checked it; a hand-built configuration is checked here (a defect at spawn).
    const problem = mailbox === undefined ? undefined : Mailbox.check(mailbox)
    if (problem !== undefined) throw problem
    c = {
      behavior,
      receive: behavior.receive,
      batchMax: behavior.batch?.max ?? 0,
      inline: behavior.batch === undefined,
      capacity: mailbox?._tag === "Bounded" ? mailbox.capacity : Number.POSITIVE_INFINITY,
      strategy: mailbox?._tag === "Bounded" ? mailbox.strategy : undefined,
      maxWaiting: mailbox?._tag === "Bounded" ? mailbox.maxWaitingSenders ?? Mailbox.defaultMaxWaitingSenders : 0,
      span: behavior.span === true,
      timeoutMillis: behavior.timeout === undefined ? 0 : Duration.toMillis(Duration.fromInputUnsafe(behavior.timeout)),
      strategyFn: behavior.supervision ?? Supervision.defaultStrategy,
      label: behavior.label ?? "actor"
    }
    compiledCache.set(behavior, c)
  }
  return c
}

export class Cell implements Actor.ActorRef<any>, Actor.ActorContext<any> {
  status = IDLE
  state: unknown
  queue: Fifo<unknown> | undefined = undefined
  current: unknown = undefined
  /** Siblings form an intrusive doubly linked list: spawning allocates nothing else. */
  prevSibling: Cell | undefined = undefined
  nextSibling: Cell | undefined = undefined
  /**
   * Everything an idle actor does not need (system queue, running fiber, children,
   * watchers, waiting senders, restart and stop bookkeeping) lives here, allocated on first
   * use, so that an idle actor stays small.
   */
  extra: Extra | undefined = undefined

  x(): Extra {
    return (this.extra ??= new Extra())
  }

  readonly id: number
  readonly name: string | undefined
  readonly parent: Cell | undefined
  readonly core: SystemCore
  readonly compiled: Compiled
  readonly context: Context.Context<any>

  constructor(
    id: number,
    name: string | undefined,
    parent: Cell | undefined,
    core: SystemCore,
    compiled: Compiled,
    context: Context.Context<any>
  ) {
    this.id = id
    this.name = name
    this.parent = parent
    this.core = core
    this.compiled = compiled
    this.context = context
    this.state = compiled.behavior.initial()
  }

  // ---------------------------------------------------------------- ActorRef

  get self(): Actor.ActorRef<any> {
    return this
  }

  get path(): string {
    const own = this.name ?? `#${this.id}`
    return this.parent === undefined ? `/user/${own}` : `${this.parent.path}/${own}`
  }

  get isAlive(): boolean {
    return this.status < STOPPING
  }

  tellUnsafe(message: unknown): boolean {
    return this.offer(message) === OFFERED
  }

  tell(message: unknown): Effect.Effect<void, Actor.TellError> {
    // An unbounded mailbox never refuses or suspends: one synchronous step is enough.
    if (this.compiled.strategy === undefined) return Effect.sync(() => void this.offer(message))
    return Effect.suspend((): Effect.Effect<void, Actor.TellError> => {
      const r = this.offer(message)
      if (r === OFFERED || r === DROPPED) return Effect.void
      if (r === FULL_FAIL) return Effect.fail(this.mailboxFull(message))
      return this.waitForRoom(message)
    })
  }

  /** A `tell` on a full `suspend` mailbox: joins the line of waiting senders, if it is not too long. */
  private waitForRoom(message: unknown): Effect.Effect<void, TooManyWaitingSenders> {
    return Effect.callback<void, TooManyWaitingSenders>((resume) => {
      // The fiber may have yielded since the first offer: the mailbox may have room now.
      const r = this.offer(message)
      if (r !== FULL_SUSPEND) {
        resume(Exit.void) // offered, or dead-lettered (a `suspend` mailbox never answers FULL_FAIL)
        return
      }
      const extra = this.x()
      if (extra.waiting >= this.compiled.maxWaiting) {
        resume(Exit.fail(this.tooManyWaiting(message)))
        return
      }
      const putter = new Putter(message, resume)
      ;(extra.putters ??= new Fifo()).push(putter)
      extra.waiting++
      // Interrupted while waiting (e.g. its scope closed): the message leaves the line.
      return Effect.sync(() => this.withdraw(putter, "SenderInterrupted", "the sender was interrupted while waiting for room"))
    })
  }

  tellUnknown(input: unknown): Effect.Effect<void, MessageDecodeError | Actor.TellError> {
    return Schema.decodeUnknownEffect(this.compiled.behavior.protocol)(input).pipe(
      Effect.mapError((e) => new MessageDecodeError({ actor: this.path, issue: e.message })),
      Effect.flatMap((message) => this.tell(message))
    ) as Effect.Effect<void, MessageDecodeError | Actor.TellError>
  }

  ask(message: any, options?: Actor.AskOptions): Effect.Effect<any, any> {
    const timeoutMillis = options?.timeout === undefined
      ? this.core.askTimeoutMillis
      : Duration.toMillis(Duration.fromInputUnsafe(options.timeout))
    // One parameter only: a two-parameter register makes Effect allocate an AbortController.
    return Effect.callback<any, any>((resume) => {
      const env = new AskEnvelope(message, resume)
      this.offerAsk(env)
      if (env.done) return undefined
      if (timeoutMillis > 0 && Number.isFinite(timeoutMillis)) {
        const timer = Effect.runForkWith(this.context)(Effect.sleep(timeoutMillis))
        env.timer = timer
        timer.addObserver((exit) => {
          if (Exit.isSuccess(exit) && !env.done) {
            // Withdrawn (and dead-lettered) before the asker resumes, so that it can rely on it.
            this.withdraw(env, "AskTimeout", `the asker gave up after ${timeoutMillis} ms, before the handler started it`)
            env.fail(new AskTimeout({ actor: this.path, messageTag: tagOf(message), timeoutMillis }))
          }
        })
      }
      return Effect.sync(() => {
        // The asker was interrupted (e.g. its scope closed): a request not started yet is withdrawn.
        if (env.done) return
        env.done = true
        if (env.timer !== undefined) env.timer.interruptUnsafe()
        this.withdraw(env, "SenderInterrupted", "the asker was interrupted before the handler started it")
      })
    })
  }

  get stop(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.requestStop(false)
      return Effect.asVoid(this.awaitTermination)
    })
  }

  get stopNow(): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.requestStop(true)
      return Effect.asVoid(this.awaitTermination)
    })
  }

  get awaitTermination(): Effect.Effect<Actor.StopReason> {
    return Effect.callback<Actor.StopReason>((resume) => {
      if (this.status === STOPPED) {
        resume(Exit.succeed(this.extra?.stopReason ?? STOPPED_NORMALLY))
        return
      }
      const extra = (this.extra ??= new Extra())
      const waiter = (reason: Actor.StopReason) => resume(Exit.succeed(reason))
      ;(extra.stopWaiters ??= []).push(waiter)
      return Effect.sync(() => {
        const i = extra.stopWaiters?.indexOf(waiter) ?? -1
        if (i >= 0) extra.stopWaiters!.splice(i, 1)
      })
    })
  }

  /** Runs the `onStart` hook, if any, before the first message. */
  start(): void {
    const onStart = this.compiled.behavior.onStart
    if (onStart === undefined) return
    this.status = RUNNING
    this.current = SIGNAL
    let result: unknown
    try {
      result = onStart(this.state, this)
    } catch (defect) {
      result = Exit.die(defect)
    }
    if (this.settle(result)) this.drain()
  }

  // ---------------------------------------------------------------- ActorContext

  reply(request: unknown, value: unknown): void {
    const env = this.envelopeOf(request)
    if (env === undefined || env.done) return
    env.replied = true
    env.succeed(value)
  }

  fail(request: unknown, error: unknown): void {
    const env = this.envelopeOf(request)
    if (env === undefined || env.done) return
    env.replied = true
    env.fail(error)
  }

  spawn(behavior: Actor.Behavior<any, any, any, any>, options?: Actor.SpawnOptions): Effect.Effect<any, any, any> {
    return Effect.contextWith((context: Context.Context<any>) => {
      const r = this.core.spawnCell(behavior, options?.name, this, context)
      return r instanceof Cell ? Effect.succeed(r) : Effect.fail(r)
    })
  }

  watch(other: Actor.ActorRef<never>): void {
    const target = other as unknown as Cell
    if (target === this) return
    if (target.status === STOPPED) {
      this.sendSystem({ _tag: "Terminated", signal: target.terminatedSignal() })
      return
    }
    // Remembered so that this actor, when it terminates, leaves the target's watchers.
    ;(this.x().watching ??= new Set()).add(target)
    target.sendSystem({ _tag: "Watch", watcher: this })
  }

  unwatch(other: Actor.ActorRef<never>): void {
    const target = other as unknown as Cell
    this.extra?.watching?.delete(target)
    target.sendSystem({ _tag: "Unwatch", watcher: this })
  }

  /** A watcher that has already terminated is not kept: it would only be told about nothing. */
  private addWatcher(watcher: Cell): void {
    if (watcher.status === STOPPED) return
    ;(this.x().watchers ??= new Set()).add(watcher)
  }

  // ---------------------------------------------------------------- mailbox

  private mailboxFull(message: unknown): MailboxFull {
    return new MailboxFull({ actor: this.path, messageTag: tagOf(message), capacity: this.compiled.capacity })
  }

  private tooManyWaiting(message: unknown): TooManyWaitingSenders {
    return new TooManyWaitingSenders({
      actor: this.path,
      messageTag: tagOf(message),
      capacity: this.compiled.capacity,
      maxWaitingSenders: this.compiled.maxWaiting
    })
  }

  /** Enqueues a user message (or ask envelope), applying the overflow strategy. */
  offer(item: unknown): number {
    const status = this.status
    // IDLE implies an empty mailbox and no pending system message (both schedule the actor).
    if (status === IDLE && this.compiled.inline && this.core.inlineDepth < MAX_INLINE_DEPTH) {
      this.runInline(item)
      return OFFERED
    }
    // Stopping, or a graceful stop is queued: messages sent from now on are "later ones".
    if (status >= STOPPING || (this.extra !== undefined && this.extra.draining)) {
      this.deadLetter(item, "ActorStopped")
      return DROPPED
    }
    let q = this.queue
    if (q === undefined) q = this.queue = new Fifo()
    else if (q.size >= this.compiled.capacity && q.size - withdrawnIn(this) >= this.compiled.capacity) {
      switch (this.compiled.strategy) {
        case "dropNewest":
          this.deadLetter(item, "MailboxFull")
          return DROPPED
        case "dropOldest": {
          const oldest = this.shiftLive(q)
          this.core.depth--
          this.deadLetter(oldest, "DroppedOldest")
          break
        }
        case "fail":
          return FULL_FAIL
        default:
          return FULL_SUSPEND
      }
    }
    q.push(item)
    this.core.depth++
    if (status === IDLE) {
      this.status = SCHEDULED
      this.core.ready(this)
    }
    return OFFERED
  }

  /** The oldest item of the mailbox that was not withdrawn (dropping the withdrawn ones before it). */
  private shiftLive(q: Fifo<unknown>): unknown {
    for (;;) {
      const item = q.shift()
      if (!(item instanceof AskEnvelope && item.where === WITHDRAWN)) return item
      this.extra!.withdrawn--
    }
  }

  /**
   * An idle actor with an empty mailbox handles the message right away, on the sender's
   * stack: the outcome is the same as enqueueing and draining at once (the mailbox is empty,
   * so order is kept, and RUNNING keeps one message at a time), without a queue or a
   * dispatcher turn. Nesting is bounded, so chains of actors fall back to the dispatcher.
   * System messages are only ever pending while the actor is not IDLE.
   */
  private runInline(item: unknown): void {
    const core = this.core
    core.inlineDepth++
    this.status = RUNNING
    this.current = item
    let message = item
    if (item instanceof AskEnvelope) {
      item.where = TAKEN
      message = item.message
    }
    try {
      if (this.handleOne(message)) {
        const q = this.queue
        if ((q !== undefined && q.size > 0) || hasSystem(this)) {
          this.status = SCHEDULED
          core.ready(this)
        } else {
          this.status = IDLE
        }
      }
    } finally {
      core.inlineDepth--
    }
  }

  private offerAsk(env: AskEnvelope): void {
    const r = this.offer(env)
    if (r === OFFERED) {
      if (env.where === LOOSE) env.where = QUEUED // not taken inline
    } else if (r === FULL_FAIL) {
      env.fail(this.mailboxFull(env.message))
    } else if (r === FULL_SUSPEND) {
      const extra = this.x()
      if (extra.waiting >= this.compiled.maxWaiting) {
        env.fail(this.tooManyWaiting(env.message))
        return
      }
      env.where = WAITING
      ;(extra.putters ??= new Fifo()).push(env)
      extra.waiting++
    }
  }

  /** Takes the next user item, letting suspended senders in; `SKIPPED` for a withdrawn request. */
  private take(): unknown {
    const item = this.queue!.shift()
    if (item instanceof AskEnvelope) {
      // Already dead-lettered and out of the depth; its room went to a waiting sender then.
      if (item.where === WITHDRAWN) {
        this.extra!.withdrawn--
        return SKIPPED
      }
      item.where = TAKEN
    }
    this.core.depth--
    const extra = this.extra
    if (extra !== undefined && extra.waiting > 0) this.admitWaiting()
    return item
  }

  /** Moves waiting senders into the mailbox while it has room, oldest first. */
  private admitWaiting(): void {
    const extra = this.extra!
    const capacity = this.compiled.capacity
    const q = (this.queue ??= new Fifo())
    // Resuming a sender runs it on this stack, and it may send again: re-read everything each turn.
    while (extra.waiting > 0 && extra.putters !== undefined && q.size - extra.withdrawn < capacity) {
      const p = extra.putters.shift()!
      if (p instanceof AskEnvelope) {
        if (p.where === WITHDRAWN) continue
        p.where = QUEUED
        q.push(p)
        extra.waiting--
        this.core.depth++
      } else {
        if (p.withdrawn) continue
        q.push(p.item)
        extra.waiting--
        this.core.depth++
        p.resume(Exit.void)
      }
    }
    if (extra.waiting === 0) extra.putters = undefined
  }

  /**
   * A sender gave up before the handler took its message: the message leaves the mailbox (or
   * the line of waiting senders) and is dead-lettered now. A request the handler already took
   * runs to its end (its reply goes nowhere); one already answered is left alone.
   */
  private withdraw(entry: AskEnvelope | Putter, reason: DeadLetter.Reason, detail: string): void {
    const extra = this.extra
    let message: unknown
    if (entry instanceof AskEnvelope) {
      if (entry.where === QUEUED) {
        entry.where = WITHDRAWN
        this.x().withdrawn++
        this.core.depth--
        // Its room goes to the next waiting sender.
        if (this.extra!.waiting > 0) this.admitWaiting()
      } else if (entry.where === WAITING) {
        entry.where = WITHDRAWN
        this.leaveLine(extra!)
      } else {
        return
      }
      message = entry.message
    } else {
      if (entry.withdrawn) return
      entry.withdrawn = true
      this.leaveLine(extra!)
      message = entry.item
    }
    this.core.publishDeadLetter({ recipient: this.path, message, reason, detail })
  }

  private leaveLine(extra: Extra): void {
    // Withdrawn entries stay in the line until it moves; a line with nobody left is dropped whole.
    if (--extra.waiting === 0) extra.putters = undefined
  }

  /**
   * The actor stops (or a graceful stop is queued, for `onlyWaiting`): every sender waiting for
   * room, and every message still in the mailbox, is dead-lettered now and its sender answered,
   * without waiting for children or `onStop`.
   */
  private release(onlyWaiting: boolean): void {
    const extra = this.extra
    let rest: Array<unknown> | undefined
    const q = this.queue
    if (!onlyWaiting && q !== undefined && q.size > 0) {
      rest = q.drain()
      this.core.depth -= rest.length - (extra?.withdrawn ?? 0)
      if (extra !== undefined) extra.withdrawn = 0
    }
    const line = extra?.putters
    if (line !== undefined) {
      extra!.putters = undefined
      extra!.waiting = 0
    }
    // Answering a sender runs it on this stack: the structures above are settled first.
    if (rest !== undefined) {
      for (const item of rest) {
        if (!(item instanceof AskEnvelope && item.where === WITHDRAWN)) this.deadLetter(item, "ActorStopped")
      }
    }
    if (line !== undefined) {
      for (const p of line.drain()) {
        if (p instanceof AskEnvelope) {
          if (p.where !== WITHDRAWN) this.deadLetter(p, "ActorStopped")
        } else if (!p.withdrawn) {
          this.deadLetter(p.item, "ActorStopped")
          p.resume(Exit.void) // like a tell to a stopped actor: dead-lettered, not refused
        }
      }
    }
  }

  sendSystem(message: SystemMessage): void {
    if (this.status === STOPPED) {
      if (message._tag === "Watch") {
        message.watcher.sendSystem({ _tag: "Terminated", signal: this.terminatedSignal() })
      }
      return
    }
    if (this.status === STOPPING) {
      // Nothing is processed any more; watchers still must hear about the termination.
      if (message._tag === "Watch") this.addWatcher(message.watcher)
      else if (message._tag === "Unwatch") this.extra?.watchers?.delete(message.watcher)
      return
    }
    const extra = this.x()
    ;(extra.sys ??= new Fifo()).push(message)
    if (this.status === IDLE) {
      this.status = SCHEDULED
      this.core.ready(this)
    } else if (message._tag === "Stop") {
      // Overtake whatever is running: interrupt a handler or a restart backoff in flight.
      if (extra.fiber !== undefined) extra.fiber.interruptUnsafe()
    }
  }

  requestStop(immediate: boolean): void {
    if (this.status >= STOPPING) return
    if (immediate) {
      this.sendSystem(STOP_NOW)
      return
    }
    const extra = this.x()
    if (extra.draining) return
    extra.draining = true
    ;(this.queue ??= new Fifo()).push(POISON)
    this.core.depth++
    // Senders still waiting for room would come after the stop point: they are answered now.
    this.release(true)
    if (this.status === IDLE) {
      this.status = SCHEDULED
      this.core.ready(this)
    }
  }

  /**
   * The last resort of a system shutdown past its time limit: stop at once, interrupt an
   * `onStop` in flight and skip those not started (here and in every descendant).
   */
  force(): void {
    if (this.status === STOPPED) return
    this.x().forced = true
    if (hasChildren(this)) for (const child of this.childList()) child.force()
    if (this.status < STOPPING) this.requestStop(true)
    else this.extra?.fiber?.interruptUnsafe()
  }

  // ---------------------------------------------------------------- processing

  /** Runs on the dispatcher (or after an async handler completed). */
  drain(): void {
    this.status = RUNNING
    let budget = this.core.throughput
    const batchMax = this.compiled.batchMax
    for (;;) {
      const sys = this.extra?.sys
      if (sys !== undefined && sys.size > 0) {
        if (!this.handleSystem(sys.shift()!)) return
        if (this.status !== RUNNING) return
        continue
      }
      const q = this.queue
      if (q === undefined || q.size === 0) {
        this.status = IDLE
        return
      }
      if (budget <= 0) {
        this.status = SCHEDULED
        this.core.ready(this)
        return
      }
      if (batchMax > 0) {
        const items: Array<unknown> = []
        const messages: Array<unknown> = []
        while (items.length < batchMax && q.size > 0) {
          const item = this.take()
          if (item === SKIPPED) continue
          if (item === POISON) {
            if (items.length === 0) {
              this.beginStop(STOPPED_NORMALLY)
              return
            }
            // Handle the batch first, then stop.
            q.unshift(POISON)
            this.core.depth++
            break
          }
          items.push(item)
          messages.push(item instanceof AskEnvelope ? item.message : item)
        }
        if (items.length === 0) continue // only withdrawn requests were left
        budget -= items.length
        this.current = items
        let result: unknown
        try {
          result = this.compiled.behavior.batch!.receive(this.state, messages, this)
        } catch (defect) {
          result = Exit.die(defect)
        }
        if (!this.settle(result)) return
        continue
      }
      budget--
      const item = this.take()
      if (item === SKIPPED) continue
      if (item === POISON) {
        this.beginStop(STOPPED_NORMALLY)
        return
      }
      this.current = item
      if (!this.handleOne(item instanceof AskEnvelope ? item.message : item)) return
    }
  }

  /** Calls the handler on one message; true when processing can go on synchronously. */
  private handleOne(message: unknown): boolean {
    let result: unknown
    try {
      result = this.compiled.receive!(this.state, message, this)
    } catch (defect) {
      result = Exit.die(defect)
    }
    // Fast path: `Effect.succeed(next)` is an Exit.Success; recognised by its prototype (a
    // single map check) rather than a property probe.
    if (result !== null && typeof result === "object" && Object.getPrototypeOf(result) === SUCCESS_PROTO) {
      this.state = (result as Exit.Success<unknown>).value
      this.core.processed++
      const current = this.current
      this.current = undefined
      if (current instanceof AskEnvelope && !current.done) current.die(this.noReply(current.message))
      return true
    }
    return this.settle(result)
  }

  /**
   * Completes a handler result. An `Exit` (what `Effect.succeed` returns) completes at once;
   * anything else runs on a fiber, and when that fiber finishes synchronously it still
   * completes here. Returns true when the caller may go on with the next message.
   */
  private settle(result: unknown): boolean {
    if (Exit.isExit(result)) return this.complete(result)
    let effect = result as Effect.Effect<unknown, unknown, unknown>
    const timeoutMillis = this.compiled.timeoutMillis
    if (timeoutMillis > 0) {
      effect = Effect.timeoutOrElse(effect, {
        duration: timeoutMillis,
        orElse: () => Effect.fail(new HandlerTimeout(timeoutMillis))
      })
    }
    if (this.compiled.span) {
      const current = this.current
      const tag = current === SIGNAL ? "signal" : Array.isArray(current) ? "batch" : tagOf(current)
      effect = Effect.withSpan(effect, `${this.compiled.label}.${tag}`, { attributes: { "actor.path": this.path } })
    }
    const started = this.core.metricsSample() ? performance.now() : -1
    const fiber = Effect.runForkWith(this.context)(effect)
    const exit = fiber.pollUnsafe()
    if (exit !== undefined) {
      if (started >= 0) this.core.recordProcessing(performance.now() - started)
      return this.complete(exit)
    }
    const extra = this.x()
    extra.fiber = fiber
    fiber.addObserver((exit) => {
      extra.fiber = undefined
      if (started >= 0) this.core.recordProcessing(performance.now() - started)
      if (this.complete(exit)) this.drain()
    })
    return false
  }

  /** Applies a handler's exit. True when processing may continue. */
  private complete(exit: Exit.Exit<unknown, unknown>): boolean {
    const current = this.current
    this.current = undefined
    if (Exit.isSuccess(exit)) {
      this.state = exit.value
      if (current === SIGNAL) return true
      this.core.processed++
      if (current instanceof AskEnvelope) {
        if (!current.done) current.die(this.noReply(current.message))
      } else if (Array.isArray(current)) {
        this.core.processed += current.length - 1
        for (const item of current) {
          if (item instanceof AskEnvelope && !item.done) item.die(this.noReply(item.message))
        }
      }
      return true
    }
    const cause = exit.cause
    if (Cause.hasInterruptsOnly(cause)) {
      // Interrupted by an immediate stop (or by the system closing): the message was not
      // handled; the stop signal waiting in `sys` takes over.
      this.deadLetterCurrent(current, "ActorStopped", undefined)
      if (!hasSystem(this)) (this.x().sys ??= new Fifo()).push(STOP_NOW)
      return true
    }
    return this.failed(classify(cause), current)
  }

  private noReply(message: Message.Tagged): Error {
    return new Error(`${this.path} handled the request ${message._tag} without replying: call ctx.reply or ctx.fail`)
  }

  /** Supervision. True when processing may continue synchronously. */
  private failed(failure: Supervision.Failure, current: unknown): boolean {
    this.core.failures++
    const detail = Supervision.describe(failure)
    let directive: Supervision.Directive
    try {
      directive = this.compiled.strategyFn(failure)
    } catch {
      directive = Supervision.stop
    }
    const reason: DeadLetter.Reason = failure._tag === "Timeout" ? "Timeout" : "HandlerFailed"
    switch (directive._tag) {
      case "Resume":
        this.deadLetterCurrent(current, reason, detail)
        return true
      case "Stop":
        this.deadLetterCurrent(current, reason, detail)
        this.beginStop({ _tag: "Failed", detail })
        return false
      case "Escalate": {
        this.deadLetterCurrent(current, reason, detail)
        this.beginStop({ _tag: "Failed", detail })
        if (this.parent !== undefined) this.parent.sendSystem({ _tag: "ChildFailed", child: this, failure })
        return false
      }
      case "Restart":
        return this.restart(directive, current, reason, detail)
    }
  }

  private restart(directive: Supervision.Restart, current: unknown, reason: DeadLetter.Reason, detail: string): boolean {
    const extra = (this.extra ??= new Extra())
    const now = Context.get(this.context, Clock.Clock).currentTimeMillisUnsafe()
    const times = (extra.restartTimes ??= [])
    while (times.length > 0 && times[0]! <= now - directive.withinMillis) times.shift()
    if (times.length === 0) extra.backoffStep = undefined // a quiet period resets the backoff
    if (times.length >= directive.maxRestarts) {
      this.deadLetterCurrent(current, reason, detail)
      this.beginStop({
        _tag: "Failed",
        detail: `${detail} (gave up after ${directive.maxRestarts} restarts within ${directive.withinMillis} ms)`
      })
      return false
    }
    times.push(now)
    this.core.restarts++
    // A request whose asker gave up while it was handled is not handed to the next incarnation.
    if (
      directive.redeliver && current !== undefined && current !== SIGNAL && !Array.isArray(current) &&
      current !== POISON && !(current instanceof AskEnvelope && current.done)
    ) {
      if (current instanceof AskEnvelope) current.where = QUEUED
      ;(this.queue ??= new Fifo()).unshift(current)
      this.core.depth++
    } else {
      this.deadLetterCurrent(current, reason, detail)
    }
    // Children belong to the old incarnation.
    if (hasChildren(this)) for (const child of this.childList()) child.requestStop(true)
    this.status = SUSPENDED
    const self = this
    const restartEffect = Effect.gen(function*() {
      if (extra.backoffStep === undefined) extra.backoffStep = yield* Schedule.toStepWithSleep(directive.backoff)
      yield* extra.backoffStep(undefined)
      self.state = self.compiled.behavior.initial()
      const onStart = self.compiled.behavior.onStart
      if (onStart !== undefined) self.state = yield* onStart(self.state, self)
    })
    const fiber = Effect.runForkWith(this.context)(restartEffect as Effect.Effect<void, unknown, unknown>)
    const onDone = (exit: Exit.Exit<void, unknown>) => {
      extra.fiber = undefined
      if (Exit.isSuccess(exit)) {
        this.drain()
      } else if (Cause.hasInterruptsOnly(exit.cause)) {
        this.status = RUNNING
        this.drain()
      } else {
        // The backoff schedule is exhausted, or onStart failed: give up.
        this.status = RUNNING
        this.beginStop({ _tag: "Failed", detail: `${detail} (restart gave up: ${Cause.pretty(exit.cause).split("\n")[0]})` })
      }
    }
    const exit = fiber.pollUnsafe()
    if (exit !== undefined) {
      onDone(exit)
    } else {
      extra.fiber = fiber
      fiber.addObserver(onDone)
    }
    return false
  }

  /** Handles a system message. False when processing must not continue synchronously. */
  private handleSystem(message: SystemMessage): boolean {
    switch (message._tag) {
      case "Stop":
        this.beginStop(STOPPED_NORMALLY)
        return false
      case "Watch":
        this.addWatcher(message.watcher)
        return true
      case "Unwatch":
        this.extra?.watchers?.delete(message.watcher)
        return true
      case "Terminated": {
        const hook = this.compiled.behavior.onTerminated
        if (hook === undefined) return true
        this.current = SIGNAL
        let result: unknown
        try {
          result = hook(this.state, message.signal, this)
        } catch (defect) {
          result = Exit.die(defect)
        }
        return this.settle(result)
      }
      case "ChildFailed":
        // Escalation: the child's failure is this actor's failure.
        return this.failed(message.failure, undefined)
    }
  }

  // ---------------------------------------------------------------- stopping

  beginStop(reason: Actor.StopReason): void {
    if (this.status >= STOPPING) return
    this.status = STOPPING
    ;(this.extra ??= new Extra()).stopReason = reason
    // Nothing more will be handled: waiting senders and queued messages are answered now, not
    // after the children and `onStop`.
    this.release(false)
    if (hasChildren(this)) {
      for (const child of this.childList()) child.requestStop(true)
      if (hasChildren(this)) return // finishStop runs when the last child has terminated
    }
    this.finishStop()
  }

  private finishStop(): void {
    const onStop = this.compiled.behavior.onStop
    if (onStop === undefined || this.extra?.forced === true) {
      this.terminate()
      return
    }
    let result: unknown
    try {
      result = onStop(this.state, this)
    } catch (defect) {
      result = Exit.die(defect)
    }
    if (Exit.isExit(result)) {
      this.terminate()
      return
    }
    const fiber = Effect.runForkWith(this.context)(result as Effect.Effect<void>)
    const exit = fiber.pollUnsafe()
    if (exit !== undefined) {
      this.terminate()
      return
    }
    // Kept so that a forced stop (a system shutdown past its time limit) can interrupt it.
    const extra = this.x()
    extra.fiber = fiber
    fiber.addObserver(() => {
      extra.fiber = undefined
      this.terminate()
    })
  }

  private terminate(): void {
    this.status = STOPPED
    const reason = this.extra?.stopReason ?? STOPPED_NORMALLY
    // Normally empty since beginStop; anything still waiting goes to dead letters.
    this.release(false)
    const extra = this.extra
    if (extra !== undefined) extra.sys = undefined
    // Leave the watchers of the actors this one watched.
    const watching = extra?.watching
    if (watching !== undefined) {
      extra!.watching = undefined
      for (const target of watching) target.extra?.watchers?.delete(this)
    }
    this.core.unregister(this)
    if (this.parent !== undefined) this.parent.childTerminated(this)
    const signal = this.terminatedSignal()
    const watchers = extra?.watchers
    if (watchers !== undefined) {
      extra!.watchers = undefined
      for (const w of watchers) {
        w.extra?.watching?.delete(this)
        w.sendSystem({ _tag: "Terminated", signal })
      }
    }
    const waiters = this.extra?.stopWaiters
    if (waiters !== undefined) {
      this.extra!.stopWaiters = undefined
      for (const w of waiters) w(reason)
    }
  }

  childTerminated(child: Cell): void {
    if (this.status === STOPPING) {
      if (!hasChildren(this)) this.finishStop()
      return
    }
    // Parents hear about their children's termination like watchers do.
    if (this.compiled.behavior.onTerminated !== undefined) {
      this.sendSystem({ _tag: "Terminated", signal: child.terminatedSignal() })
    }
  }

  /** A copy of the children list (stopping a child unlinks it). */
  childList(): Array<Cell> {
    const out: Array<Cell> = []
    for (let c = this.extra?.firstChild; c !== undefined; c = c.nextSibling) out.push(c)
    return out
  }

  terminatedSignal(): Actor.Terminated {
    return { _tag: "Terminated", actor: this as Actor.ActorRef<never>, reason: this.extra?.stopReason ?? STOPPED_NORMALLY }
  }

  // ---------------------------------------------------------------- dead letters

  private envelopeOf(request: unknown): AskEnvelope | undefined {
    const c = this.current
    if (c instanceof AskEnvelope) return c.message === request ? c : undefined
    if (Array.isArray(c)) {
      for (const item of c) if (item instanceof AskEnvelope && item.message === request) return item
    }
    return undefined
  }

  private deadLetterCurrent(current: unknown, reason: DeadLetter.Reason, detail: string | undefined): void {
    if (current === undefined || current === SIGNAL) return
    if (Array.isArray(current)) {
      for (const item of current) this.deadLetter(item, reason, detail)
    } else {
      this.deadLetter(current, reason, detail)
    }
  }

  deadLetter(item: unknown, reason: DeadLetter.Reason, detail?: string): void {
    if (item === POISON) return
    if (item instanceof AskEnvelope) {
      // The asker has its answer: a failure or interruption of the handler after it replied
      // (e.g. a `stopNow` from the asker, resumed by the reply) does not make it a dead letter.
      if (item.replied) return
      if (!item.done) {
        switch (reason) {
          case "MailboxFull":
          case "DroppedOldest":
            item.fail(this.mailboxFull(item.message))
            break
          case "ActorStopped":
            item.fail(new ActorStopped({ actor: this.path, messageTag: item.message._tag }))
            break
          default:
            item.fail(new HandlerFailed({ actor: this.path, messageTag: item.message._tag, reason: detail ?? reason }))
        }
      }
      this.core.publishDeadLetter({ recipient: this.path, message: item.message, reason, detail })
      return
    }
    this.core.publishDeadLetter({ recipient: this.path, message: item, reason, detail })
  }
}

/** Rarely needed per-actor data, kept out of the cell to keep idle actors small. */
class Extra {
  sys: Fifo<SystemMessage> | undefined = undefined
  fiber: Fiber.Fiber<unknown, unknown> | undefined = undefined
  firstChild: Cell | undefined = undefined
  childCount = 0
  watchers: Set<Cell> | undefined = undefined
  /** The actors this one watches (it leaves their watchers when it terminates). */
  watching: Set<Cell> | undefined = undefined
  /** The line of senders waiting for room (tells as `Putter`s, asks as their envelopes). */
  putters: Fifo<Putter | AskEnvelope> | undefined = undefined
  /** Senders in `putters` that have not withdrawn. */
  waiting = 0
  /** Withdrawn requests still lying in the mailbox (skipped by `take`, not counted against the capacity). */
  withdrawn = 0
  /** A graceful stop is queued: later messages are dead-lettered at once. */
  draining = false
  /** A shutdown past its time limit forced the stop: `onStop` is skipped or interrupted. */
  forced = false
  stopReason: Actor.StopReason | undefined = undefined
  stopWaiters: Array<(reason: Actor.StopReason) => void> | undefined = undefined
  restartTimes: Array<number> | undefined = undefined
  backoffStep: ((input: unknown) => Effect.Effect<unknown, unknown, unknown>) | undefined = undefined
}

const SUCCESS_PROTO: object = Object.getPrototypeOf(Exit.succeed(undefined))

/** How deep inline handling may nest (actor A's handler telling idle B, and so on). */
const MAX_INLINE_DEPTH = 8

const OFFERED = 0
const DROPPED = 1
const FULL_FAIL = 2
const FULL_SUSPEND = 3

const hasSystem = (cell: Cell): boolean => {
  const sys = cell.extra?.sys
  return sys !== undefined && sys.size > 0
}

const hasChildren = (cell: Cell): boolean => cell.extra !== undefined && cell.extra.childCount > 0

const withdrawnIn = (cell: Cell): number => (cell.extra === undefined ? 0 : cell.extra.withdrawn)

const classify = (cause: Cause.Cause<unknown>): Supervision.Failure => {
  const error = Cause.findErrorOption(cause)
  if (error._tag === "Some") {
    if (error.value instanceof HandlerTimeout) return { _tag: "Timeout", millis: error.value.millis }
    return { _tag: "Error", error: error.value }
  }
  return { _tag: "Defect", defect: Cause.squash(cause) }
}
