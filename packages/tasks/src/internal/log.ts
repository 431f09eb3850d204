/**
 * The request log's format: the events a pipeline appends to its journal stream, their Schemas
 * (the log is a boundary: replay decodes with them), and the payload/output codecs.
 *
 * - `TasksAccepted { at, tasks: [{ id, type, tenant, key?, parent?, priority?, deadline?, payload, at }] }`
 * - `TasksProgressed { at, facts: [[kind, task id, attempt, ...details], ...] }`: every status
 *   report of one writer batch, in arrival order (one row for hundreds of reports).
 * - Logs written before `TasksProgressed` existed hold one event per run of reports of one kind
 *   (`TasksDispatched`, `TasksRunning`, ...): replay still reads them.
 */
import { Cause, Exit, Schema } from "effect"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaParser from "effect/SchemaParser"
import type { Journal } from "@mailroom/persistence"
import { CorruptLog, InvalidPayload } from "../TaskError.js"
import type * as TaskType from "../TaskType.js"

/** A task as written in the `TasksAccepted` event (payload in its encoded form). */
export interface AcceptedTask {
  readonly id: string
  readonly type: string
  readonly tenant: string
  /** The idempotency key as submitted (scoped by type, tenant and parent in the index). */
  readonly key?: string | undefined
  /** Hash of the encoded payload, for keyed tasks (a key reused with another payload is a conflict). */
  readonly hash?: string | undefined
  /** The parent task, for a child spawned by a handler. */
  readonly parent?: string | undefined
  /** Scheduler priority (higher first under the `priority` policy). */
  readonly priority?: number | undefined
  /** Absolute deadline (epoch ms) for the scheduler's earliest-deadline policy. */
  readonly deadline?: number | undefined
  readonly payload: unknown
  /** Epoch ms of acceptance. */
  readonly at: number
}

/** A status report, as folded into the index. */
export type Report =
  | { readonly kind: "dispatched" | "running"; readonly id: string; readonly attempt: number }
  | { readonly kind: "succeeded" | "waiting"; readonly id: string; readonly attempt: number; readonly output: unknown }
  | { readonly kind: "retrying"; readonly id: string; readonly attempt: number; readonly error: string; readonly retryAt: number }
  | { readonly kind: "failed" | "compensated"; readonly id: string; readonly attempt: number; readonly error: string }

/** A fact about tasks, as folded into the index (the decoded form of a log event). */
export type Fact =
  | { readonly kind: "accepted"; readonly tasks: ReadonlyArray<AcceptedTask> }
  | Report

export const ACCEPTED = "TasksAccepted"
export const PROGRESSED = "TasksProgressed"
const legacyProgress = {
  TasksDispatched: "dispatched",
  TasksRunning: "running",
  TasksSucceeded: "succeeded",
  TasksRetrying: "retrying",
  TasksFailed: "failed",
  TasksCompensated: "compensated"
} as const

/** Event types a task log holds (current and earlier formats). */
export const eventTypes: ReadonlyArray<string> = [ACCEPTED, PROGRESSED, ...Object.keys(legacyProgress)]

