/**
 * The front desk takes requests: `submit` validates a task against its type's Schema (a typed
 * error naming the field; oversized payloads refused; nothing recorded on bad input), asks
 * admission control, appends it to the request log (the journal) and answers a `Ticket` with
 * status `accepted` only once the append is durable. Work happens later (see `Dispatcher`).
 *
 * Submissions arriving together share one log append (group commit), so a busy desk writes
 * fewer, larger transactions. An idempotency key makes a submission safe to retry: the same key
 * (of the same task type and tenant) with the same payload answers the original ticket and
 * creates no second task; with another payload it answers `IdempotencyConflict`.
 */
import { Context, Deferred, Duration, Effect, Exit } from "effect"
import type { Journal } from "@mailroom/persistence"
import type { Admission } from "./Admission.js"
import { prepare, TENANT } from "./internal/intake.js"
import { type Ledger, scopedKey, type TaskRecord } from "./internal/ledger.js"
import { type AcceptedTask, hashPayload } from "./internal/log.js"
import {
  IdempotencyConflict,
  InvalidPayload,
  type LogOwnershipLost,
  type Overloaded,
  type PayloadTooLarge,
  type PipelineClosed,
  UnknownTaskType
} from "./TaskError.js"
import type * as TaskType from "./TaskType.js"
import type { Ticket } from "./Ticket.js"

/** Options of one submission. */
export interface SubmitOptions {
  /**
   * Idempotency key (1..256 characters), scoped by task type and tenant: resubmitting it with
   * the same payload answers the original ticket; with another payload, `IdempotencyConflict`.
   */
  readonly key?: string | undefined
  /** Tenant for rate limits and fair share (default `"default"`). */
  readonly tenant?: string | undefined
  /** Scheduler priority (higher first under `Policy.priority`; default 0). */
  readonly priority?: number | undefined
  /** Time from acceptance by which the task should be dispatched (`Policy.earliestDeadline`). */
  readonly deadline?: Duration.Input | undefined
}

/** Every failure of `submit`. */
export type SubmitError =
  | InvalidPayload
  | PayloadTooLarge
  | UnknownTaskType
  | Overloaded
  | IdempotencyConflict
  | PipelineClosed
  | LogOwnershipLost
  | Journal.AppendError

/** The front desk service. */
export class FrontDesk extends Context.Service<FrontDesk, {
  /**
   * Validates, records durably and answers a ticket.
   *
   * @example
   * ```ts
   * const ticket = yield* desk.submit(SendEmail, { to: "a@example.com", body: "hi" }, { key: "welcome-42" })
   * ```
   */
  readonly submit: (type: TaskType.Any, payload: unknown, options?: SubmitOptions) => Effect.Effect<Ticket, SubmitError>
  /**
   * Submits many payloads of one type in one log append: all are accepted or none (the first
   * bad payload fails the call, naming its index).
   */
  readonly submitAll: (
    type: TaskType.Any,
    payloads: ReadonlyArray<unknown>,
    options?: Omit<SubmitOptions, "key"> | undefined
  ) => Effect.Effect<ReadonlyArray<Ticket>, SubmitError>
}>()("@mailroom/tasks/FrontDesk") {}

const ticketOf = (id: string, taskType: string, acceptedAt: number, duplicate: boolean): Ticket => ({
  id,
  taskType,
  status: "accepted",
  acceptedAt,
  duplicate
})

const existing = (record: TaskRecord): Ticket => ticketOf(record.id, record.type, record.acceptedAt, true)

/** Checks the options every submission shares; answers the error or the normalized values. */
const checkOptions = (
  type: TaskType.Any,
  options: Omit<SubmitOptions, "key"> | undefined
): InvalidPayload | { readonly tenant: string; readonly priority: number | undefined; readonly deadline: number | undefined } => {
  const tenant = options?.tenant ?? "default"
  if (typeof tenant !== "string" || !TENANT.test(tenant)) {
    return new InvalidPayload({ taskType: type.name, field: "options.tenant", reason: "a tenant is 1..128 of [A-Za-z0-9_.:@-]" })
  }
  const priority = options?.priority
  if (priority !== undefined && (typeof priority !== "number" || !Number.isFinite(priority))) {
    return new InvalidPayload({ taskType: type.name, field: "options.priority", reason: `a finite number, got ${String(priority)}` })
  }
  let deadline: number | undefined
  if (options?.deadline !== undefined) {
    try {
      deadline = Duration.toMillis(Duration.fromInputUnsafe(options.deadline))
    } catch {
      deadline = NaN
    }
    if (!(deadline >= 0) || !Number.isFinite(deadline)) {
      return new InvalidPayload({ taskType: type.name, field: "options.deadline", reason: `a finite duration >= 0, got ${String(options.deadline)}` })
    }
  }
  return { tenant, priority, deadline }
}

