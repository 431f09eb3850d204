/**
 * The front desk takes requests: `submit` validates a task against its type's Schema (a typed
 * error naming the field; oversized payloads refused; nothing recorded on bad input), asks
 * admission control, appends it to the request log (the journal) and answers a `Ticket` with
 * status `accepted` only once the append is durable. Work happens later (see `Dispatcher`).
 *
 * Submissions arriving together share one log append (group commit), so a busy desk writes
 * fewer, larger transactions. An idempotency key makes a submission safe to retry: the same key
 * answers the original ticket and creates no second task.
 */
import { Context, Deferred, Effect, Exit } from "effect"
import type { Journal } from "@mailroom/persistence"
import type { Admission } from "./Admission.js"
import { type AcceptedTask, type Core, decodePayload, encodePayload } from "./internal/core.js"
import { InvalidPayload, type Overloaded, PayloadTooLarge, UnknownTaskType } from "./TaskError.js"
import type * as TaskType from "./TaskType.js"
import type { Ticket } from "./Ticket.js"

/** Options of one submission. */
export interface SubmitOptions {
  /** Idempotency key: resubmitting it answers the original ticket (1..256 characters). */
  readonly key?: string | undefined
  /** Tenant for rate limits and fair share (default `"default"`). */
  readonly tenant?: string | undefined
}

/** Every failure of `submit`. */
export type SubmitError = InvalidPayload | PayloadTooLarge | UnknownTaskType | Overloaded | Journal.AppendError

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
    options?: { readonly tenant?: string | undefined }
  ) => Effect.Effect<ReadonlyArray<Ticket>, SubmitError>
}>()("@mailroom/tasks/FrontDesk") {}

const TENANT = /^[A-Za-z0-9_.:@-]{1,128}$/

const ticketOf = (id: string, taskType: string, acceptedAt: number, duplicate: boolean): Ticket => ({
  id,
  taskType,
  status: "accepted",
  acceptedAt,
  duplicate
})

const prepare = (
  type: TaskType.Any,
  payload: unknown,
  field: string
): SubmitError | { readonly value: unknown; readonly decoded: unknown } => {
  let json: string | undefined
  try {
    json = JSON.stringify(payload)
  } catch (cause) {
    return new InvalidPayload({ taskType: type.name, field, reason: `not serializable as JSON (${String(cause)})` })
  }
  if (json === undefined) return new InvalidPayload({ taskType: type.name, field, reason: "missing (undefined)" })
  if (json.length > type.maxPayloadBytes) {
    return new PayloadTooLarge({ taskType: type.name, bytes: json.length, limit: type.maxPayloadBytes })
  }
  const decoded = decodePayload(type, payload)
  if (decoded instanceof InvalidPayload) {
    return field === "payload"
      ? decoded
      : new InvalidPayload({ taskType: type.name, field: field + decoded.field.slice("payload".length), reason: decoded.reason })
  }
  const encoded = encodePayload(type, decoded.value)
  return "value" in encoded ? { value: encoded.value, decoded: decoded.value } : encoded
}

