/**
 * The ledger of one pipeline: the only owner of the task index and of every transition of a
 * task. Dispatcher, worker pools, reconciler and front desk call its transitions by name —
 * `accept`, `dispatch`, `start`, `succeed`, `fail` (which decides retry, failed or compensated
 * from the type's `Schedule`), `reclaim`, `spawn` — and nobody else writes a task's fields.
 *
 * Two kinds of state, kept apart:
 * - **durable** (status, attempt, failures, output, children): changed only by folding committed
 *   log events (`applyEntry`), at start-up through `@mailroom/persistence`'s `Replay` (from a
 *   `Snapshot` when there is one) and afterwards after each append, so `status` answers only
 *   what is durable;
 * - **phase** (who holds the task in this process: nobody, the ready queue, the scheduler, a
 *   worker, a retry timer, its children): changed by the transitions at once.
 *
 * ```
 *   accept ──► ready ──dispatch──► scheduled ──start──► running ──succeed──► (final) | waiting ──children final──► (final)
 *                ▲                                          │
 *                │◄──────────── retry timer ◄── fail (Schedule recurs) ──┤── fail (Schedule done) ──► (final)
 *                └──reclaim── idle (a report was lost, a dispatch failed: the reconciler)
 * ```
 *
 * The log writer is a group commit on top of the journal's: every record arriving while an
 * append is in flight goes into the next one. Appends carry the expected stream version, so a
 * second writer on the same stream is detected (`LogOwnershipLost`) instead of corrupting the
 * index. A failed append fails the submissions in it (nothing acknowledged is lost) and keeps
 * the status reports, which are appended again once the journal accepts writes again.
 */
import { Cause, Clock, Duration, Effect, Exit, Option, Queue, Schedule } from "effect"
import type { Context, Fiber } from "effect"
import { Journal, Replay, Snapshot, Upcast } from "@mailroom/persistence"
import { CorruptLog, IdempotencyConflict, LogOwnershipLost, PipelineClosed } from "../TaskError.js"
import type * as TaskType from "../TaskType.js"
import type { Status, TaskStatus } from "../Ticket.js"
import { newId } from "./intake.js"
import {
  ACCEPTED,
  type AcceptedTask,
  decodeEvent,
  decodeStored,
  encodeReport,
  type Fact,
  hashPayload,
  PROGRESSED,
  type Report
} from "./log.js"

/** Who holds a live task in this process. */
export type Phase =
  /** Nobody: replayed and not recovered yet, a report on its way to the log, or lost. */
  | "idle"
  /** In the dispatcher's queue. */
  | "ready"
  /** Submitted to the scheduler, waiting for a worker. */
  | "scheduled"
  /** A worker runs it. */
  | "running"
  /** Failed; a timer dispatches it again at `retryAt`. */
  | "retry-wait"
  /** Its handler is done; it waits for its children (no worker held). */
  | "waiting"
  /** Its type is not registered in this pipeline: it stays pending. */
  | "parked"

/** How children of a parent task are doing. */
export interface Children {
  total: number
  pending: number
  failed: Array<string>
}

/** A task: live, or final (then only the durable fields are kept). */
export interface TaskRecord {
  readonly id: string
  readonly type: string
  readonly tenant: string
  readonly key: string | undefined
  readonly parent: string | undefined
  readonly priority: number | undefined
  /** Absolute deadline (epoch ms) for the scheduler. */
  readonly deadline: number | undefined
  readonly acceptedAt: number
  /** Version of the log event that accepted it (0 while unknown). */
  version: number
  /** Hash of the encoded payload (keyed tasks: idempotency conflicts). */
  hash: string | undefined
  /** Decoded payload (live only; undefined when the type is not registered here). */
  payload: unknown
  /** The payload as logged (live only; snapshots keep it). */
  encoded: unknown
  status: Status
  /** The last logged attempt. */
  attempt: number
  /** Attempts handed out in this process (>= `attempt`). */
  dispatches: number
  /** Wall-clock times of the failed attempts (the retry Schedule is replayed over them). */
  failures: Array<number> | undefined
  retryAt: number | undefined
  updatedAt: number
  error: string | undefined
  /** The encoded output once succeeded (or waiting for children). */
  output: unknown
  children: Children | undefined
  phase: Phase
  /**
   * Monotonic ms when the task last became held by nobody, waiting or retry-waiting (what the
   * reconciler measures quiet periods from; durations never use the wall clock). Not updated
   * on the hot path (ready, scheduled, running), where nothing reads it.
   */
  since: number
  /** Monotonic ms of acceptance (wall age at replay mapped onto this process's clock). */
  acceptedMono: number
  /** The retry Schedule's step, rebuilt from `failures` when first needed. */
  step: ((now: number, input: unknown) => Effect.Effect<unknown, unknown>) | undefined
  /** A final report is on its way: do not report it again. */
  finishing: boolean
  /** Reports of it queued for the log and not committed yet (the reconciler leaves it alone meanwhile). */
  reporting: number
  /** Its type's counters. */
  readonly stats: TypeStats
}

/**
 * Final tasks as a snapshot stores them: one array per field (columns parse faster than one
 * array per task, and a loaded task needs no object until someone asks for it); `type` and
 * `tenant` index `types` and `tenants`, `status` indexes `FINAL_STATUSES`.
 */
interface FinalColumns {
  readonly types: Array<string>
  readonly tenants: Array<string>
  readonly id: Array<string>
  readonly type: Array<number>
  readonly tenant: Array<number>
  readonly key: Array<string | null>
  readonly parent: Array<string | null>
  readonly acceptedAt: Array<number>
  readonly version: Array<number>
  readonly hash: Array<string | null>
  readonly status: Array<number>
  readonly attempt: Array<number>
  readonly updatedAt: Array<number>
  readonly error: Array<string | null>
  readonly output: Array<unknown>
}

const FINAL_STATUSES: ReadonlyArray<Status> = ["succeeded", "failed", "compensated"]

/** A retained final task: its record, or its row in the loaded snapshot's columns. */
type Retained = TaskRecord | number

/** The index of `name` in a snapshot's dictionary (`names`), added when new. */
const indexOf = (index: Map<string, number>, names: Array<string>, name: string): number => {
  let i = index.get(name)
  if (i === undefined) {
    index.set(name, i = names.length)
    names.push(name)
  }
  return i
}

const emptyColumns = (): FinalColumns => ({
  types: [], tenants: [], id: [], type: [], tenant: [], key: [], parent: [], acceptedAt: [], version: [], hash: [],
  status: [], attempt: [], updatedAt: [], error: [], output: []
})

/** Counters of one task type. */
interface TypeStats {
  depth: number
  completions: number
}

/** A task as `Pipeline.Options.onAccept` sees it. */
export interface Accepted {
  readonly id: string
  readonly taskType: string
  readonly tenant: string
  readonly key: string | undefined
  readonly parent: string | undefined
  readonly acceptedAt: number
  /** The decoded payload; undefined when the type is not registered or the stored payload does not decode. */
  readonly payload: unknown
  /** True while the pipeline replays its log at start, false for submissions of this run. */
  readonly replayed: boolean
}

