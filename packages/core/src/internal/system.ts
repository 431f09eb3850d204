/**
 * The shared core of an actor system: the dispatcher that runs ready actors, the name
 * registry, the dead-letter hub and the counters behind the metrics.
 *
 * The dispatcher is a run queue of cells that have work. It runs on Effect's scheduler, gives
 * each cell up to `throughput` messages per turn (then puts it at the back, for fairness),
 * and yields to the event loop after a time slice so that I/O is never starved.
 */
import { Context, Effect, Metric, PubSub, Scheduler } from "effect"
import type * as Actor from "../Actor.js"
import { ActorNameTaken, SystemClosed } from "../ActorError.js"
import type * as DeadLetter from "../DeadLetter.js"
import { Cell, compile, SCHEDULED } from "./cell.js"
import { Fifo } from "./fifo.js"

/** Effect metrics of an actor system. */
export const metrics = {
  processed: Metric.counter("mailroom_actor_messages_processed", { description: "messages handled by actors" }),
  failures: Metric.counter("mailroom_actor_failures", { description: "handler failures (errors, defects, timeouts)" }),
  restarts: Metric.counter("mailroom_actor_restarts", { description: "actor restarts by supervision" }),
  deadLetters: Metric.counter("mailroom_actor_dead_letters", { description: "messages published as dead letters" }),
  depth: Metric.gauge("mailroom_actor_mailbox_depth", { description: "messages waiting in all mailboxes" }),
  live: Metric.gauge("mailroom_actors_live", { description: "actors alive" }),
  processingTime: Metric.histogram("mailroom_actor_processing_time_ms", {
    description: "handler time of effectful messages in ms (sampled 1 in 16)",
    boundaries: Metric.boundariesFromIterable([0.01, 0.05, 0.1, 0.5, 1, 5, 10, 50, 100, 500, 1000, 5000])
  })
}

/** A snapshot of the system's counters. */
export interface Stats {
  readonly live: number
  readonly processed: number
  readonly failures: number
  readonly restarts: number
  readonly deadLetters: number
  readonly mailboxDepth: number
}

export class SystemCore {
  readonly names = new Map<string, Cell>()
  /** Top-level actors, as an intrusive list through `Cell.nextSibling`. */
  topFirst: Cell | undefined = undefined
  readonly readyQueue = new Fifo<Cell>()
  readonly dispatcher: Scheduler.SchedulerDispatcher
  scheduled = false
  closed = false
  /** Nesting of inline handling (see `Cell.runInline`). */
  inlineDepth = 0
  nextId = 1

  // counters (flushed to Effect metrics)
  live = 0
  processed = 0
  failures = 0
  restarts = 0
  deadLetterCount = 0
  depth = 0
  private flushed = { processed: 0, failures: 0, restarts: 0, deadLetters: 0 }
  private sampleTick = 0
  private readonly pendingTimes: Array<number> = []
  private readonly runTask = () => this.run()

  readonly context: Context.Context<never>
  readonly deadLetters: PubSub.PubSub<DeadLetter.DeadLetter>
  readonly askTimeoutMillis: number
  readonly throughput: number
  readonly sliceMillis: number

  constructor(
    context: Context.Context<never>,
    deadLetters: PubSub.PubSub<DeadLetter.DeadLetter>,
    askTimeoutMillis: number,
    throughput: number,
    sliceMillis: number
  ) {
    this.context = context
    this.deadLetters = deadLetters
    this.askTimeoutMillis = askTimeoutMillis
    this.throughput = throughput
    this.sliceMillis = sliceMillis
    this.dispatcher = Context.get(context, Scheduler.Scheduler).makeDispatcher()
  }

  spawnCell(
    behavior: Actor.Behavior<any, any, any, any>,
    name: string | undefined,
    parent: Cell | undefined,
    context: Context.Context<any>
  ): Cell | ActorNameTaken | SystemClosed {
    if (this.closed || (parent !== undefined && !parent.isAlive)) return new SystemClosed()
    if (name !== undefined && this.names.has(name)) return new ActorNameTaken({ name })
    const cell = new Cell(this.nextId++, name, parent, this, compile(behavior), context)
    if (name !== undefined) this.names.set(name, cell)
    const head = parent === undefined ? this.topFirst : parent.x().firstChild
    cell.nextSibling = head
    if (head !== undefined) head.prevSibling = cell
    if (parent === undefined) this.topFirst = cell
    else {
      const extra = parent.x()
      extra.firstChild = cell
      extra.childCount++
    }
    this.live++
    cell.start()
    return cell
  }

