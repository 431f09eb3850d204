/**
 * The shared state of one pipeline: the in-memory index of tasks (a fold over the task log),
 * the task log writer (a group commit on top of the journal's: every record arriving while a
 * write is in flight goes into the next append — accepted tasks as `TasksAccepted`, all status
 * reports as one `TasksProgressed` event per run between acceptances),
 * and the counters the backlog monitor reads.
 *
 * The index only changes by folding committed events (`apply`), both when replaying the log at
 * start-up and after each live append: what `status` answers is always durable.
 */
import { Cause, Clock, Effect, Exit, Queue, Schema } from "effect"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaParser from "effect/SchemaParser"
import type { Scope } from "effect"
import { Journal } from "@mailroom/persistence"
import { CorruptLog, InvalidPayload } from "../TaskError.js"
import type * as TaskType from "../TaskType.js"
import { isFinal, type Status, type TaskStatus } from "../Ticket.js"

/** Who currently holds a live task (decides what the reconciler may touch). */
export type Holder = "idle" | "queued" | "inflight" | "waiting-retry"

/** A task that has not reached a final status. */
export interface TaskRecord {
  readonly id: string
  readonly type: string
  readonly tenant: string
  readonly key: string | undefined
  readonly acceptedAt: number
  /** Decoded payload (undefined when the type is not registered in this process). */
  payload: unknown
  status: Status
  attempt: number
  /** Attempts handed out in this process (≥ `attempt`, which is the last logged one). */
  dispatches: number
  updatedAt: number
  error: string | undefined
  /** The encoded output once succeeded. */
  output: unknown
  holder: Holder
  /** Set while a worker runs it (guards against two runs in one process). */
  executing: boolean
  /** When the current holder took it (reconciler's "abandoned" rule). */
  heldSince: number
  /** Retry schedule state, created at the first failure. */
  step: ((now: number, input: unknown) => Effect.Effect<unknown, unknown>) | undefined
}

/** What remains of a task once final. */
export interface FinalRecord {
  readonly id: string
  readonly type: string
  readonly tenant: string
  readonly key: string | undefined
  readonly status: Status
  readonly attempt: number
  readonly acceptedAt: number
  readonly updatedAt: number
  readonly output: unknown
  readonly error: string | undefined
}

/** A task as written in the `TasksAccepted` event. */
export interface AcceptedTask {
  readonly id: string
  readonly type: string
  readonly tenant: string
  readonly key?: string | undefined
  readonly payload: unknown
  readonly at: number
}

/** A task as `Pipeline.Options.onAccept` sees it. */
export interface Accepted {
  readonly id: string
  readonly taskType: string
  readonly tenant: string
  readonly key: string | undefined
  readonly acceptedAt: number
  /** The decoded payload; undefined when the type is not registered or the stored payload does not decode. */
  readonly payload: unknown
  /** True while the pipeline replays its log at start, false for submissions of this run. */
  readonly replayed: boolean
}

/** A fact about tasks, as folded into the index (the decoded form of a log event). */
export type Fact =
  | {
    readonly kind: "accepted"
    readonly tasks: ReadonlyArray<AcceptedTask>
    /** The decoded payloads, when the front desk already has them (not logged). */
    readonly decoded?: ReadonlyArray<unknown> | undefined
  }
  | { readonly kind: "dispatched" | "running"; readonly id: string; readonly attempt: number }
  | { readonly kind: "succeeded"; readonly id: string; readonly attempt: number; readonly output: unknown }
  | { readonly kind: "retrying"; readonly id: string; readonly attempt: number; readonly error: string; readonly retryAt: number }
  | { readonly kind: "failed" | "compensated"; readonly id: string; readonly attempt: number; readonly error: string }

type Entry = Fact & { readonly done?: ((exit: Exit.Exit<void, Journal.AppendError>) => void) | undefined }

/**
 * Event types of the log. Accepted tasks go in `TasksAccepted` (with their payloads); every
 * status report that arrives in one writer batch goes, in arrival order, into one
 * `TasksProgressed` event (one row for hundreds of reports). Logs written before
 * `TasksProgressed` existed hold one event per run of reports of one kind (`TasksDispatched`,
 * `TasksRunning`, ...): replay still reads them.
 */
const ACCEPTED = "TasksAccepted"
const PROGRESSED = "TasksProgressed"
const legacyProgress = {
  TasksDispatched: "dispatched",
  TasksRunning: "running",
  TasksSucceeded: "succeeded",
  TasksRetrying: "retrying",
  TasksFailed: "failed",
  TasksCompensated: "compensated"
} as const