/** A decoded log event as the replay fold receives it. */
interface LogEntry {
  readonly _tag: "TaskLogEntry"
  readonly at: number
  readonly version: number
  readonly facts: ReadonlyArray<Fact>
}

type Done = (exit: Exit.Exit<void, Journal.AppendError | LogOwnershipLost | PipelineClosed>) => void
type Entry =
  | {
    readonly kind: "accepted"
    readonly tasks: ReadonlyArray<AcceptedTask>
    readonly decoded: ReadonlyArray<unknown>
    readonly done: Done
    /** The submitter gave up (interrupted) before the writer took it: it is not appended. */
    withdrawn: boolean
  }
  | Report & { readonly record: TaskRecord }

/** What a listener of one task (or of all) is told. */
export type Listener = (status: TaskStatus | PipelineClosed | LogOwnershipLost) => void

/** Options of the ledger. */
export interface LedgerOptions {
  readonly stream: string
  readonly maxBatch: number
  readonly retainFinal: number
  /** Least milliseconds between two log appends (0: append as soon as records wait). */
  readonly commitInterval: number
  /** Snapshots of the index: at most every `interval` ms, and at the latest after `maxFacts` facts. */
  readonly snapshot: { readonly interval: number; readonly maxFacts: number } | undefined
  /** Fault injection for tests: answer true to drop a status report (as if the message got lost). */
  readonly loseReport: ((id: string, status: Status) => boolean) | undefined
  readonly onAccept: ((task: Accepted) => void) | undefined
  /** Put before every task id this pipeline makes (a cluster routes tickets by it). */
  readonly idPrefix: string
}

/**
 * A task is live until its final fact is folded in (then it leaves `live` for good): its status
 * tells without a look-up.
 */
const ended = (record: TaskRecord): boolean =>
  record.status === "succeeded" || record.status === "failed" || record.status === "compensated"

/** Separates the parts of a scoped idempotency key (never in a tenant or type name). */
const SEP = "\u0001"

/** The index key of an idempotency key: scoped by task type, tenant and parent. */
export const scopedKey = (type: string, tenant: string, parent: string | undefined, key: string): string =>
  parent === undefined ? type + SEP + tenant + SEP + key : type + SEP + tenant + SEP + parent + SEP + key

/** Builds the ledger; recovery (`load`) and the writer are started by the pipeline. */
export const make = Effect.fnUntraced(function*(
  types: ReadonlyMap<string, TaskType.Any>,
  options: LedgerOptions
): Effect.fn.Return<Ledger, never, Journal.Journal> {
  const journal = yield* Journal.Journal
  const clock = yield* Clock.Clock
  const context = yield* Effect.context<never>()
  const queue = yield* Queue.unbounded<Entry>()
  const snapshots = Option.getOrUndefined(yield* Effect.serviceOption(Snapshot.SnapshotStore))
  return new Ledger(types, options, journal, clock, queue, context, snapshots)
})

/** See the module comment. */
export class Ledger {
  readonly live = new Map<string, TaskRecord>()
  /**
   * Retained final tasks: records, or the tuples a snapshot stored them as (made a record only
   * when asked for, so loading a snapshot does not build a record per retained ticket).
   */
  private readonly finals = new Map<string, Retained>()
  /** The columns of the snapshot loaded at start (rows of it stay in `finals` until evicted). */
  private loaded: FinalColumns = emptyColumns()
  readonly keys = new Map<string, TaskRecord>()
  readonly listeners = new Map<string, Set<Listener>>()
  readonly watchers = new Set<Listener>()
  /**
   * The one queue feeding the dispatcher: live tasks ready to dispatch, in order (a plain array
   * drained by `takeReady`; `onReady` wakes the dispatcher once per batch of arrivals).
   */
  private ready: Array<TaskRecord> = []
  /** Set by the dispatcher: called when the ready queue goes from empty to not empty. */
  onReady: () => void = () => {}
  /** Submissions validated and on their way into the log (admission counts them). */
  pendingAccepts = 0
  /** Live tasks without a parent (admission's backlog: children of accepted work are never refused). */
  roots = 0
  arrivals = 0
  completions = 0
  /** Per task type: live tasks and tasks final (records point at their type's entry). */
  private readonly typeStats = new Map<string, TypeStats>()
  /** Live tasks per type. */
  get depthByType(): ReadonlyMap<string, number> {
    const out = new Map<string, number>()
    for (const [type, s] of this.typeStats) out.set(type, s.depth)
    return out
  }
  /** Tasks final per type (replayed ones included). */
  get completionsByType(): ReadonlyMap<string, number> {
    const out = new Map<string, number>()
    for (const [type, s] of this.typeStats) if (s.completions > 0) out.set(type, s.completions)
    return out
  }
  private statsOf(type: string): TypeStats {
    let s = this.typeStats.get(type)
    if (s === undefined) this.typeStats.set(type, s = { depth: 0, completions: 0 })
    return s
  }
  /** Tasks put back to work at start, per type (see `recover`). */
  readonly recoveredByType = new Map<string, number>()
  /** Latencies (accepted → final, ms) since the backlog monitor last drained them. */
  latencies: Array<number> = []
  /** Called with each task that became final while this process runs (the guard forgets it). */
  onFinal: (id: string) => void = () => {}
  /** Stream version of the last event folded in. */
  version = 0
  closed: PipelineClosed | LogOwnershipLost | undefined
  private readonly runId = Math.random().toString(36).slice(2, 10)
  private seq = 0
  private replaying = false
  private factsSinceSnapshot = 0
  private lastSnapshotAt: number
  private lastSnapshotVersion = 0
  private readonly timers = new Map<string, Fiber.Fiber<unknown>>()
  readonly types: ReadonlyMap<string, TaskType.Any>
  readonly options: LedgerOptions
  readonly journal: Journal.Journal["Service"]
  private readonly clock: Clock.Clock
  private readonly queue: Queue.Queue<Entry>
  private readonly runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.Fiber<A, E>
  private readonly snapshots: Snapshot.SnapshotStore["Service"] | undefined

  constructor(
    types: ReadonlyMap<string, TaskType.Any>,
    options: LedgerOptions,
    journal: Journal.Journal["Service"],
    clock: Clock.Clock,
    queue: Queue.Queue<Entry>,
    context: Context.Context<never>,
    snapshots: Snapshot.SnapshotStore["Service"] | undefined
  ) {
    this.types = types
    this.options = options
    this.journal = journal
    this.clock = clock
    this.queue = queue
    this.runFork = Effect.runForkWith(context)
    this.snapshots = snapshots
    this.lastSnapshotAt = this.mono()
  }

  /** A new task id: the pipeline's prefix and 128 random bits. */
  newId(): string {
    return this.options.idPrefix + newId()
  }

  /** Wall-clock epoch ms: timestamps that are logged and shown, never durations. */
  now(): number {
    return this.clock.currentTimeMillisUnsafe()
  }