/** Builds the front desk over the pipeline's ledger. */
export const make = (ledger: Ledger, admission: Admission): FrontDesk["Service"] => {
  // Keyed submissions on their way into the log: a concurrent resubmission waits for the first.
  const pendingKeys = new Map<string, { readonly hash: string; readonly ticket: Deferred.Deferred<Ticket, SubmitError> }>()

  const checkType = (type: TaskType.Any): UnknownTaskType | undefined =>
    ledger.types.get(type?.name) === undefined ? new UnknownTaskType({ taskType: String(type?.name) }) : undefined

  const closed = () => ledger.closed

  const submit = (type: TaskType.Any, payload: unknown, options?: SubmitOptions): Effect.Effect<Ticket, SubmitError> =>
    Effect.suspend((): Effect.Effect<Ticket, SubmitError> => {
      const stopped = closed()
      if (stopped) return Effect.fail(stopped)
      const unknownType = checkType(type)
      if (unknownType) return Effect.fail(unknownType)
      const key = options?.key
      if (key !== undefined && (typeof key !== "string" || key.length === 0 || key.length > 256)) {
        return Effect.fail(new InvalidPayload({ taskType: type.name, field: "options.key", reason: "an idempotency key is 1..256 characters" }))
      }
      const checked = checkOptions(type, options)
      if (checked instanceof InvalidPayload) return Effect.fail(checked)
      const { tenant } = checked
      const prepared = prepare(type, payload, "payload")
      if (!("value" in prepared)) return Effect.fail(prepared)
      let scoped: string | undefined
      let hash: string | undefined
      if (key !== undefined) {
        scoped = scopedKey(type.name, tenant, undefined, key)
        hash = hashPayload(prepared.value)
        const seen = ledger.checkKey(scoped, hash, key)
        if (seen instanceof IdempotencyConflict) return Effect.fail(seen)
        if (seen !== undefined) return Effect.succeed(existing(seen))
        const pending = pendingKeys.get(scoped)
        if (pending !== undefined) {
          return Effect.flatMap(Deferred.await(pending.ticket), (t) =>
            pending.hash === hash
              ? Effect.succeed({ ...t, duplicate: true })
              : Effect.fail(new IdempotencyConflict({ taskType: type.name, tenant, key, ticket: t.id })))
        }
      }
      const refused = admission.check(tenant, 1)
      if (refused) return Effect.fail(refused)
      const at = ledger.now()
      const task: AcceptedTask = {
        id: ledger.newId(),
        type: type.name,
        tenant,
        ...(key === undefined ? {} : { key, hash }),
        ...(checked.priority === undefined ? {} : { priority: checked.priority }),
        ...(checked.deadline === undefined ? {} : { deadline: at + checked.deadline }),
        payload: prepared.value,
        at
      }
      const ticket = ticketOf(task.id, type.name, at, false)
      ledger.pendingAccepts++
      if (scoped === undefined) {
        return ledger.accept([task], [prepared.decoded]).pipe(
          Effect.ensuring(Effect.sync(() => ledger.pendingAccepts--)),
          Effect.as(ticket)
        )
      }
      const deferred = Deferred.makeUnsafe<Ticket, SubmitError>()
      pendingKeys.set(scoped, { hash: hash!, ticket: deferred })
      return ledger.accept([task], [prepared.decoded]).pipe(
        Effect.as(ticket),
        Effect.onExit((exit) =>
          Effect.sync(() => {
            ledger.pendingAccepts--
            pendingKeys.delete(scoped)
            Deferred.doneUnsafe(deferred, Exit.isSuccess(exit) ? exit : Exit.failCause(exit.cause))
          })
        )
      )
    })

  const submitAll = (
    type: TaskType.Any,
    payloads: ReadonlyArray<unknown>,
    options?: Omit<SubmitOptions, "key">
  ): Effect.Effect<ReadonlyArray<Ticket>, SubmitError> =>
    Effect.suspend((): Effect.Effect<ReadonlyArray<Ticket>, SubmitError> => {
      const stopped = closed()
      if (stopped) return Effect.fail(stopped)
      const unknownType = checkType(type)
      if (unknownType) return Effect.fail(unknownType)
      const checked = checkOptions(type, options)
      if (checked instanceof InvalidPayload) return Effect.fail(checked)
      if (!Array.isArray(payloads) || payloads.length === 0) return Effect.succeed([])
      const { tenant } = checked
      const at = ledger.now()
      const tasks: Array<AcceptedTask> = []
      const tickets: Array<Ticket> = []
      const decoded: Array<unknown> = []
      const extra = {
        ...(checked.priority === undefined ? {} : { priority: checked.priority }),
        ...(checked.deadline === undefined ? {} : { deadline: at + checked.deadline })
      }
      for (let i = 0; i < payloads.length; i++) {
        const prepared = prepare(type, payloads[i], `payloads[${i}]`)
        if (!("value" in prepared)) return Effect.fail(prepared)
        const id = ledger.newId()
        tasks.push({ id, type: type.name, tenant, ...extra, payload: prepared.value, at })
        decoded.push(prepared.decoded)
        tickets.push(ticketOf(id, type.name, at, false))
      }
      const refused = admission.check(tenant, payloads.length)
      if (refused) return Effect.fail(refused)
      ledger.pendingAccepts += tasks.length
      return ledger.accept(tasks, decoded).pipe(
        Effect.ensuring(Effect.sync(() => (ledger.pendingAccepts -= tasks.length))),
        Effect.as(tickets)
      )
    })

  return FrontDesk.of({ submit, submitAll })
}