// Schemas of the stored events: the log is a boundary, so replay decodes with them.
const AcceptedEvent = Schema.Struct({
  at: Schema.optional(Schema.Number),
  tasks: Schema.Array(Schema.Struct({
    id: Schema.String,
    type: Schema.String,
    tenant: Schema.String,
    key: Schema.optional(Schema.String),
    payload: Schema.Unknown,
    at: Schema.Number
  }))
})
/** One report in a `TasksProgressed` event: `[kind, task id, attempt, ...details]`. */
const ProgressFact = Schema.Union([
  Schema.Tuple([Schema.Literals(["dispatched", "running"]), Schema.String, Schema.Number]),
  Schema.Tuple([Schema.Literal("succeeded"), Schema.String, Schema.Number, Schema.Unknown]),
  Schema.Tuple([Schema.Literal("retrying"), Schema.String, Schema.Number, Schema.String, Schema.Number]),
  Schema.Tuple([Schema.Literals(["failed", "compensated"]), Schema.String, Schema.Number, Schema.String])
])
const ProgressedEvent = Schema.Struct({ at: Schema.Number, facts: Schema.Array(ProgressFact) })
// The per-kind events of older logs.
const ProgressEvent = Schema.Struct({ at: Schema.Number, tasks: Schema.Array(Schema.Tuple([Schema.String, Schema.Number])) })
const SucceededEvent = Schema.Struct({
  at: Schema.Number,
  tasks: Schema.Array(Schema.Tuple([Schema.String, Schema.Number, Schema.Unknown]))
})
const RetryingEvent = Schema.Struct({
  at: Schema.Number,
  tasks: Schema.Array(Schema.Tuple([Schema.String, Schema.Number, Schema.String, Schema.Number]))
})
const FailedEvent = Schema.Struct({
  at: Schema.Number,
  tasks: Schema.Array(Schema.Tuple([Schema.String, Schema.Number, Schema.String]))
})

const decodeAccepted = SchemaParser.decodeUnknownExit(AcceptedEvent)
const decodeProgressed = SchemaParser.decodeUnknownExit(ProgressedEvent)
const decodeProgress = SchemaParser.decodeUnknownExit(ProgressEvent)
const decodeSucceeded = SchemaParser.decodeUnknownExit(SucceededEvent)
const decodeRetrying = SchemaParser.decodeUnknownExit(RetryingEvent)
const decodeFailed = SchemaParser.decodeUnknownExit(FailedEvent)

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** The first issue of a Schema failure as (field path, reason). */
export const firstIssue = (issue: SchemaIssue.Issue): { readonly field: string; readonly reason: string } => {
  const issues = formatter(issue).issues
  const first = issues[0]
  if (first === undefined) return { field: "payload", reason: String(issue) }
  const path = (first.path ?? []).map((p) => typeof p === "object" && p !== null && "key" in p ? p.key : p)
  const field = ["payload", ...path.map((p) => String(p))].join(".")
  return { field, reason: first.message }
}

/** Decodes a payload with its type's Schema, or names the bad field. */
export const decodePayload = (type: TaskType.Any, raw: unknown): InvalidPayload | { readonly value: unknown } => {
  const exit = SchemaParser.decodeUnknownExit(type.payload as Schema.Codec<unknown, unknown>)(raw)
  if (Exit.isSuccess(exit)) return { value: exit.value }
  const failure = Cause.findErrorOption(exit.cause)
  if (failure._tag === "Some") {
    const { field, reason } = firstIssue(failure.value)
    return new InvalidPayload({ taskType: type.name, field, reason })
  }
  return new InvalidPayload({ taskType: type.name, field: "payload", reason: Cause.pretty(exit.cause) })
}

/** Encodes a decoded payload for the log. */
export const encodePayload = (type: TaskType.Any, value: unknown): InvalidPayload | { readonly value: unknown } => {
  const exit = SchemaParser.encodeUnknownExit(type.payload as Schema.Codec<unknown, unknown>)(value)
  if (Exit.isSuccess(exit)) return { value: exit.value }
  const failure = Cause.findErrorOption(exit.cause)
  const { field, reason } = failure._tag === "Some"
    ? firstIssue(failure.value)
    : { field: "payload", reason: Cause.pretty(exit.cause) }
  return new InvalidPayload({ taskType: type.name, field, reason: `cannot be encoded: ${reason}` })
}

/** Encodes a handler output for the log (JSON value). */
export const encodeOutput = (type: TaskType.Any, value: unknown): unknown => {
  if (type.output === undefined) return value === undefined ? null : value
  const exit = SchemaParser.encodeUnknownExit(type.output as Schema.Codec<unknown, unknown>)(value)
  return Exit.isSuccess(exit) ? exit.value : null
}

