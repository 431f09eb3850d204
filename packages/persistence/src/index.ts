/**
 * @mailroom/persistence: event sourcing for Mailroom — journals (memory, SQLite, PostgreSQL)
 * with optimistic concurrency, idempotent appends and group commit; projections with
 * transactional checkpoints; schema evolution by upcasting; replay.
 */
export * as Journal from "./Journal.js"
export * as SqliteClient from "./SqliteClient.js"
export * as SqlJournal from "./SqlJournal.js"
export * as Upcast from "./Upcast.js"
export * as Projection from "./Projection.js"
export * as Replay from "./Replay.js"
export * as Snapshot from "./Snapshot.js"
export * as EventSourced from "./EventSourced.js"
export * as DataFolder from "./DataFolder.js"
export * as Ddl from "./Ddl.js"