  /** Monotonic ms: every duration (timeouts, quiet periods, rates) is measured on it. */
  mono(): number {
    return Number(this.clock.monotonicTimeNanosUnsafe()) / 1_000_000
  }

  // ---------------------------------------------------------------- transitions

  /**
   * accept: appends tasks to the log; succeeds once they are durable and in the index (and, for
   * live tasks, in the dispatcher's queue). Interrupting it before the writer took the tasks
   * withdraws them (a client that gave up is not recorded); once their append is under way, they
   * are recorded whatever happens to the caller.
   */
  accept(
    tasks: ReadonlyArray<AcceptedTask>,
    decoded: ReadonlyArray<unknown>
  ): Effect.Effect<void, Journal.AppendError | LogOwnershipLost | PipelineClosed> {
    return Effect.callback<void, Journal.AppendError | LogOwnershipLost | PipelineClosed>((resume) => {
      if (this.closed !== undefined) return resume(Exit.fail(this.closed))
      const entry: Entry = { kind: "accepted", tasks, decoded, done: resume, withdrawn: false }
      Queue.offerUnsafe(this.queue, entry)
      return Effect.sync(() => {
        entry.withdrawn = true
      })
    })
  }

  /** Answers a conflict when `scoped` was used with another payload, else the task. */
  checkKey(scoped: string, hash: string, key: string): TaskRecord | IdempotencyConflict | undefined {
    const found = this.keys.get(scoped)
    if (found === undefined) return undefined
    if (found.hash !== undefined && found.hash !== hash) {
      return new IdempotencyConflict({ taskType: found.type, tenant: found.tenant, key, ticket: found.id })
    }
    return found
  }

  /** ready: puts a live task in the dispatcher's queue (no-op unless nobody holds it). */
  private enqueue(record: TaskRecord): void {
    if (record.phase === "ready" || record.phase === "scheduled" || record.phase === "running") return
    if (ended(record) || this.closed !== undefined) return
    if (!this.types.has(record.type)) {
      record.phase = "parked"
      return
    }
    record.phase = "ready"
    this.ready.push(record)
    if (this.ready.length === 1) this.onReady()
  }

  /** Takes every task of the ready queue (the dispatcher, when woken). */
  takeReady(): Array<TaskRecord> {
    const taken = this.ready
    this.ready = []
    return taken
  }

  /** dispatch: ready → scheduled (logged as a new attempt). False when the task moved on meanwhile. */
  dispatch(record: TaskRecord): boolean {
    if (record.phase !== "ready" || ended(record)) return false
    record.phase = "scheduled"
    record.dispatches++
    this.report(record, { record, kind: "dispatched", id: record.id, attempt: record.dispatches })
    return true
  }

  /** The dispatch of a scheduled task failed before a worker got it: back to nobody (the reconciler retries). */
  undispatch(record: TaskRecord): void {
    if (record.phase !== "scheduled") return
    record.phase = "idle"
    record.since = this.mono()
  }

  /** start: scheduled → running. False when the task ended or runs elsewhere. */
  start(record: TaskRecord): boolean {
    if (record.phase !== "scheduled" || ended(record)) return false
    record.phase = "running"
    this.report(record, { record, kind: "running", id: record.id, attempt: record.dispatches })
    return true
  }

  /**
   * succeed: running → final `succeeded`, or `waiting` when the run spawned children that are
   * not all final (the parent completes when they are, holding no worker).
   */
  succeed(record: TaskRecord, output: unknown): void {
    if (record.phase !== "running") return
    const children = record.children
    if (children !== undefined && children.total > 0) {
      record.phase = "waiting"
      record.since = this.mono()
      this.report(record, { record, kind: "waiting", id: record.id, attempt: record.dispatches, output })
      return
    }
    this.finish(record, { kind: "succeeded", id: record.id, attempt: record.dispatches, output })
  }