/** Turns a stored event of a task log back into facts (replay, and tools reading the log). */
export const decodeEvent = (event: Journal.RecordedEvent): { readonly at: number; readonly facts: ReadonlyArray<Fact> } | CorruptLog => {
  const corrupt = (issue: SchemaIssue.Issue) =>
    new CorruptLog({ stream: event.stream, position: event.position, reason: formatter(issue).issues.map((i) => i.message).join("; ") })
  const fail = <A>(exit: Exit.Exit<A, SchemaIssue.Issue>): A | CorruptLog => {
    if (Exit.isSuccess(exit)) return exit.value
    const e = Cause.findErrorOption(exit.cause)
    return e._tag === "Some" ? corrupt(e.value) : new CorruptLog({ stream: event.stream, position: event.position, reason: "undecodable" })
  }
  const at = typeof (event.data as { at?: unknown })?.at === "number" ? (event.data as { at: number }).at : 0
  switch (event.type) {
    case ACCEPTED: {
      const d = fail(decodeAccepted(event.data))
      return d instanceof CorruptLog ? d : { at, facts: [{ kind: "accepted", tasks: d.tasks }] }
    }
    case PROGRESSED: {
      const d = fail(decodeProgressed(event.data))
      if (d instanceof CorruptLog) return d
      return { at, facts: d.facts.map(progressFact) }
    }
    case "TasksDispatched":
    case "TasksRunning": {
      const d = fail(decodeProgress(event.data))
      if (d instanceof CorruptLog) return d
      const kind = legacyProgress[event.type]
      return { at, facts: d.tasks.map(([id, attempt]) => ({ kind, id, attempt })) }
    }
    case "TasksSucceeded": {
      const d = fail(decodeSucceeded(event.data))
      if (d instanceof CorruptLog) return d
      return { at, facts: d.tasks.map(([id, attempt, output]) => ({ kind: "succeeded" as const, id, attempt, output })) }
    }
    case "TasksRetrying": {
      const d = fail(decodeRetrying(event.data))
      if (d instanceof CorruptLog) return d
      return {
        at,
        facts: d.tasks.map(([id, attempt, error, retryAt]) => ({ kind: "retrying" as const, id, attempt, error, retryAt }))
      }
    }
    case "TasksFailed":
    case "TasksCompensated": {
      const d = fail(decodeFailed(event.data))
      if (d instanceof CorruptLog) return d
      const kind = legacyProgress[event.type]
      return { at, facts: d.tasks.map(([id, attempt, error]) => ({ kind, id, attempt, error })) }
    }
    default:
      return new CorruptLog({ stream: event.stream, position: event.position, reason: `unknown event type ${event.type}` })
  }
}

/** Options of the core. */
export interface CoreOptions {
  readonly stream: string
  readonly maxBatch: number
  readonly retainFinal: number
  /** Least milliseconds between two log appends (0: append as soon as records wait). */
  readonly commitInterval: number
  /** Fault injection for tests: answer true to drop a status report (as if the message got lost). */
  readonly loseReport: ((id: string, status: Status) => boolean) | undefined
  /** Sees every task as it is folded into the index (see `Pipeline.Options.onAccept`). */
  readonly onAccept: ((task: Accepted) => void) | undefined
}

type Listener = (status: TaskStatus) => void

/** Builds the core; the log writer fiber lives in the scope. */
export const make = Effect.fnUntraced(function*(
  types: ReadonlyMap<string, TaskType.Any>,
  options: CoreOptions
): Effect.fn.Return<Core, never, Journal.Journal | Scope.Scope> {
  const journal = yield* Journal.Journal
  const clock = yield* Clock.Clock
  const queue = yield* Queue.unbounded<Entry>()
  const core = new Core(types, options, journal, () => clock.currentTimeMillisUnsafe(), queue)
  yield* Effect.forkScoped(core.writer)
  return core
})

