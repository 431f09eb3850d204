/**
 * Task status, answered from the fold of the request log: every transition (accepted,
 * dispatched, running, retrying, waiting, succeeded, failed, compensated) is an event in the
 * journal, and the pipeline folds them into its index on start-up and after each append. `get`
 * answers at any time (with the task's payload when asked: from memory while the task is live,
 * from its `TasksAccepted` event in the log once it is final); `changes` streams one task's
 * transitions until it is final; `watch` streams all. When the pipeline closes, every waiting
 * `changes`/`awaitFinal` fails with `PipelineClosed` and `watch` ends.
 */
import { Cause, Context, Effect, Queue, Stream } from "effect"
import type { Journal } from "@mailroom/persistence"
import { type Ledger, type Listener, toStatus } from "./internal/ledger.js"
import { decodeEvent, decodeStored } from "./internal/log.js"
import { CorruptLog, type LogOwnershipLost, type PipelineClosed, TicketNotFound } from "./TaskError.js"
import { isFinal, type TaskStatus, type Ticket } from "./Ticket.js"

/** Why a waiting caller was answered without a final status: the pipeline stopped. */
export type Stopped = PipelineClosed | LogOwnershipLost

/** Options of `get`. */
export interface GetOptions {
  /** Include the task's decoded payload (read from the log for final tasks). */
  readonly payload?: boolean | undefined
}

/** The status service. */
export class Status extends Context.Service<Status, {
  /** The current status of a ticket (with its payload when `options.payload`). */
  readonly get: (
    ticket: Ticket | string,
    options?: GetOptions
  ) => Effect.Effect<TaskStatus, TicketNotFound | CorruptLog | Journal.ReadError>
  /** The current status, then every change, ending with the final one. */
  readonly changes: (ticket: Ticket | string) => Stream.Stream<TaskStatus, TicketNotFound | Stopped>
  /** Waits for the final status. */
  readonly awaitFinal: (ticket: Ticket | string) => Effect.Effect<TaskStatus, TicketNotFound | Stopped>
  /** Every status change of every task from now on (ends when the pipeline closes). */
  readonly watch: Stream.Stream<TaskStatus>
}>()("@mailroom/tasks/Status") {}

const idOf = (ticket: Ticket | string) => typeof ticket === "string" ? ticket : ticket.id

/** Builds the status service over the pipeline's ledger. */
export const make = (ledger: Ledger): Status["Service"] => {
  // Accepted events recently read for payloads of final tasks (one event holds many tasks).
  const events = new Map<number, ReadonlyMap<string, unknown>>()

  const payloadOf = (id: string, version: number, taskType: string) =>
    Effect.gen(function*() {
      let tasks = events.get(version)
      if (tasks === undefined) {
        const page = yield* ledger.journal.readStream(ledger.options.stream, version, 1)
        const event = page[0]
        if (event === undefined || event.version !== version) {
          return yield* new CorruptLog({ stream: ledger.options.stream, position: version, reason: `the event that accepted task ${id} (version ${version}) is missing` })
        }
        const decoded = decodeEvent(event)
        if (decoded instanceof CorruptLog) return yield* decoded
        const map = new Map<string, unknown>()
        for (const fact of decoded.facts) if (fact.kind === "accepted") for (const t of fact.tasks) map.set(t.id, t.payload)
        if (events.size >= 64) events.delete(events.keys().next().value!)
        events.set(version, tasks = map)
      }
      if (!tasks.has(id)) {
        return yield* new CorruptLog({ stream: ledger.options.stream, position: version, reason: `task ${id} is not in the event that should have accepted it` })
      }
      const type = ledger.types.get(taskType)
      if (type === undefined) return tasks.get(id)
      const decoded = decodeStored(type, tasks.get(id))
      if (!("value" in decoded)) {
        return yield* new CorruptLog({ stream: ledger.options.stream, position: version, reason: `payload of task ${id}: ${decoded.message}` })
      }
      return decoded.value
    })

  const get = (ticket: Ticket | string, options?: GetOptions) =>
    Effect.suspend((): Effect.Effect<TaskStatus, TicketNotFound | CorruptLog | Journal.ReadError> => {
      const id = idOf(ticket)
      const record = ledger.recordOf(id)
      if (record === undefined) return Effect.fail(new TicketNotFound({ ticket: id }))
      const status = toStatus(record)
      if (options?.payload !== true) return Effect.succeed(status)
      if (!isFinal(record.status) && record.payload !== undefined) return Effect.succeed({ ...status, payload: record.payload })
      return Effect.map(payloadOf(id, record.version, record.type), (payload) => ({ ...status, payload }))
    })

  const changes = (ticket: Ticket | string): Stream.Stream<TaskStatus, TicketNotFound | Stopped> =>
    Stream.callback<TaskStatus, TicketNotFound | Stopped>((queue) =>
      Effect.suspend(() => {
        const id = idOf(ticket)
        const current = ledger.statusOf(id)
        if (current === undefined) return Queue.fail(queue, new TicketNotFound({ ticket: id }))
        Queue.offerUnsafe(queue, current)
        if (isFinal(current.status)) return Queue.end(queue)
        if (ledger.closed !== undefined) return Queue.fail(queue, ledger.closed)
        const listener: Listener = (s) => {
          if ("_tag" in s) {
            Queue.failCauseUnsafe(queue, Cause.fail(s))
            return
          }
          Queue.offerUnsafe(queue, s)
          if (isFinal(s.status)) Queue.endUnsafe(queue)
        }
        let set = ledger.listeners.get(id)
        if (set === undefined) ledger.listeners.set(id, set = new Set())
        set.add(listener)
        return Effect.addFinalizer(() =>
          Effect.sync(() => {
            set.delete(listener)
            if (set.size === 0) ledger.listeners.delete(id)
          })
        )
      })
    )

  const awaitFinal = (ticket: Ticket | string) =>
    Effect.flatMap(Stream.runLast(changes(ticket)), (last) =>
      last._tag === "Some" ? Effect.succeed(last.value) : Effect.fail(new TicketNotFound({ ticket: idOf(ticket) })))

  const watch: Stream.Stream<TaskStatus> = Stream.callback<TaskStatus>((queue) => {
    if (ledger.closed !== undefined) return Queue.end(queue)
    const listener: Listener = (s) => {
      if ("_tag" in s) Queue.endUnsafe(queue)
      else Queue.offerUnsafe(queue, s)
    }
    return Effect.andThen(
      Effect.sync(() => ledger.watchers.add(listener)),
      Effect.addFinalizer(() => Effect.sync(() => ledger.watchers.delete(listener)))
    )
  })

  return Status.of({ get, changes, awaitFinal, watch })
}