const AcceptedEvent = Schema.Struct({
  at: Schema.optional(Schema.Number),
  tasks: Schema.Array(Schema.Struct({
    id: Schema.String,
    type: Schema.String,
    tenant: Schema.String,
    key: Schema.optional(Schema.String),
    hash: Schema.optional(Schema.String),
    parent: Schema.optional(Schema.String),
    priority: Schema.optional(Schema.Number),
    deadline: Schema.optional(Schema.Number),
    payload: Schema.Unknown,
    at: Schema.Number
  }))
})
/** One report in a `TasksProgressed` event: `[kind, task id, attempt, ...details]`. */
const ProgressFact = Schema.Union([
  Schema.Tuple([Schema.Literals(["dispatched", "running"]), Schema.String, Schema.Number]),
  Schema.Tuple([Schema.Literals(["succeeded", "waiting"]), Schema.String, Schema.Number, Schema.Unknown]),
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

const jsonCodecs = new WeakMap<object, Schema.Codec<unknown, unknown>>()

/**
 * The JSON form of a Schema (`Schema.toCodecJson`): what the log stores. A payload Schema whose
 * encoded side is not JSON (a `Schema.Date`, a `Map`) still round-trips through the log.
 */
const jsonCodec = (schema: Schema.Codec<any, any>): Schema.Codec<unknown, unknown> => {
  let codec = jsonCodecs.get(schema)
  if (codec === undefined) {
    codec = Schema.toCodecJson(schema as Schema.Codec<unknown, unknown>) as unknown as Schema.Codec<unknown, unknown>
    jsonCodecs.set(schema, codec)
  }
  return codec
}

const invalid = (type: TaskType.Any, exit: Exit.Exit<unknown, SchemaIssue.Issue>, prefix: string): InvalidPayload => {
  const failure = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : undefined
  if (failure?._tag === "Some") {
    const { field, reason } = firstIssue(failure.value)
    return new InvalidPayload({ taskType: type.name, field, reason: prefix + reason })
  }
  return new InvalidPayload({ taskType: type.name, field: "payload", reason: prefix + (Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "") })
}

/** Decodes a submitted payload (the encoded side of the type's Schema), or names the bad field. */
export const decodePayload = (type: TaskType.Any, raw: unknown): InvalidPayload | { readonly value: unknown } => {
  const exit = SchemaParser.decodeUnknownExit(type.payload as Schema.Codec<unknown, unknown>)(raw)
  return Exit.isSuccess(exit) ? { value: exit.value } : invalid(type, exit, "")
}

/** Decodes a payload as the log stores it (JSON). */
export const decodeStored = (type: TaskType.Any, json: unknown): InvalidPayload | { readonly value: unknown } => {
  const exit = SchemaParser.decodeUnknownExit(jsonCodec(type.payload))(json)
  return Exit.isSuccess(exit) ? { value: exit.value } : invalid(type, exit, "")
}

/** Encodes a decoded payload for the log (JSON). */
export const encodePayload = (type: TaskType.Any, value: unknown): InvalidPayload | { readonly value: unknown } => {
  const exit = SchemaParser.encodeUnknownExit(jsonCodec(type.payload))(value)
  return Exit.isSuccess(exit) ? { value: exit.value } : invalid(type, exit, "cannot be encoded: ")
}

/** Encodes a handler output for the log (JSON value). */
export const encodeOutput = (type: TaskType.Any, value: unknown): unknown => {
  if (type.output === undefined) return value === undefined ? null : value
  const exit = SchemaParser.encodeUnknownExit(jsonCodec(type.output))(value)
  return Exit.isSuccess(exit) ? exit.value : null
}

/**
 * A 53-bit hash of a string (two 32-bit multiply-xor lanes): how the index remembers which
 * payload an idempotency key was first used with, without keeping the payload.
 */
export const hashText = (text: string): string => {
  let h1 = 0xdeadbeef
  let h2 = 0x41c6ce57
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 2654435761)
    h2 = Math.imul(h2 ^ c, 1597334677)
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909)
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909)
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36)
}