/** The shared state; see the module comment. */
export class Core {
  readonly live = new Map<string, TaskRecord>()
  readonly finals = new Map<string, FinalRecord>()
  readonly keys = new Map<string, string>()
  readonly listeners = new Map<string, Set<Listener>>()
  readonly watchers = new Set<Listener>()
  readonly queue: Queue.Queue<Entry>
  /** Submissions validated and on their way into the log (admission counts them). */
  pendingAccepts = 0
  arrivals = 0
  completions = 0
  readonly depthByType = new Map<string, number>()
  /** Latencies (accepted → final, ms) since the backlog monitor last drained them. */
  latencies: Array<number> = []
  /** Called for each task accepted live (the dispatcher), and each live final (the guard). */
  onAccepted: (record: TaskRecord) => void = () => {}
  onFinal: (ids: ReadonlyArray<string>) => void = () => {}
  private readonly runId = Math.random().toString(36).slice(2, 10)
  private seq = 0
  readonly types: ReadonlyMap<string, TaskType.Any>
  readonly options: CoreOptions
  readonly journal: Journal.Journal["Service"]
  readonly now: () => number

  constructor(
    types: ReadonlyMap<string, TaskType.Any>,
    options: CoreOptions,
    journal: Journal.Journal["Service"],
    now: () => number,
    queue: Queue.Queue<Entry>
  ) {
    this.queue = queue
    this.types = types
    this.options = options
    this.journal = journal
    this.now = now
  }

  /** Queues a status report for the log (not awaited: the fold applies it once durable). */
  report(fact: Exclude<Fact, { kind: "accepted" }>): void {
    if (this.options.loseReport?.(fact.id, fact.kind)) return
    Queue.offerUnsafe(this.queue, fact)
  }

  /** Appends accepted tasks; succeeds once they are durable and folded into the index. */
  accept(tasks: ReadonlyArray<AcceptedTask>, decoded: ReadonlyArray<unknown>): Effect.Effect<void, Journal.AppendError> {
    return Effect.callback<void, Journal.AppendError>((resume) => {
      Queue.offerUnsafe(this.queue, {
        kind: "accepted",
        tasks,
        decoded,
        done: (exit: Exit.Exit<void, Journal.AppendError>) => resume(exit)
      })
    })
  }

  /** The writer fiber: one journal append per batch of records. */
  get writer(): Effect.Effect<never> {
    const self = this
    return Effect.gen(function*() {
      let last = -Infinity
      while (true) {
        const interval = self.options.commitInterval
        if (interval > 0) {
          // Fewer, larger commits: wait out the rest of the interval since the last one.
          const wait = last + interval - self.now()
          if (wait > 0) yield* Effect.sleep(wait)
        }
        const entries = yield* Queue.takeBetween(self.queue, 1, self.options.maxBatch)
        last = self.now()
        const at = self.now()
        const events = self.encode(entries, at)
        const exit = yield* Effect.exit(self.journal.append(self.options.stream, events, "any"))
        if (Exit.isSuccess(exit)) {
          for (const entry of entries) self.apply(entry, at, true)
          for (const entry of entries) entry.done?.(Exit.void)
        } else {
          yield* Effect.logWarning(
            `task log ${self.options.stream}: append of ${entries.length} records failed; accepted submissions get the error, ` +
              `status reports are lost until the reconciler re-dispatches`,
            exit.cause
          )
          for (const entry of entries) entry.done?.(exit as Exit.Exit<never, Journal.AppendError>)
        }
      }
    })
  }