/** Builds the front desk over the pipeline core. */
export const make = (core: Core, admission: Admission): FrontDesk["Service"] => {
  const pendingKeys = new Map<string, Deferred.Deferred<Ticket, SubmitError>>()
  let counter = 0
  const prefix = Math.random().toString(36).slice(2, 8)
  const newId = () => `${prefix}${(core.now()).toString(36)}-${(counter++).toString(36)}`

  const existing = (key: string): Effect.Effect<Ticket, SubmitError> | undefined => {
    const id = core.keys.get(key)
    if (id !== undefined) {
      const s = core.statusOf(id)
      if (s !== undefined) return Effect.succeed(ticketOf(id, s.taskType, s.acceptedAt, true))
    }
    const pending = pendingKeys.get(key)
    if (pending !== undefined) return Effect.map(Deferred.await(pending), (t) => ({ ...t, duplicate: true }))
    return undefined
  }

  const checkType = (type: TaskType.Any): UnknownTaskType | undefined =>
    core.types.get(type?.name) === undefined ? new UnknownTaskType({ taskType: String(type?.name) }) : undefined

  const submit = (type: TaskType.Any, payload: unknown, options?: SubmitOptions): Effect.Effect<Ticket, SubmitError> =>
    Effect.suspend(() => {
      const unknownType = checkType(type)
      if (unknownType) return Effect.fail(unknownType)
      const key = options?.key
      const tenant = options?.tenant ?? "default"
      if (key !== undefined && (typeof key !== "string" || key.length === 0 || key.length > 256)) {
        return Effect.fail(new InvalidPayload({ taskType: type.name, field: "options.key", reason: "an idempotency key is 1..256 characters" }))
      }
      if (typeof tenant !== "string" || !TENANT.test(tenant)) {
        return Effect.fail(new InvalidPayload({ taskType: type.name, field: "options.tenant", reason: "a tenant is 1..128 of [A-Za-z0-9_.:@-]" }))
      }
      if (key !== undefined) {
        const seen = existing(key)
        if (seen) return seen
      }
      const prepared = prepare(type, payload, "payload")
      if (!("value" in prepared)) return Effect.fail(prepared)
      const refused = admission.check(tenant, 1)
      if (refused) return Effect.fail(refused)
      const at = core.now()
      const task: AcceptedTask = key === undefined
        ? { id: newId(), type: type.name, tenant, payload: prepared.value, at }
        : { id: newId(), type: type.name, tenant, key, payload: prepared.value, at }
      const ticket = ticketOf(task.id, type.name, at, false)
      core.pendingAccepts++
      if (key === undefined) {
        return core.accept([task], [prepared.decoded]).pipe(
          Effect.ensuring(Effect.sync(() => core.pendingAccepts--)),
          Effect.as(ticket)
        )
      }
      const deferred = Deferred.makeUnsafe<Ticket, SubmitError>()
      pendingKeys.set(key, deferred)
      return core.accept([task], [prepared.decoded]).pipe(
        Effect.as(ticket),
        Effect.onExit((exit) =>
          Effect.sync(() => {
            core.pendingAccepts--
            pendingKeys.delete(key)
            Deferred.doneUnsafe(deferred, Exit.isSuccess(exit) ? exit : Exit.failCause(exit.cause))
          })
        )
      )
    })

  const submitAll = (
    type: TaskType.Any,
    payloads: ReadonlyArray<unknown>,
    options?: { readonly tenant?: string | undefined }
  ): Effect.Effect<ReadonlyArray<Ticket>, SubmitError> =>
    Effect.suspend(() => {
      const unknownType = checkType(type)
      if (unknownType) return Effect.fail(unknownType)
      const tenant = options?.tenant ?? "default"
      if (typeof tenant !== "string" || !TENANT.test(tenant)) {
        return Effect.fail(new InvalidPayload({ taskType: type.name, field: "options.tenant", reason: "a tenant is 1..128 of [A-Za-z0-9_.:@-]" }))
      }
      if (!Array.isArray(payloads) || payloads.length === 0) return Effect.succeed([])
      const at = core.now()
      const tasks: Array<AcceptedTask> = []
      const tickets: Array<Ticket> = []
      const decoded: Array<unknown> = []
      for (let i = 0; i < payloads.length; i++) {
        const prepared = prepare(type, payloads[i], `payloads[${i}]`)
        if (!("value" in prepared)) return Effect.fail(prepared)
        const id = newId()
        tasks.push({ id, type: type.name, tenant, payload: prepared.value, at })
        decoded.push(prepared.decoded)
        tickets.push(ticketOf(id, type.name, at, false))
      }
      const refused = admission.check(tenant, payloads.length)
      if (refused) return Effect.fail(refused)
      core.pendingAccepts += tasks.length
      return core.accept(tasks, decoded).pipe(
        Effect.ensuring(Effect.sync(() => (core.pendingAccepts -= tasks.length))),
        Effect.as(tickets)
      )
    })

  return FrontDesk.of({ submit, submitAll })
}
