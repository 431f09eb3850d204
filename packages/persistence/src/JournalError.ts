/**
 * The typed failures of the journal (re-exported by `Journal`): each names what was wrong and
 * with which stream, version or position.
 */
import { Schema } from "effect"

/** The stream is not at the version the writer expected; re-read it and decide again. */
export class WrongExpectedVersion extends Schema.TaggedError<WrongExpectedVersion>()("WrongExpectedVersion", {
  stream: Schema.String,
  expected: Schema.Union([Schema.Number, Schema.Literal("any")]),
  actual: Schema.Number
}) {
  override get message() {
    return `Stream "${this.stream}" is at version ${this.actual}, but the append expected version ${this.expected}`
  }
}

/** Some, but not all, of the appended event ids are already in the stream (or an id repeats). */
export class EventIdConflict extends Schema.TaggedError<EventIdConflict>()("EventIdConflict", {
  stream: Schema.String,
  ids: Schema.Array(Schema.String),
  reason: Schema.String
}) {
  override get message() {
    return `Append to stream "${this.stream}" conflicts on event ids ${this.ids.join(", ")}: ${this.reason}`
  }
}

/** The append request itself is malformed (bad stream name, version, id, type or payload). */
export class InvalidAppend extends Schema.TaggedError<InvalidAppend>()("InvalidAppend", {
  stream: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `Invalid append to stream "${this.stream}": ${this.reason}`
  }
}

/** A stored event cannot be read: the row is damaged or its payload is not valid JSON. */
export class CorruptEvent extends Schema.TaggedError<CorruptEvent>()("CorruptEvent", {
  stream: Schema.String,
  position: Schema.Number,
  reason: Schema.String
}) {
  override get message() {
    return `Event at position ${this.position} of stream "${this.stream}" is corrupt: ${this.reason}`
  }
}

/**
 * Events are missing where the journal guarantees there are none: a stream's versions skip
 * (`kind: "version"`: `expected` and `found` are versions of `stream`), or, where global
 * positions are contiguous (SQLite), the positions skip (`kind: "position"`: `expected` and
 * `found` are positions; `stream` is the stream of the event found). The journal never deletes
 * events, so a row was deleted by hand or the database is damaged. Nothing past the gap was read.
 */
export class JournalGap extends Schema.TaggedError<JournalGap>()("JournalGap", {
  kind: Schema.Literals(["version", "position"]),
  stream: Schema.String,
  /** The version (`kind: "version"`) or position (`kind: "position"`) that should have come next. */
  expected: Schema.Number,
  /** The version or position found instead. */
  found: Schema.Number,
  /** The global position of the event found after the gap. */
  position: Schema.Number
}) {
  override get message() {
    const what = this.kind === "version"
      ? `Stream "${this.stream}" is missing events: expected version ${this.expected}, found version ${this.found} (at position ${this.position})`
      : `The journal is missing events: expected position ${this.expected}, found position ${this.found} (stream "${this.stream}")`
    return `${what}. The journal never deletes events, so a row was deleted by hand or the database is damaged: ` +
      "restore it from a backup; nothing past the gap was read"
  }
}

/**
 * The storage is full (SQLite: the disk, or the database's `max_page_count`; PostgreSQL: disk
 * full, SQLSTATE 53100). Nothing of the failed operation was written. Once space is freed the
 * next append succeeds on the same journal: no restart, no reopening.
 */
export class StorageFull extends Schema.TaggedError<StorageFull>()("StorageFull", {
  operation: Schema.String,
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message() {
    return `Journal ${this.operation} failed: the storage is full (${this.reason}); nothing of this ${this.operation} ` +
      "was written. Free disk space (or raise the database's size limit) and retry: the journal carries on without a restart"
  }
}

/** The storage under the journal failed (I/O, connection, closed journal). */
export class JournalError extends Schema.TaggedError<JournalError>()("JournalError", {
  operation: Schema.String,
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message() {
    return `Journal ${this.operation} failed: ${this.reason}`
  }
}