  private encode(entries: ReadonlyArray<Entry>, at: number): Array<Journal.EventData> {
    const events: Array<Journal.EventData> = []
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
        continue
      }
      if (accepted !== undefined) flush()
      facts ??= []
      switch (e.kind) {
        case "dispatched":
        case "running":
          facts.push([e.kind, e.id, e.attempt])
          break
        case "succeeded":
          facts.push([e.kind, e.id, e.attempt, e.output === undefined ? null : e.output])
          break
        case "retrying":
          facts.push([e.kind, e.id, e.attempt, e.error, e.retryAt])
          break
        case "failed":
        case "compensated":
          facts.push([e.kind, e.id, e.attempt, e.error])
      }
    }
    flush()
    return events
  }

  /** Turns a stored event back into facts (replay). */
  decode(event: Journal.RecordedEvent): { readonly at: number; readonly facts: ReadonlyArray<Fact> } | CorruptLog {
    return decodeEvent(event)
  }

  /** Rebuilds the index from the log (start-up); answers how many events were read. */
  replay(): Effect.Effect<number, CorruptLog | Journal.ReadError> {
    const self = this
    return Effect.gen(function*() {
      let from = 1
      let count = 0
      while (true) {
        const page = yield* self.journal.readStream(self.options.stream, from, 256)
        for (const event of page) {
          const decoded = self.decode(event)
          if (decoded instanceof CorruptLog) return yield* decoded
          for (const fact of decoded.facts) self.apply(fact, decoded.at, false)
          count++
        }
        if (page.length < 256) return count
        from = page[page.length - 1]!.version + 1
      }
    })
  }

  /** Folds one committed fact into the index. `live` = just written by this process. */
  apply(fact: Fact, at: number, live: boolean): void {
    if (fact.kind === "accepted") {
      const tasks = fact.tasks
      for (let i = 0; i < tasks.length; i++) {
        const t = tasks[i]!
        if (this.live.has(t.id) || this.finals.has(t.id)) continue
        const type = this.types.get(t.type)
        let payload: unknown = undefined
        if (fact.decoded !== undefined) payload = fact.decoded[i]
        else if (type !== undefined) {
          const decoded = decodePayload(type, t.payload)
          payload = "value" in decoded ? decoded.value : undefined
        }
        const record: TaskRecord = {
          id: t.id,
          type: t.type,
          tenant: t.tenant,
          key: t.key,
          acceptedAt: t.at,
          payload,
          status: "accepted",
          attempt: 0,
          dispatches: 0,
          updatedAt: t.at,
          error: undefined,
          output: undefined,
          holder: "idle",
          executing: false,
          heldSince: t.at,
          step: undefined
        }
        this.live.set(t.id, record)
        if (t.key !== undefined) this.keys.set(t.key, t.id)
        this.depthByType.set(t.type, (this.depthByType.get(t.type) ?? 0) + 1)
        this.arrivals++
        this.notify(record)
        this.options.onAccept?.({ id: t.id, taskType: t.type, tenant: t.tenant, key: t.key, acceptedAt: t.at, payload, replayed: !live })
        if (live) this.onAccepted(record)
      }
      return
    }
    const record = this.live.get(fact.id)
    if (record === undefined) return // already final (a duplicate run's report) or unknown
    record.attempt = Math.max(record.attempt, fact.attempt)
    record.dispatches = Math.max(record.dispatches, record.attempt)
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
        this.notify(record)
        return
      case "succeeded":
      case "failed":
      case "compensated": {
        // The record itself becomes the final entry (no copy: one allocation less per task).
        this.live.delete(record.id)
        record.status = fact.kind
        record.payload = undefined
        record.step = undefined
        if (fact.kind === "succeeded") {
          record.output = fact.output
          record.error = undefined
        } else {
          record.error = fact.error
        }
        const final: FinalRecord = record
        this.finals.set(record.id, final)
        if (this.finals.size > this.options.retainFinal) {
          const oldest = this.finals.keys().next().value!
          const evicted = this.finals.get(oldest)
          this.finals.delete(oldest)
          if (evicted?.key !== undefined && this.keys.get(evicted.key) === oldest) this.keys.delete(evicted.key)
        }
        this.depthByType.set(record.type, (this.depthByType.get(record.type) ?? 1) - 1)
        this.completions++
        if (this.latencies.length < 100_000) this.latencies.push(at - record.acceptedAt)
        this.notify(final)
        if (live) this.onFinal([record.id])
      }
    }
  }

  /** The status of a task, live or final. */
  statusOf(id: string): TaskStatus | undefined {
    const record = this.live.get(id) ?? this.finals.get(id)
    return record === undefined ? undefined : toStatus(record)
  }

  private notify(record: FinalRecord): void {
    if (this.watchers.size === 0 && this.listeners.size === 0) return
    this.emit(toStatus(record))
  }

  private emit(status: TaskStatus): void {
    for (const w of this.watchers) w(status)
    const set = this.listeners.get(status.id)
    if (set !== undefined) for (const l of set) l(status)
  }

  /** Live tasks, oldest first (Map keeps acceptance order). */
  oldest(): TaskRecord | undefined {
    return this.live.values().next().value
  }
}

const progressFact = (f: typeof ProgressFact.Type): Exclude<Fact, { kind: "accepted" }> => {
  switch (f[0]) {
    case "dispatched":
    case "running":
      return { kind: f[0], id: f[1], attempt: f[2] }
    case "succeeded":
      return { kind: f[0], id: f[1], attempt: f[2], output: f[3] }
    case "retrying":
      return { kind: f[0], id: f[1], attempt: f[2], error: f[3], retryAt: f[4] }
    case "failed":
    case "compensated":
      return { kind: f[0], id: f[1], attempt: f[2], error: f[3] }
  }
}

/**
 * A task's status as `status` answers it. Live and final tasks alike: a live record is a
 * `FinalRecord` too (a task's record becomes its final entry), and its `output` is set only
 * once it succeeded.
 */
const toStatus = (r: FinalRecord): TaskStatus => {
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
  return s
}

/** True when `status` is final (re-exported for internal modules). */
export { isFinal }
