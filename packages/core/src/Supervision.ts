/**
 * Supervision decides what a handler failure means for the actor:
 *
 * - `resume`: keep the state, dead-letter the failing message, go on with the next one;
 * - `restart`: fresh state from the behavior's `initial`, after a backoff `Schedule`, at most
 *   `maxRestarts` within `within`; past that limit the actor stops and its parent (and every
 *   watcher) receives `Terminated`. The failing message is dead-lettered, or redelivered
 *   first after the restart when `redeliver` is set (at most `maxRestarts` times, since each
 *   redelivery that fails is another restart);
 * - `stop`: the actor stops; the failing and the waiting messages go to dead letters;
 * - `escalate`: the actor stops and the failure becomes a failure of its parent, decided by
 *   the parent's own supervision (a top-level actor escalates to the system, which stops it).
 *
 * A per-message timeout (`Actor.behavior({ timeout })`) turns a stuck handler into a failure
 * of type `HandlerTimeout`, supervised like any other. `decide` picks a directive by error
 * type with `Supervision.byTag`.
 */
import { Duration, Schedule } from "effect"

/** What to do with an actor whose handler failed. */
export type Directive = Resume | Restart | Stop | Escalate

/** Keep state, drop the failing message to dead letters. */
export interface Resume {
  readonly _tag: "Resume"
}
/** Fresh state after a backoff, within an intensity limit. */
export interface Restart {
  readonly _tag: "Restart"
  readonly backoff: Schedule.Schedule<unknown, unknown>
  readonly maxRestarts: number
  readonly withinMillis: number
  readonly redeliver: boolean
}
/** Stop the actor. */
export interface Stop {
  readonly _tag: "Stop"
}
/** Stop the actor and fail its parent with the same error. */
export interface Escalate {
  readonly _tag: "Escalate"
}

/** A supervision strategy: a directive for every failure (an error or a defect). */
export type Strategy = (failure: Failure) => Directive

/** What failed: a typed error from the handler's error channel, a defect, or a timeout. */
export type Failure =
  | { readonly _tag: "Error"; readonly error: unknown }
  | { readonly _tag: "Defect"; readonly defect: unknown }
  | { readonly _tag: "Timeout"; readonly millis: number }

/** Resume: keep the state, dead-letter the failing message. */
export const resume: Directive = { _tag: "Resume" }
/** Stop the actor. */
export const stop: Directive = { _tag: "Stop" }
/** Escalate to the parent. */
export const escalate: Directive = { _tag: "Escalate" }

/**
 * Restart with fresh state. Defaults: exponential backoff from 10 ms capped at 5 s, at most
 * 10 restarts within 60 seconds, the failing message dead-lettered.
 */
export const restart = (options?: {
  readonly backoff?: Schedule.Schedule<unknown, unknown> | undefined
  readonly maxRestarts?: number | undefined
  readonly within?: Duration.Input | undefined
  readonly redeliver?: boolean | undefined
}): Restart => {
  const maxRestarts = options?.maxRestarts ?? 10
  if (!Number.isInteger(maxRestarts) || maxRestarts < 0) {
    throw new RangeError(`Supervision.restart: maxRestarts must be a non-negative integer, got ${String(maxRestarts)}`)
  }
  return {
    _tag: "Restart",
    backoff: options?.backoff ?? defaultBackoff,
    maxRestarts,
    withinMillis: Duration.toMillis(Duration.fromInputUnsafe(options?.within ?? "60 seconds")),
    redeliver: options?.redeliver ?? false
  }
}

// Exponential from 10 ms, never longer than 5 s between attempts.
const defaultBackoff: Schedule.Schedule<unknown, unknown> = Schedule.min([
  Schedule.exponential("10 millis"),
  Schedule.spaced("5 seconds")
]) as Schedule.Schedule<unknown, unknown>

/** The same directive for every failure. */
export const always = (directive: Directive): Strategy => () => directive

/**
 * Picks a directive by the `_tag` of a typed error; defects and timeouts use `defect` and
 * `timeout` (both default to `otherwise`).
 *
 * @example
 * ```ts
 * Supervision.byTag({
 *   tags: { InsufficientFunds: Supervision.resume },
 *   otherwise: Supervision.restart()
 * })
 * ```
 */
export const byTag = (options: {
  readonly tags: Readonly<Record<string, Directive>>
  readonly defect?: Directive | undefined
  readonly timeout?: Directive | undefined
  readonly otherwise: Directive
}): Strategy =>
(failure) => {
  switch (failure._tag) {
    case "Error": {
      const error = failure.error as { readonly _tag?: unknown } | null
      const tag = typeof error === "object" && error !== null && typeof error._tag === "string" ? error._tag : undefined
      return (tag !== undefined ? options.tags[tag] : undefined) ?? options.otherwise
    }
    case "Defect":
      return options.defect ?? options.otherwise
    case "Timeout":
      return options.timeout ?? options.otherwise
  }
}

/** The default strategy: restart with the default backoff and limits. */
export const defaultStrategy: Strategy = always(restart())

/** Renders a failure for dead letters and errors. */
export const describe = (failure: Failure): string => {
  switch (failure._tag) {
    case "Error":
      return render(failure.error)
    case "Defect":
      return `defect: ${render(failure.defect)}`
    case "Timeout":
      return `handler timed out after ${failure.millis} ms`
  }
}

const render = (u: unknown): string => {
  if (u instanceof Error) return u.message ? `${u.name}: ${u.message}` : u.name
  if (typeof u === "object" && u !== null) {
    try {
      return JSON.stringify(u)
    } catch {
      return String(u)
    }
  }
  return String(u)
}