/** The hash of an encoded payload (see `hashText`). */
export const hashPayload = (encoded: unknown): string => hashText(JSON.stringify(encoded) ?? "")

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
      // Replay's hot path: a plain check first; the Schema only to say what is wrong.
      const fast = acceptedFast(event.data)
      if (fast !== undefined) return { at, facts: [{ kind: "accepted", tasks: fast }] }
      const d = fail(decodeAccepted(event.data))
      return d instanceof CorruptLog ? d : { at, facts: [{ kind: "accepted", tasks: d.tasks }] }
    }
    case PROGRESSED: {
      const fast = progressedFast(event.data)
      if (fast !== undefined) return { at, facts: fast }
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

const isStr = (v: unknown): v is string => typeof v === "string"
const isNum = (v: unknown): v is number => typeof v === "number"
const optStr = (v: unknown) => v === undefined || typeof v === "string"
const optNum = (v: unknown) => v === undefined || typeof v === "number"

/** `AcceptedEvent`'s tasks when `data` is exactly what the Schema accepts, else undefined. */
const acceptedFast = (data: unknown): ReadonlyArray<AcceptedTask> | undefined => {
  if (typeof data !== "object" || data === null) return undefined
  const d = data as { at?: unknown; tasks?: unknown }
  if (!optNum(d.at) || !Array.isArray(d.tasks)) return undefined
  for (const t of d.tasks as Array<Record<string, unknown>>) {
    if (
      typeof t !== "object" || t === null || !isStr(t.id) || !isStr(t.type) || !isStr(t.tenant) || !optStr(t.key) ||
      !optStr(t.hash) || !optStr(t.parent) || !optNum(t.priority) || !optNum(t.deadline) || !("payload" in t) || !isNum(t.at)
    ) return undefined
  }
  return d.tasks as ReadonlyArray<AcceptedTask>
}

/** `ProgressedEvent`'s facts when `data` is exactly what the Schema accepts, else undefined. */
const progressedFast = (data: unknown): ReadonlyArray<Report> | undefined => {
  if (typeof data !== "object" || data === null) return undefined
  const d = data as { at?: unknown; facts?: unknown }
  if (!isNum(d.at) || !Array.isArray(d.facts)) return undefined
  const facts = d.facts as Array<unknown>
  const out: Array<Report> = []
  for (let i = 0; i < facts.length; i++) {
    const f = facts[i] as Array<unknown>
    if (!Array.isArray(f) || !isStr(f[1]) || !isNum(f[2])) return undefined
    switch (f[0]) {
      case "dispatched":
      case "running":
        if (f.length !== 3) return undefined
        out.push({ kind: f[0], id: f[1], attempt: f[2] })
        break
      case "succeeded":
      case "waiting":
        if (f.length !== 4) return undefined
        out.push({ kind: f[0], id: f[1], attempt: f[2], output: f[3] })
        break
      case "retrying":
        if (f.length !== 5 || !isStr(f[3]) || !isNum(f[4])) return undefined
        out.push({ kind: f[0], id: f[1], attempt: f[2], error: f[3], retryAt: f[4] })
        break
      case "failed":
      case "compensated":
        if (f.length !== 4 || !isStr(f[3])) return undefined
        out.push({ kind: f[0], id: f[1], attempt: f[2], error: f[3] })
        break
      default:
        return undefined
    }
  }
  return out
}

const progressFact = (f: typeof ProgressFact.Type): Report => {
  switch (f[0]) {
    case "dispatched":
    case "running":
      return { kind: f[0], id: f[1], attempt: f[2] }
    case "succeeded":
    case "waiting":
      return { kind: f[0], id: f[1], attempt: f[2], output: f[3] }
    case "retrying":
      return { kind: f[0], id: f[1], attempt: f[2], error: f[3], retryAt: f[4] }
    case "failed":
    case "compensated":
      return { kind: f[0], id: f[1], attempt: f[2], error: f[3] }
  }
}

/** A report as one entry of a `TasksProgressed` event. */
export const encodeReport = (r: Report): ReadonlyArray<unknown> => {
  switch (r.kind) {
    case "dispatched":
    case "running":
      return [r.kind, r.id, r.attempt]
    case "succeeded":
    case "waiting":
      return [r.kind, r.id, r.attempt, r.output === undefined ? null : r.output]
    case "retrying":
      return [r.kind, r.id, r.attempt, r.error, r.retryAt]
    case "failed":
    case "compensated":
      return [r.kind, r.id, r.attempt, r.error]
  }
}