  /**
   * fail: running → `retrying` (and ready again after the delay) while the type's retry Schedule
   * recurs, else final `failed`; `compensated` when the handler's saga compensated.
   */
  fail(record: TaskRecord, error: string, cause: unknown, compensated: boolean): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (record.phase !== "running") return Effect.void
      if (compensated) {
        this.finish(record, { kind: "compensated", id: record.id, attempt: record.dispatches, error })
        return Effect.void
      }
      const now = this.now()
      return Effect.flatMap(this.stepOf(record), (step) =>
        Effect.map(Effect.exit(step(now, cause)), (next) => {
          if (record.phase !== "running") return
          if (Exit.isFailure(next)) {
            this.finish(record, { kind: "failed", id: record.id, attempt: record.dispatches, error })
            return
          }
          const delay = Math.max(0, Math.round(Duration.toMillis((next.value as readonly [unknown, Duration.Duration])[1])))
          this.report(record, { record, kind: "retrying", id: record.id, attempt: record.dispatches, error, retryAt: now + delay })
          this.waitRetry(record, delay)
        }))
    })
  }

  /** A run that stopped because the pipeline closes: nobody holds it; recovery runs it again. */
  abandon(record: TaskRecord): void {
    if (record.phase !== "running") return
    record.phase = "idle"
    record.since = this.mono()
  }

  /**
   * reclaim: a task nobody holds (its report was lost, its dispatch failed) goes back to the
   * dispatcher. Tasks in the scheduler, with a worker, waiting for a retry or for children are
   * never reclaimed: they are held.
   */
  reclaim(record: TaskRecord): boolean {
    if (this.live.get(record.id) !== record || record.reporting > 0) return false
    // A parent whose `waiting` report was lost: its handler runs again (the guard answers its output).
    const lostWaiting = record.phase === "waiting" && record.status !== "waiting"
    if (record.phase !== "idle" && !lostWaiting) return false
    record.finishing = false
    record.phase = "idle"
    this.enqueue(record)
    return true
  }

  /**
   * spawn: accepts children of a running task, durably, with idempotency keys scoped by the
   * parent (a run of the parent again finds the children of the earlier run instead of making
   * new ones). Answers the children's records.
   */
  spawn(
    parent: TaskRecord,
    tasks: ReadonlyArray<AcceptedTask>,
    decoded: ReadonlyArray<unknown>
  ): Effect.Effect<ReadonlyArray<TaskRecord>, Journal.AppendError | LogOwnershipLost | PipelineClosed | IdempotencyConflict> {
    return Effect.suspend((): Effect.Effect<ReadonlyArray<TaskRecord>, Journal.AppendError | LogOwnershipLost | PipelineClosed | IdempotencyConflict> => {
      const fresh: Array<AcceptedTask> = []
      const freshDecoded: Array<unknown> = []
      const scoped: Array<string> = []
      for (let i = 0; i < tasks.length; i++) {
        const t = tasks[i]!
        const s = scopedKey(t.type, t.tenant, parent.id, t.key!)
        scoped.push(s)
        const found = this.checkKey(s, t.hash ?? hashPayload(t.payload), t.key!)
        if (found instanceof IdempotencyConflict) return Effect.fail(found)
        if (found === undefined) {
          fresh.push(t)
          freshDecoded.push(decoded[i])
        }
      }
      const answer = Effect.sync(() => scoped.map((s) => this.keys.get(s)!))
      return fresh.length === 0 ? answer : Effect.andThen(this.accept(fresh, freshDecoded), answer)
    })
  }

  private finish(record: TaskRecord, report: Report): void {
    if (record.finishing) return
    record.finishing = true
    record.phase = "idle"
    record.since = this.mono()
    this.report(record, { ...report, record })
  }

  private waitRetry(record: TaskRecord, delay: number): void {
    record.phase = "retry-wait"
    record.since = this.mono()
    const fiber = this.runFork(
      Effect.andThen(Effect.sleep(delay), Effect.sync(() => {
        this.timers.delete(record.id)
        if (record.phase !== "retry-wait") return
        record.phase = "idle"
        this.enqueue(record)
      }))
    )
    this.timers.set(record.id, fiber)
  }

  private stepOf(record: TaskRecord) {
    if (record.step !== undefined) return Effect.succeed(record.step)
    const type = this.types.get(record.type)!
    return Effect.map(Schedule.toStep(type.retry), (step) => {
      const s = step as NonNullable<TaskRecord["step"]>
      record.step = s
      return s
    }).pipe(Effect.tap((step) =>
      // The Schedule's position survives restarts: step it over the failures already logged.
      Effect.forEach(record.failures ?? [], (at) => Effect.exit(step(at, "replayed failure")), { discard: true })
    ))
  }

  /** Queues a status report for the log (not awaited: the fold applies it once durable). */
  private report(record: TaskRecord, report: Report & { readonly record: TaskRecord }): void {
    if (this.options.loseReport?.(report.id, report.kind)) return
    record.reporting++
    Queue.offerUnsafe(this.queue, report)
  }

  // ---------------------------------------------------------------- recovery

  /**
   * Rebuilds the index: the latest snapshot (when a `SnapshotStore` is provided and holds one),
   * then the events after it, through `Replay`. Answers the events replayed.
   */
  load(): Effect.Effect<number, CorruptLog | Journal.ReadError> {
    const self = this
    const fold: Replay.Fold<Ledger, LogEntry> = {
      types: logEvents(this.options.stream),
      initial: this,
      apply: (ledger, entry) => {
        ledger.applyEntry(entry)
        return ledger
      }
    }
    self.replaying = true
    const replay: Effect.Effect<Replay.Replayed<Ledger>, Journal.ReadError | Upcast.UndecodableEvent, Journal.Journal> =
      self.snapshots === undefined
        ? Replay.stream(this.options.stream, fold)
        : Effect.provideService(
          Snapshot.recover(this.options.stream, fold, (json) => self.restore(json)),
          Snapshot.SnapshotStore,
          self.snapshots
        )
    return replay.pipe(
      Effect.provideService(Journal.Journal, this.journal),
      Effect.map((replayed) => {
        self.replaying = false
        self.version = Math.max(self.version, replayed.last)
        // Loaded from a snapshot: it is the one saved at the version before the replayed tail
        // (versions are contiguous), so closing right away saves nothing new.
        if (self.restored) self.lastSnapshotVersion = replayed.last - replayed.events
        return replayed.events
      }),
      Effect.mapError((e) =>
        e._tag === "UndecodableEvent" ? new CorruptLog({ stream: e.stream, position: e.position, reason: e.reason }) : e
      )
    )
  }

  /**
   * After `load`: every live task goes back to work — ready again, or waiting for the retry time
   * it logged (the Schedule's position is replayed from its logged failures), or waiting for its
   * children (completed at once when they are all final). Answers how many were recovered.
   */
  recover(): number {
    let n = 0
    const now = this.now()
    for (const record of this.live.values()) {
      const type = this.types.get(record.type)
      if (type === undefined) {
        record.phase = "parked"
        continue
      }
      n++
      this.recoveredByType.set(record.type, (this.recoveredByType.get(record.type) ?? 0) + 1)
      if (record.payload === undefined) {
        const d = decodeStored(type, record.encoded)
        if (!("value" in d)) {
          // A stored payload this type cannot read: the task can never run. Say so, durably.
          this.finish(record, { kind: "failed", id: record.id, attempt: record.attempt, error: `stored payload unreadable: ${d.message}` })
          continue
        }
        record.payload = d.value
      }
      if (record.status === "retrying" && record.retryAt !== undefined) {
        this.waitRetry(record, Math.max(0, record.retryAt - now))
      } else if (record.status === "waiting") {
        record.phase = "waiting"
        if (record.children !== undefined && record.children.pending === 0) this.completeParent(record)
      } else {
        this.enqueue(record)
      }
    }
    return n
  }

  // ---------------------------------------------------------------- the fold

  /** Folds one committed log event into the index. */
  applyEntry(entry: LogEntry): void {
    const facts = entry.facts
    const mono = this.mono()
    for (let i = 0; i < facts.length; i++) this.apply(facts[i]!, entry.at, entry.version, undefined, undefined, mono)
    this.version = entry.version
    this.factsSinceSnapshot += facts.length
  }

  /**
   * Folds one committed fact. `decoded`: payloads the front desk already has (live accepts);
   * `known`: the record a live report is about (saves the look-up); `mono`: the batch's time.
   */
  private apply(
    fact: Fact,
    at: number,
    version: number,
    decoded: ReadonlyArray<unknown> | undefined,
    known: TaskRecord | undefined,
    mono: number
  ): void {
    if (fact.kind === "accepted") {
      const tasks = fact.tasks
      const now = this.now()
      for (let i = 0; i < tasks.length; i++) this.add(tasks[i]!, version, decoded, i, mono, now)
      return
    }
    // A record is live until its final fact: its status tells, without a look-up.
    const record = known !== undefined ? (ended(known) ? undefined : known) : this.live.get(fact.id)
    if (record === undefined) return // already final (a duplicate run's report) or unknown
    if (fact.attempt > record.attempt) record.attempt = fact.attempt
    if (record.dispatches < record.attempt) record.dispatches = record.attempt
    record.updatedAt = at
    switch (fact.kind) {
      case "dispatched":
      case "running":
        // A late report of an earlier attempt must not move a task back.
        if (fact.attempt < record.attempt) return
        record.status = fact.kind
        this.notify(record)
        return
      case "retrying":
        record.status = "retrying"
        record.error = fact.error
        record.retryAt = fact.retryAt
        ;(record.failures ??= []).push(at)
        this.notify(record)
        return
      case "waiting":
        record.status = "waiting"
        record.output = fact.output
        record.error = undefined
        this.notify(record)
        if (!this.replaying && record.children !== undefined && record.children.pending === 0) this.completeParent(record)
        return
      case "succeeded":
        this.final(record, { kind: "succeeded", output: fact.output }, at, mono)
        return
      case "failed":
      case "compensated":
        this.final(record, fact, at, mono)
    }
  }

  private add(
    t: AcceptedTask,
    version: number,
    decoded: ReadonlyArray<unknown> | undefined,
    index: number,
    mono: number,
    now: number
  ): void {
    // Ids made by this process are new; replayed or caught-up ones may repeat (an idempotent retry).
    if ((decoded === undefined || this.replaying) && (this.live.has(t.id) || this.finals.has(t.id))) return
    const type = this.types.get(t.type)
    let payload: unknown = undefined
    if (decoded !== undefined) payload = decoded[index]
    else if (type !== undefined && (!this.replaying || this.options.onAccept !== undefined)) {
      // While replaying, payloads are decoded at recovery, for the tasks still live (most end final).
      const d = decodeStored(type, t.payload)
      payload = "value" in d ? d.value : undefined
    }
    const record: TaskRecord = {
      id: t.id,
      type: t.type,
      tenant: t.tenant,
      key: t.key,
      parent: t.parent,
      priority: t.priority,
      deadline: t.deadline,
      acceptedAt: t.at,
      version,
      hash: t.key === undefined ? undefined : t.hash ?? hashPayload(t.payload),
      payload,
      encoded: t.payload,
      status: "accepted",
      attempt: 0,
      dispatches: 0,
      failures: undefined,
      retryAt: undefined,
      updatedAt: t.at,
      error: undefined,
      output: undefined,
      children: undefined,
      phase: "idle",
      since: mono,
      acceptedMono: this.replaying ? mono - Math.max(0, now - t.at) : mono,
      step: undefined,
      finishing: false,
      reporting: 0,
      stats: this.statsOf(t.type)
    }
    this.index(record)
    this.arrivals++
    if (t.parent !== undefined) {
      const parent = this.live.get(t.parent)
      if (parent !== undefined) {
        const c = parent.children ??= { total: 0, pending: 0, failed: [] }
        c.total++
        c.pending++
      }
    }
    this.notify(record)
    this.options.onAccept?.({
      id: t.id,
      taskType: t.type,
      tenant: t.tenant,
      key: t.key,
      parent: t.parent,
      acceptedAt: t.at,
      payload,
      replayed: this.replaying
    })
    if (!this.replaying) this.enqueue(record)
  }

  /** Adds a live record to the maps and counters. */
  private index(record: TaskRecord): void {
    this.live.set(record.id, record)
    if (record.key !== undefined) this.keys.set(scopedKey(record.type, record.tenant, record.parent, record.key), record)
    record.stats.depth++
    if (record.parent === undefined) this.roots++
  }

  private final(
    record: TaskRecord,
    fact: { readonly kind: "succeeded"; readonly output: unknown } | { readonly kind: "failed" | "compensated"; readonly error: string },
    at: number,
    mono: number
  ): void {
    this.live.delete(record.id)
    record.status = fact.kind
    record.payload = undefined
    record.encoded = undefined
    record.step = undefined
    record.failures = undefined
    record.finishing = false
    record.phase = "idle"
    if (fact.kind === "succeeded") {
      record.output = fact.output
      record.error = undefined
    } else {
      record.error = fact.error
    }
    if (this.timers.size > 0) {
      this.timers.get(record.id)?.interruptUnsafe()
      this.timers.delete(record.id)
    }
    this.retain(record)
    record.stats.depth--
    if (record.parent === undefined) this.roots--
    this.completions++
    record.stats.completions++
    if (this.latencies.length < 100_000) this.latencies.push(mono - record.acceptedMono)
    this.notify(record)
    if (!this.replaying) this.onFinal(record.id)
    if (record.parent !== undefined) this.childFinal(record, at)
  }

  /**
   * Final records in the order they became final (`finalsHead` = the oldest still kept). Evicting
   * through `finals.values().next()` instead would walk the Map's deleted entries on every
   * eviction (quadratic: a replay of 300,000 finished tasks took 18 s).
   */
  private finalsOrder: Array<Retained> = []
  private finalsHead = 0

  private retain(record: TaskRecord): void {
    this.finals.set(record.id, record)
    this.finalsOrder.push(record)
    if (this.finals.size > this.options.retainFinal) {
      const oldest = this.finalsOrder[this.finalsHead]!
      this.finalsOrder[this.finalsHead++] = undefined as never
      if (this.finalsHead > 65_536 && this.finalsHead * 2 > this.finalsOrder.length) {
        this.finalsOrder = this.finalsOrder.slice(this.finalsHead)
        this.finalsHead = 0
      }
      if (typeof oldest === "number") {
        const c = this.loaded
        this.finals.delete(c.id[oldest]!)
        const key = c.key[oldest]
        if (key !== null && key !== undefined) {
          const k = scopedKey(c.types[c.type[oldest]!]!, c.tenants[c.tenant[oldest]!]!, u(c.parent[oldest]!), key)
          if (this.keys.get(k)?.id === c.id[oldest]) this.keys.delete(k)
        }
      } else {
        this.finals.delete(oldest.id)
        if (oldest.key !== undefined) {
          const k = scopedKey(oldest.type, oldest.tenant, oldest.parent, oldest.key)
          if (this.keys.get(k) === oldest) this.keys.delete(k)
        }
      }
    }
  }

  private childFinal(child: TaskRecord, _at: number): void {
    const parent = this.live.get(child.parent!)
    if (parent === undefined || parent.children === undefined) return
    const c = parent.children
    c.pending--
    if (child.status !== "succeeded") c.failed.push(child.id)
    if (this.replaying || parent.status !== "waiting") return
    const type = this.types.get(parent.type)
    const failFast = type?.children === "fail-fast" && child.status !== "succeeded"
    if (c.pending === 0 || failFast) this.completeParent(parent)
  }

  /** A waiting parent whose children are final (or one failed, under `fail-fast`) ends. */
  private completeParent(parent: TaskRecord): void {
    const c = parent.children!
    const policy = this.types.get(parent.type)?.children ?? "fail"
    if (c.failed.length > 0 && policy !== "ignore") {
      const shown = c.failed.slice(0, 5).join(", ")
      this.finish(parent, {
        kind: "failed",
        id: parent.id,
        attempt: parent.attempt,
        error: `${c.failed.length} of ${c.total} child tasks did not succeed (${shown}${c.failed.length > 5 ? ", …" : ""})`
      })
      return
    }
    if (c.pending > 0) return
    this.finish(parent, { kind: "succeeded", id: parent.id, attempt: parent.attempt, output: parent.output })
  }

  // ---------------------------------------------------------------- the writer

  /**
   * The writer fiber: one journal append per batch of records, with the expected version. Only
   * the wait for records is interruptible: an append in flight when the pipeline closes finishes
   * and its submitters are answered.
   */
  get writer(): Effect.Effect<never> {
    const self = this
    return Effect.gen(function*() {
      let last = -Infinity
      let carried: Array<Entry> = []
      let backoff = 0
      while (true) {
        const interval = self.options.commitInterval
        if (interval > 0) {
          // Fewer, larger commits: wait out the rest of the interval since the last one.
          const wait = last + interval - self.mono()
          if (wait > 0) yield* Effect.sleep(wait)
        }
        let entries: Array<Entry>
        if (carried.length > 0) {
          entries = carried
          for (const e of yield* Queue.clear(self.queue)) entries.push(e)
        } else {
          entries = (yield* Queue.takeBetween(self.queue, 1, self.options.maxBatch)) as Array<Entry>
        }
        last = self.mono()
        entries = entries.filter((e) => e.kind !== "accepted" || !e.withdrawn)
        if (entries.length === 0) continue
        const outcome = yield* Effect.uninterruptible(self.write(entries))
        if (outcome === "lost") return yield* Effect.never
        carried = outcome.carried
        if (!outcome.failed) {
          backoff = 0
          continue
        }
        backoff = Math.min(1000, Math.max(10, backoff * 2))
        yield* Effect.sleep(backoff)
      }
    })
  }

  /**
   * Appends one batch. Answers the records to append again: none after a commit; this batch
   * after catching up with our own earlier append; its status reports after a failed write
   * (`failed`: wait before trying again). "lost" when another writer owns the stream.
   */
  private write(
    entries: Array<Entry>
  ): Effect.Effect<{ readonly carried: Array<Entry>; readonly failed: boolean } | "lost"> {
    const self = this
    return Effect.gen(function*() {
      const at = self.now()
      const { events, slots } = self.encode(entries, at)
      const exit = yield* Effect.exit(self.journal.append(self.options.stream, events, self.version))
      if (Exit.isSuccess(exit)) {
        self.committed(entries, slots, exit.value.versions, at)
        yield* self.maybeSnapshot
        return { carried: [], failed: false }
      }
      const error = Cause.findErrorOption(exit.cause)
      if (error._tag === "Some" && error.value._tag === "WrongExpectedVersion") {
        const lost = yield* self.catchUp(error.value)
        if (lost === undefined) return { carried: entries, failed: false } // on top of our own earlier append
        self.close(lost)
        for (const e of entries) if (e.kind === "accepted") e.done(Exit.fail(lost))
        yield* Effect.logError(lost.message)
        return "lost" as const
      }
      // The journal refused the write (disk full, connection lost, ...). Submissions are
      // answered with the error (nothing was acknowledged); status reports are kept and
      // appended again, so work resumes as soon as the journal takes writes again.
      const carried: Array<Entry> = []
      for (const e of entries) {
        if (e.kind === "accepted") e.done(exit as Exit.Exit<never, Journal.AppendError>)
        else carried.push(e)
      }
      yield* Effect.logWarning(
        `task log ${self.options.stream}: append failed; ${carried.length} status reports will be appended again`,
        exit.cause
      )
      return { carried, failed: true }
    })
  }

  /**
   * The stream moved past the version this writer expected. When every event after it is one
   * this writer wrote (an append that failed after it had in fact committed), fold them in and
   * go on; otherwise another process writes to the stream: ownership is lost.
   */
  private catchUp(error: { readonly actual: number }): Effect.Effect<LogOwnershipLost | undefined> {
    const self = this
    return Effect.gen(function*() {
      const tail = yield* Effect.exit(self.journal.readStream(self.options.stream, self.version + 1))
      const lost = new LogOwnershipLost({ stream: self.options.stream, expected: self.version, found: error.actual })
      if (Exit.isFailure(tail)) return lost
      for (const event of tail.value) if (!event.id.startsWith(self.runId + ".")) return lost
      for (const event of tail.value) {
        const d = decodeEvent(event)
        if (d instanceof CorruptLog) return lost
        self.applyEntry({ _tag: "TaskLogEntry", at: d.at, version: event.version, facts: d.facts })
      }
      return undefined
    })
  }

  private encode(entries: ReadonlyArray<Entry>, at: number) {
    const events: Array<Journal.EventData> = []
    // For each entry, the index of the event it went into.
    const slots: Array<number> = []
    let accepted: Array<AcceptedTask> | undefined
    let facts: Array<unknown> | undefined
    const flush = () => {
      if (accepted !== undefined) {
        events.push({ id: `${this.runId}.${this.seq++}`, type: ACCEPTED, schemaVersion: 1, data: { at, tasks: accepted } })
        accepted = undefined
      }
      if (facts !== undefined) {
        events.push({ id: `${this.runId}.${this.seq++}`, type: PROGRESSED, schemaVersion: 1, data: { at, facts } })
        facts = undefined
      }
    }
    for (const e of entries) {
      // Runs alternate at most between the two kinds of event, so the log keeps arrival order.
      if (e.kind === "accepted") {
        if (facts !== undefined) flush()
        accepted ??= []
        for (const t of e.tasks) accepted.push(t)
      } else {
        if (accepted !== undefined) flush()
        ;(facts ??= []).push(encodeReport(e))
      }
      slots.push(events.length)
    }
    flush()
    return { events, slots }
  }

  private committed(entries: ReadonlyArray<Entry>, slots: ReadonlyArray<number>, versions: ReadonlyArray<number>, at: number): void {
    const mono = this.mono()
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!
      const version = versions[slots[i]!] ?? this.version
      if (e.kind === "accepted") this.apply(e, at, version, e.decoded, undefined, mono)
      else {
        e.record.reporting--
        this.apply(e, at, version, undefined, e.record, mono)
      }
    }
    this.factsSinceSnapshot += entries.length
    if (versions.length > 0) this.version = versions[versions.length - 1]!
    for (const e of entries) if (e.kind === "accepted") e.done(Exit.void)
  }

  // ---------------------------------------------------------------- snapshots

  private snapshotting = false
  private restored = false

  private get maybeSnapshot(): Effect.Effect<void> {
    const s = this.options.snapshot
    if (s === undefined || this.snapshots === undefined || this.snapshotting) return Effect.void
    if (this.factsSinceSnapshot < s.maxFacts && this.mono() - this.lastSnapshotAt < s.interval) return Effect.void
    if (this.version === this.lastSnapshotVersion) return Effect.void
    // The state is taken now (consistent with `version`); the store writes it in the background.
    const save = this.takeSnapshot()
    return Effect.sync(() => {
      this.runFork(save)
    })
  }

  /**
   * Takes a snapshot of the durable index at the current version now, and answers the effect
   * that stores it (void without a store, or when nothing changed since the last one).
   */
  takeSnapshot(): Effect.Effect<void> {
    const store = this.snapshots
    if (store === undefined || this.version === this.lastSnapshotVersion || this.closed?._tag === "LogOwnershipLost") {
      return Effect.void
    }
    this.snapshotting = true
    const version = this.version
    const state = this.snapshotState()
    this.factsSinceSnapshot = 0
    this.lastSnapshotAt = this.mono()
    return Effect.suspend(() => {
      return store.save(this.options.stream, version, state).pipe(
        Effect.tap(() => Effect.sync(() => (this.lastSnapshotVersion = version))),
        Effect.catch((e) => Effect.logWarning(`task log ${this.options.stream}: snapshot not saved (${e.message}); start-up replays more`)),
        Effect.ensuring(Effect.sync(() => (this.snapshotting = false)))
      )
    })
  }

  private snapshotState(): unknown {
    const live: Array<unknown> = []
    for (const r of this.live.values()) {
      live.push([
        r.id, r.type, r.tenant, r.key ?? null, r.parent ?? null, r.priority ?? null, r.deadline ?? null, r.acceptedAt,
        r.version, r.hash ?? null, r.encoded ?? null, r.status, r.attempt, r.failures ?? null, r.retryAt ?? null,
        r.updatedAt, r.error ?? null, r.output ?? null, r.children === undefined ? null : [r.children.total, r.children.pending, r.children.failed]
      ])
    }
    const out = emptyColumns()
    const typeIndex = new Map<string, number>()
    const tenantIndex = new Map<string, number>()
    const c = this.loaded
    for (const r of this.finals.values()) {
      if (typeof r === "number") {
        out.id.push(c.id[r]!)
        out.type.push(indexOf(typeIndex, out.types, c.types[c.type[r]!]!))
        out.tenant.push(indexOf(tenantIndex, out.tenants, c.tenants[c.tenant[r]!]!))
        out.key.push(c.key[r]!)
        out.parent.push(c.parent[r]!)
        out.acceptedAt.push(c.acceptedAt[r]!)
        out.version.push(c.version[r]!)
        out.hash.push(c.hash[r]!)
        out.status.push(c.status[r]!)
        out.attempt.push(c.attempt[r]!)
        out.updatedAt.push(c.updatedAt[r]!)
        out.error.push(c.error[r]!)
        out.output.push(c.output[r] ?? null)
      } else {
        out.id.push(r.id)
        out.type.push(indexOf(typeIndex, out.types, r.type))
        out.tenant.push(indexOf(tenantIndex, out.tenants, r.tenant))
        out.key.push(r.key ?? null)
        out.parent.push(r.parent ?? null)
        out.acceptedAt.push(r.acceptedAt)
        out.version.push(r.version)
        out.hash.push(r.hash ?? null)
        out.status.push(FINAL_STATUSES.indexOf(r.status))
        out.attempt.push(r.attempt)
        out.updatedAt.push(r.updatedAt)
        out.error.push(r.error ?? null)
        out.output.push(r.output ?? null)
      }
    }
    return {
      format: 2,
      arrivals: this.arrivals,
      completions: this.completions,
      completionsByType: Object.fromEntries(this.completionsByType),
      live,
      finals: out
    }
  }

  /**
   * Restores the index from a snapshot's state. Throws (before changing anything) when the state
   * is not one this version wrote: `Snapshot.recover` then replays the whole log instead.
   */
  private restore(json: unknown): Ledger {
    const bad = (what: string): never => {
      throw new Error(`snapshot of ${this.options.stream}: ${what}`)
    }
    const s = json as { format?: unknown; arrivals?: unknown; completions?: unknown; live?: unknown; finals?: unknown }
    if (typeof s !== "object" || s === null || s.format !== 2) bad("unknown format")
    if (!Array.isArray(s.live) || typeof s.finals !== "object" || s.finals === null) bad("no task lists")
    for (const t of s.live as Array<unknown>) {
      const a = t as Array<unknown>
      if (
        !Array.isArray(a) || a.length !== 19 || !str(a[0]) || !str(a[1]) || !str(a[2]) || !optStr(a[3]) || !optStr(a[4]) ||
        !optNum(a[5]) || !optNum(a[6]) || !num(a[7]) || !num(a[8]) || !optStr(a[9]) || !statuses.has(a[11] as string) ||
        !num(a[12]) || !(a[13] === null || (Array.isArray(a[13]) && a[13].every(num))) || !optNum(a[14]) || !num(a[15]) ||
        !optStr(a[16]) ||
        !(a[18] === null || (Array.isArray(a[18]) && num(a[18][0]) && num(a[18][1]) && Array.isArray(a[18][2]) && a[18][2].every(str)))
      ) bad(`live task ${JSON.stringify(a?.[0])} is malformed`)
    }
    const c = s.finals as FinalColumns
    const n = Array.isArray(c.id) ? c.id.length : -1
    // One tight loop per kind of column (a check function per value cost a third of start-up).
    const columnOf = (name: keyof FinalColumns): Array<unknown> => {
      const col = c[name] as unknown
      if (!Array.isArray(col) || (name !== "types" && name !== "tenants" && col.length !== n)) bad(`final tasks: column ${name} is malformed`)
      return col as Array<unknown>
    }
    const strings = (name: keyof FinalColumns) => {
      const col = columnOf(name)
      for (let i = 0; i < col.length; i++) if (typeof col[i] !== "string") bad(`final tasks: column ${name} holds ${JSON.stringify(col[i])}`)
    }
    const optionalStrings = (name: keyof FinalColumns) => {
      const col = columnOf(name)
      for (let i = 0; i < col.length; i++) {
        const v = col[i]
        if (v !== null && typeof v !== "string") bad(`final tasks: column ${name} holds ${JSON.stringify(v)}`)
      }
    }
    const numbers = (name: keyof FinalColumns) => {
      const col = columnOf(name)
      for (let i = 0; i < col.length; i++) {
        const v = col[i]
        if (typeof v !== "number" || !Number.isFinite(v)) bad(`final tasks: column ${name} holds ${JSON.stringify(v)}`)
      }
    }
    const indexes = (name: keyof FinalColumns, size: number) => {
      const col = columnOf(name)
      for (let i = 0; i < col.length; i++) {
        const v = col[i]
        if (typeof v !== "number" || !(v >= 0 && v < size) || (v | 0) !== v) bad(`final tasks: column ${name} holds ${JSON.stringify(v)}`)
      }
    }
    strings("types")
    strings("tenants")
    strings("id")
    indexes("type", c.types.length)
    indexes("tenant", c.tenants.length)
    optionalStrings("key")
    optionalStrings("parent")
    numbers("acceptedAt")
    numbers("version")
    optionalStrings("hash")
    indexes("status", FINAL_STATUSES.length)
    numbers("attempt")
    numbers("updatedAt")
    optionalStrings("error")
    columnOf("output")
    const mono = this.mono()
    const now = this.now()
    this.restored = true
    this.loaded = c
    for (let i = 0; i < n; i++) {
      const key = c.key[i]
      if (key === null || key === undefined) {
        // A row of the loaded columns until someone asks for it (see `finals`).
        this.finals.set(c.id[i]!, i)
        this.finalsOrder.push(i)
        continue
      }
      // Keyed ones are records at once: the key map points at records.
      const record = this.fromRow(i)
      this.finals.set(record.id, record)
      this.finalsOrder.push(record)
      this.keys.set(scopedKey(record.type, record.tenant, record.parent, key), record)
    }
    for (const t of s.live as Array<Array<any>>) {
      const type = this.types.get(t[1])
      let payload: unknown = undefined
      if (type !== undefined && this.options.onAccept !== undefined) {
        const d = decodeStored(type, t[10])
        payload = "value" in d ? d.value : undefined
      }
      const record: TaskRecord = {
        id: t[0], type: t[1], tenant: t[2], key: u(t[3]), parent: u(t[4]), priority: u(t[5]), deadline: u(t[6]),
        acceptedAt: t[7], version: t[8], hash: u(t[9]), payload, encoded: u(t[10]), status: t[11], attempt: t[12],
        dispatches: t[12], failures: u(t[13]), retryAt: u(t[14]), updatedAt: t[15], error: u(t[16]), output: u(t[17]),
        children: t[18] === null ? undefined : { total: t[18][0], pending: t[18][1], failed: t[18][2] },
        phase: "idle", since: mono, acceptedMono: mono - Math.max(0, now - t[7]), step: undefined, finishing: false,
        reporting: 0, stats: this.statsOf(t[1])
      }
      this.index(record)
      this.options.onAccept?.({
        id: record.id, taskType: record.type, tenant: record.tenant, key: record.key, parent: record.parent,
        acceptedAt: record.acceptedAt, payload, replayed: true
      })
    }
    this.arrivals = num(s.arrivals) ? s.arrivals as number : this.live.size
    this.completions = num(s.completions) ? s.completions as number : 0
    const byType = (s as { completionsByType?: unknown }).completionsByType
    if (typeof byType === "object" && byType !== null) {
      for (const [type, n] of Object.entries(byType)) if (num(n)) this.statsOf(type).completions = n as number
    }
    return this
  }

  // ---------------------------------------------------------------- status and closing

  /** The status of a task, live or retained final. */
  statusOf(id: string): TaskStatus | undefined {
    const record = this.recordOf(id)
    return record === undefined ? undefined : toStatus(record)
  }

  /** The record of a task, live or retained final. */
  recordOf(id: string): TaskRecord | undefined {
    const live = this.live.get(id)
    if (live !== undefined) return live
    const final = this.finals.get(id)
    return final === undefined ? undefined : typeof final === "number" ? this.fromRow(final) : final
  }

  /** A final task's record from its row in the loaded snapshot. */
  private fromRow(i: number): TaskRecord {
    const c = this.loaded
    const mono = this.mono()
    const type = c.types[c.type[i]!]!
    return {
      id: c.id[i]!, type, tenant: c.tenants[c.tenant[i]!]!, key: u(c.key[i]!), parent: u(c.parent[i]!), priority: undefined,
      deadline: undefined, acceptedAt: c.acceptedAt[i]!, version: c.version[i]!, hash: u(c.hash[i]!), payload: undefined,
      encoded: undefined, status: FINAL_STATUSES[c.status[i]!]!, attempt: c.attempt[i]!, dispatches: c.attempt[i]!,
      failures: undefined, retryAt: undefined, updatedAt: c.updatedAt[i]!, error: u(c.error[i]!), output: u(c.output[i] ?? null),
      children: undefined, phase: "idle", since: mono, acceptedMono: mono, step: undefined, finishing: false, reporting: 0,
      stats: this.statsOf(type)
    }
  }

  private notify(record: TaskRecord): void {
    if (this.replaying || (this.watchers.size === 0 && this.listeners.size === 0)) return
    const status = toStatus(record)
    for (const w of this.watchers) w(status)
    const set = this.listeners.get(status.id)
    if (set !== undefined) for (const l of set) l(status)
  }

  /**
   * Closes the ledger: submissions waiting for the log and every later one fail with `reason`,
   * every listener is told, retry timers stop. Status reports still queued are appended by
   * `flush` (the pipeline's finalizer), so what finished before the close is not run again.
   */
  close(reason: PipelineClosed | LogOwnershipLost): void {
    if (this.closed !== undefined) return
    this.closed = reason
    for (const fiber of this.timers.values()) fiber.interruptUnsafe()
    this.timers.clear()
    for (const w of this.watchers) w(reason)
    for (const set of this.listeners.values()) for (const l of set) l(reason)
    this.watchers.clear()
    this.listeners.clear()
  }

  /** Fails the submissions still queued and appends the status reports still queued (at close). */
  get flush(): Effect.Effect<void> {
    const self = this
    return Effect.gen(function*() {
      const entries = yield* Queue.clear(self.queue)
      const reports: Array<Entry> = []
      for (const e of entries) {
        if (e.kind === "accepted") e.done(Exit.fail(self.closed ?? new PipelineClosed({ stream: self.options.stream })))
        else reports.push(e)
      }
      if (reports.length === 0 || self.closed?._tag === "LogOwnershipLost") return
      const at = self.now()
      const { events, slots } = self.encode(reports, at)
      const exit = yield* Effect.exit(self.journal.append(self.options.stream, events, self.version))
      if (Exit.isSuccess(exit)) self.committed(reports, slots, exit.value.versions, at)
    })
  }

  /** Live tasks, oldest first (Map keeps acceptance order). */
  oldest(): TaskRecord | undefined {
    return this.live.values().next().value
  }
}

