/**
 * The typed failures of the task pipeline. Each says what happened, with the offending value,
 * and what to do about it.
 */
import { Schema } from "effect"

/** The payload does not match the task type's Schema; `field` is the path of the first bad field. */
export class InvalidPayload extends Schema.TaggedError<InvalidPayload>()("InvalidPayload", {
  taskType: Schema.String,
  field: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid payload for task type "${this.taskType}" at ${this.field}: ${this.reason}; nothing was recorded`
  }
}

/** The payload is larger (as JSON) than the task type allows. */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", {
  taskType: Schema.String,
  bytes: Schema.Number,
  limit: Schema.Number
}) {
  override get message(): string {
    return `payload for task type "${this.taskType}" is ${this.bytes} bytes as JSON, over the limit of ${this.limit}; ` +
      `store large data elsewhere and submit a reference, or raise maxPayloadBytes; nothing was recorded`
  }
}

/** The task type was not registered with the pipeline. */
export class UnknownTaskType extends Schema.TaggedError<UnknownTaskType>()("UnknownTaskType", {
  taskType: Schema.String
}) {
  override get message(): string {
    return `task type "${this.taskType}" is not registered; pass it in Pipeline options \`types\``
  }
}

/**
 * Admission control refused the submission: the backlog is above its high-water mark or the
 * tenant is over its rate. Nothing was recorded; retry after `retryAfter` milliseconds.
 */
export class Overloaded extends Schema.TaggedError<Overloaded>()("Overloaded", {
  reason: Schema.Literals(["backlog", "tenant-rate"]),
  tenant: Schema.String,
  /** Milliseconds after which a retry is likely to be admitted. */
  retryAfter: Schema.Number,
  detail: Schema.String
}) {
  override get message(): string {
    return `overloaded (${this.reason}) for tenant "${this.tenant}": ${this.detail}; retry after ${this.retryAfter} ms`
  }
}

/**
 * An idempotency key was used again with a different payload. Keys are scoped by task type and
 * tenant (and parent, for children): the same key under another type or tenant is another task.
 */
export class IdempotencyConflict extends Schema.TaggedError<IdempotencyConflict>()("IdempotencyConflict", {
  taskType: Schema.String,
  tenant: Schema.String,
  key: Schema.String,
  /** The ticket the key was first used for. */
  ticket: Schema.String
}) {
  override get message(): string {
    return `idempotency key ${JSON.stringify(this.key)} of tenant "${this.tenant}" was already used for task type ` +
      `"${this.taskType}" with a different payload (ticket ${this.ticket}); use a new key for a new task; nothing was recorded`
  }
}

/** The pipeline was closed (its scope ended): nothing more is accepted or reported here. */
export class PipelineClosed extends Schema.TaggedError<PipelineClosed>()("PipelineClosed", {
  stream: Schema.String
}) {
  override get message(): string {
    return `the task pipeline of request log "${this.stream}" is closed; submissions not yet acknowledged were not recorded`
  }
}

/**
 * Another writer appended to this pipeline's request log: two pipelines were started on one
 * stream. This one stops (its submissions in flight fail, nothing more is written) so the index
 * of the other stays right.
 */
export class LogOwnershipLost extends Schema.TaggedError<LogOwnershipLost>()("LogOwnershipLost", {
  stream: Schema.String,
  expected: Schema.Number,
  found: Schema.Number
}) {
  override get message(): string {
    return `request log "${this.stream}" was written by another process (expected version ${this.expected}, found ` +
      `${this.found}); this pipeline stopped: run one pipeline per stream`
  }
}

/** A handler spawned children in a way the pipeline cannot record. */
export class InvalidSpawn extends Schema.TaggedError<InvalidSpawn>()("InvalidSpawn", {
  taskType: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot spawn child tasks from task type "${this.taskType}": ${this.reason}`
  }
}

/** No task with this ticket id is known (never submitted here, or evicted after `retainFinal`). */
export class TicketNotFound extends Schema.TaggedError<TicketNotFound>()("TicketNotFound", {
  ticket: Schema.String
}) {
  override get message(): string {
    return `no task with ticket "${this.ticket}" (never accepted here, or its final status was evicted past retainFinal)`
  }
}

/** A handler ran longer than its task type's timeout (counted as a failure, retried per its Schedule). */
export class TaskTimeout extends Schema.TaggedError<TaskTimeout>()("TaskTimeout", {
  taskType: Schema.String,
  timeout: Schema.Number
}) {
  override get message(): string {
    return `handler of task type "${this.taskType}" did not finish within ${this.timeout} ms`
  }
}

/** The request log (journal) holds an event the pipeline cannot read. */
export class CorruptLog extends Schema.TaggedError<CorruptLog>()("CorruptLog", {
  stream: Schema.String,
  position: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `task log "${this.stream}" has an unreadable event at position ${this.position}: ${this.reason}`
  }
}

/** A pipeline or task type option is out of range. */
export class InvalidTaskConfig extends Schema.TaggedError<InvalidTaskConfig>()("InvalidTaskConfig", {
  option: Schema.String,
  value: Schema.String,
  expected: Schema.String
}) {
  override get message(): string {
    return `invalid task option ${this.option}: got ${this.value}, expected ${this.expected}`
  }
}