  unregister(cell: Cell): void {
    if (cell.name !== undefined && this.names.get(cell.name) === cell) this.names.delete(cell.name)
    const prev = cell.prevSibling
    const next = cell.nextSibling
    if (prev !== undefined) prev.nextSibling = next
    else if (cell.parent === undefined) this.topFirst = next
    else cell.parent.x().firstChild = next
    if (next !== undefined) next.prevSibling = prev
    cell.prevSibling = cell.nextSibling = undefined
    if (cell.parent !== undefined) cell.parent.x().childCount--
    this.live--
  }

  ready(cell: Cell): void {
    this.readyQueue.push(cell)
    if (!this.scheduled) {
      this.scheduled = true
      this.dispatcher.scheduleTask(this.runTask, 0)
    }
  }

  private run(): void {
    this.scheduled = false
    const end = performance.now() + this.sliceMillis
    const q = this.readyQueue
    let cell: Cell | undefined
    while ((cell = q.shift()) !== undefined) {
      if (cell.status === SCHEDULED) cell.drain()
      if (q.size > 0 && performance.now() > end) break
    }
    if (q.size > 0 && !this.scheduled) {
      this.scheduled = true
      this.dispatcher.scheduleTask(this.runTask, 0)
    }
    this.flushMetrics()
  }

  publishDeadLetter(letter: DeadLetter.DeadLetter): void {
    this.deadLetterCount++
    PubSub.publishUnsafe(this.deadLetters, letter)
  }

  metricsSample(): boolean {
    return (++this.sampleTick & 15) === 0
  }

  recordProcessing(millis: number): void {
    if (this.pendingTimes.length < 1024) this.pendingTimes.push(millis)
  }

  /** Applies counter deltas to the Effect metrics. Cheap; called after each dispatcher turn. */
  flushMetrics(): void {
    const ctx = this.context
    const f = this.flushed
    if (this.processed !== f.processed) {
      metrics.processed.updateUnsafe(this.processed - f.processed, ctx)
      f.processed = this.processed
    }
    if (this.failures !== f.failures) {
      metrics.failures.updateUnsafe(this.failures - f.failures, ctx)
      f.failures = this.failures
    }
    if (this.restarts !== f.restarts) {
      metrics.restarts.updateUnsafe(this.restarts - f.restarts, ctx)
      f.restarts = this.restarts
    }
    if (this.deadLetterCount !== f.deadLetters) {
      metrics.deadLetters.updateUnsafe(this.deadLetterCount - f.deadLetters, ctx)
      f.deadLetters = this.deadLetterCount
    }
    metrics.depth.updateUnsafe(this.depth, ctx)
    metrics.live.updateUnsafe(this.live, ctx)
    const times = this.pendingTimes
    for (let i = 0; i < times.length; i++) metrics.processingTime.updateUnsafe(times[i]!, ctx)
    times.length = 0
  }

  stats(): Stats {
    this.flushMetrics()
    return {
      live: this.live,
      processed: this.processed,
      failures: this.failures,
      restarts: this.restarts,
      deadLetters: this.deadLetterCount,
      mailboxDepth: this.depth
    }
  }

  /**
   * Stops every top-level actor (and so every actor); resolves when all have terminated.
   * "graceful" lets each handle its mailbox first, "immediate" interrupts running handlers,
   * "force" also interrupts `onStop` hooks in flight and skips those not started yet.
   */
  shutdown(mode: "graceful" | "immediate" | "force"): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.closed = true
      const cells: Array<Cell> = []
      for (let c = this.topFirst; c !== undefined; c = c.nextSibling) cells.push(c)
      for (const cell of cells) {
        if (mode === "force") cell.force()
        else cell.requestStop(mode === "immediate")
      }
      return Effect.forEach(cells, (cell) => cell.awaitTermination, { discard: true })
    })
  }
}