// Checks of snapshot fields (a snapshot is a stored row: a boundary).
const str = (v: unknown) => typeof v === "string"
const num = (v: unknown) => typeof v === "number" && Number.isFinite(v)
const optStr = (v: unknown) => v === null || typeof v === "string"
const optNum = (v: unknown) => v === null || num(v)
const statuses = new Set(["accepted", "dispatched", "running", "retrying", "waiting", "succeeded", "failed", "compensated"])
const u = <A>(v: A | null): A | undefined => v === null ? undefined : v

/** The log's events as a `Replay` registry: each event decodes to the facts it holds. */
const logEvents = (stream: string): Upcast.EventTypes<LogEntry> => {
  const decodeSync = (event: Journal.RecordedEvent) => {
    const d = decodeEvent(event)
    if (d instanceof CorruptLog) {
      return new Upcast.UndecodableEvent({
        stream: event.stream || stream,
        position: event.position,
        type: event.type,
        schemaVersion: event.schemaVersion,
        reason: d.reason
      })
    }
    return { _tag: "TaskLogEntry" as const, at: d.at, version: event.version, facts: d.facts }
  }
  return {
    types: new Map(),
    encode: () => Effect.die("the task log is written by the ledger only"),
    decode: (event) => {
      const d = decodeSync(event)
      return d instanceof Upcast.UndecodableEvent ? Effect.fail(d) : Effect.succeed(d)
    },
    decodeSync
  }
}

/**
 * A task's status as `status` answers it. Live and final tasks alike: a task's record becomes
 * its final entry, and its `output` is set once it succeeded (or waits for its children).
 */
export const toStatus = (r: TaskRecord): TaskStatus => {
  const s: { -readonly [K in keyof TaskStatus]: TaskStatus[K] } = {
    id: r.id,
    taskType: r.type,
    tenant: r.tenant,
    status: r.status,
    attempt: r.attempt,
    acceptedAt: r.acceptedAt,
    updatedAt: r.updatedAt
  }
  if (r.output !== undefined) s.output = r.output
  if (r.error !== undefined) s.error = r.error
  if (r.parent !== undefined) s.parent = r.parent
  if (r.children !== undefined) s.children = { total: r.children.total, pending: r.children.pending, failed: r.children.failed.length }
  return s
}
