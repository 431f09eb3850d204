/**
 * Reading a pipeline's request log from outside the pipeline (tools, read models, apps that show
 * what was submitted): `decode` turns one stored event of the log stream into the facts the
 * pipeline folds — tasks accepted (with their encoded payloads) and status reports — whatever
 * version of the log format wrote it.
 *
 * @example
 * ```ts
 * const events = yield* journal.readStream("mailroom-tasks")
 * for (const event of events) {
 *   const decoded = TaskLog.decode(event)
 *   if (decoded instanceof TaskError.CorruptLog) return yield* decoded
 *   for (const fact of decoded.facts) if (fact.kind === "succeeded") console.log(fact.id, fact.output)
 * }
 * ```
 */
import type { Journal } from "@mailroom/persistence"
import { type AcceptedTask, decodeEvent, eventTypes as logEventTypes, type Fact } from "./internal/log.js"
import type { CorruptLog } from "./TaskError.js"

/** A task as the log records its acceptance (payload in its encoded form). */
export type Accepted = AcceptedTask

/** One fact of the log: tasks accepted, or one status report of one task. */
export type LogFact =
  | { readonly kind: "accepted"; readonly tasks: ReadonlyArray<Accepted> }
  | Exclude<Fact, { kind: "accepted" }>

/** Event types a task log holds (current and earlier formats). */
export const eventTypes: ReadonlyArray<string> = logEventTypes

/**
 * Decodes one event of a task log: the time it was written (`at`, epoch ms) and its facts in
 * order; a `CorruptLog` naming stream, position and what is wrong when the event is not a task
 * log event or does not decode.
 */
export const decode: (event: Journal.RecordedEvent) => { readonly at: number; readonly facts: ReadonlyArray<LogFact> } | CorruptLog =
  decodeEvent
