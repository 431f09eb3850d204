/**
 * A ticket is what the front desk answers once a task is durably in the request log: its id
 * and the status `accepted`. The task then moves through
 *
 *   accepted → dispatched → running → succeeded | failed | compensated
 *
 * with `running → retrying → dispatched` while its retry `Schedule` allows another attempt, and
 * `running → waiting → succeeded | failed` for a task whose handler spawned children (it ends
 * when they are final, holding no worker).
 * Every transition is an event in the journal (see `Status`), so the status survives restarts.
 */

/** Lifecycle states of a task. */
export type Status =
  | "accepted"
  | "dispatched"
  | "running"
  | "retrying"
  | "waiting"
  | "succeeded"
  | "failed"
  | "compensated"

/** The states that end a task. */
export const finalStatuses: ReadonlySet<Status> = new Set(["succeeded", "failed", "compensated"])

/** True when `status` ends the task. */
export const isFinal = (status: Status): boolean => finalStatuses.has(status)

/** The answer of the front desk: the task is recorded and will be processed. */
export interface Ticket {
  readonly id: string
  readonly taskType: string
  readonly status: "accepted"
  /** Epoch milliseconds of acceptance. */
  readonly acceptedAt: number
  /** True when this answers a resubmission with an idempotency key already seen. */
  readonly duplicate: boolean
}

/** The status of a task at one moment. */
export interface TaskStatus {
  readonly id: string
  readonly taskType: string
  readonly tenant: string
  readonly status: Status
  /** Attempts dispatched so far (0 while only accepted). */
  readonly attempt: number
  readonly acceptedAt: number
  /** Epoch milliseconds of the last transition. */
  readonly updatedAt: number
  /** The handler's (encoded) output once succeeded. */
  readonly output?: unknown
  /** The last failure, as text. */
  readonly error?: string
  /** The parent task, for a child spawned by a handler. */
  readonly parent?: string
  /** A parent's children: how many, how many not final yet, how many did not succeed. */
  readonly children?: { readonly total: number; readonly pending: number; readonly failed: number }
  /** The decoded payload, when asked for (`status.get(ticket, { payload: true })`). */
  readonly payload?: unknown
}
