/**
 * Task status, answered from the fold of the request log: every transition (accepted,
 * dispatched, running, retrying, succeeded, failed, compensated) is an event in the journal,
 * and the pipeline folds them into an index on start-up and after each append. `get` answers at
 * any time; `changes` streams one task's transitions until it is final; `watch` streams all.
 */
import { Context, Effect, Queue, Stream } from "effect"
import type { Core } from "./internal/core.js"
import { TicketNotFound } from "./TaskError.js"
import { isFinal, type TaskStatus, type Ticket } from "./Ticket.js"

/** The status service. */
export class Status extends Context.Service<Status, {
  /** The current status of a ticket. */
  readonly get: (ticket: Ticket | string) => Effect.Effect<TaskStatus, TicketNotFound>
  /** The current status, then every change, ending with the final one. */
  readonly changes: (ticket: Ticket | string) => Stream.Stream<TaskStatus, TicketNotFound>
  /** Waits for the final status. */
  readonly awaitFinal: (ticket: Ticket | string) => Effect.Effect<TaskStatus, TicketNotFound>
  /** Every status change of every task from now on. */
  readonly watch: Stream.Stream<TaskStatus>
}>()("@mailroom/tasks/Status") {}

const idOf = (ticket: Ticket | string) => typeof ticket === "string" ? ticket : ticket.id

/** Builds the status service over the pipeline core. */
export const make = (core: Core): Status["Service"] => {
  const get = (ticket: Ticket | string) =>
    Effect.suspend(() => {
      const id = idOf(ticket)
      const s = core.statusOf(id)
      return s === undefined ? Effect.fail(new TicketNotFound({ ticket: id })) : Effect.succeed(s)
    })

  const changes = (ticket: Ticket | string): Stream.Stream<TaskStatus, TicketNotFound> =>
    Stream.callback<TaskStatus, TicketNotFound>((queue) =>
      Effect.suspend(() => {
        const id = idOf(ticket)
        const current = core.statusOf(id)
        if (current === undefined) return Queue.fail(queue, new TicketNotFound({ ticket: id }))
        Queue.offerUnsafe(queue, current)
        if (isFinal(current.status)) return Queue.end(queue)
        const listener = (s: TaskStatus) => {
          Queue.offerUnsafe(queue, s)
          if (isFinal(s.status)) Queue.endUnsafe(queue)
        }
        let set = core.listeners.get(id)
        if (set === undefined) core.listeners.set(id, set = new Set())
        set.add(listener)
        return Effect.addFinalizer(() =>
          Effect.sync(() => {
            set.delete(listener)
            if (set.size === 0) core.listeners.delete(id)
          })
        )
      })
    )

  const awaitFinal = (ticket: Ticket | string) =>
    Effect.flatMap(Stream.runLast(changes(ticket)), (last) =>
      last._tag === "Some" ? Effect.succeed(last.value) : Effect.fail(new TicketNotFound({ ticket: idOf(ticket) })))

  const watch: Stream.Stream<TaskStatus> = Stream.callback<TaskStatus>((queue) => {
    const listener = (s: TaskStatus) => {
      Queue.offerUnsafe(queue, s)
    }
    return Effect.andThen(
      Effect.sync(() => core.watchers.add(listener)),
      Effect.addFinalizer(() => Effect.sync(() => core.watchers.delete(listener)))
    )
  })

  return Status.of({ get, changes, awaitFinal, watch })
}
