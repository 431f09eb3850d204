/**
 * A mailbox holds an actor's pending messages. Unbounded, or bounded with an overflow
 * strategy that decides what happens when a message arrives and the mailbox is full:
 *
 * - `suspend`: the sender waits until there is room (backpressure; `tellUnsafe` answers `false`).
 *   At most `maxWaitingSenders` senders (default 1024) wait at once; past that a sender gets
 *   `TooManyWaitingSenders` right away;
 * - `dropNewest`: the arriving message goes to dead letters;
 * - `dropOldest`: the oldest waiting message goes to dead letters and the new one is kept;
 * - `fail`: the sender gets `MailboxFull`.
 *
 * A sender that gives up withdraws its message: a waiting `tell` that is interrupted leaves the
 * line of waiting senders, and an `ask` that times out or is interrupted before the handler
 * started it leaves the mailbox (or the line); either goes to dead letters (`SenderInterrupted`,
 * `AskTimeout`) and is never handled.
 *
 * System messages (stop, watch, terminated) never count against the capacity and overtake
 * user messages.
 */
import { Effect } from "effect"
import { InvalidMailboxConfig } from "./ActorError.js"

/** What a bounded mailbox does when it is full. */
export type OverflowStrategy = "suspend" | "dropNewest" | "dropOldest" | "fail"

/** Mailbox configuration of a behavior. */
export type Mailbox =
  | { readonly _tag: "Unbounded" }
  | {
    readonly _tag: "Bounded"
    readonly capacity: number
    readonly strategy: OverflowStrategy
    /** `suspend` only: how many senders may wait for room at once (default 1024). */
    readonly maxWaitingSenders?: number | undefined
  }

/** Options of `bounded`. */
export interface BoundedOptions {
  /**
   * `suspend` only: how many senders (`tell` and `ask`) may wait for room at once; the next one
   * gets `TooManyWaitingSenders` right away. A non-negative integer; 0 refuses every sender that
   * would wait. Default 1024.
   */
  readonly maxWaitingSenders?: number | undefined
}

/** How many senders may wait for room in a `suspend` mailbox unless configured otherwise. */
export const defaultMaxWaitingSenders = 1024

/** An unbounded mailbox (the default). */
export const unbounded: Mailbox = { _tag: "Unbounded" }

const strategies: ReadonlyArray<string> = ["suspend", "dropNewest", "dropOldest", "fail"]

const invalid = (option: string, value: unknown, expected: string) =>
  new InvalidMailboxConfig({ option, value: typeof value === "string" ? `"${value}"` : String(value), expected })

/** The first problem of a mailbox configuration, or undefined when it is usable. */
export const check = (mailbox: Mailbox): InvalidMailboxConfig | undefined => {
  if (mailbox._tag === "Unbounded") return undefined
  if (mailbox._tag !== "Bounded") return invalid("_tag", (mailbox as { _tag: unknown })._tag, "\"Unbounded\" or \"Bounded\"")
  const { capacity, maxWaitingSenders, strategy } = mailbox
  if (!Number.isInteger(capacity) || capacity < 1) return invalid("capacity", capacity, "a positive integer")
  if (!strategies.includes(strategy)) {
    return invalid("strategy", strategy, "one of \"suspend\", \"dropNewest\", \"dropOldest\", \"fail\"")
  }
  if (maxWaitingSenders !== undefined) {
    if (strategy !== "suspend") {
      return invalid(
        "maxWaitingSenders",
        maxWaitingSenders,
        `given only with the "suspend" strategy (with "${strategy}" no sender waits)`
      )
    }
    if (!Number.isInteger(maxWaitingSenders) || maxWaitingSenders < 0) {
      return invalid("maxWaitingSenders", maxWaitingSenders, "a non-negative integer")
    }
  }
  return undefined
}

/**
 * A bounded mailbox: at most `capacity` waiting messages, then `strategy` applies. A `suspend`
 * mailbox also bounds the senders waiting for room (`maxWaitingSenders`, default 1024).
 * Throws `InvalidMailboxConfig` (naming the option) for an unusable value; use `validate` for
 * configuration read at run time.
 *
 * @example
 * ```ts
 * Mailbox.bounded(100)                                        // suspend, at most 1024 waiting senders
 * Mailbox.bounded(100, "suspend", { maxWaitingSenders: 10 })
 * Mailbox.bounded(100, "dropOldest")
 * ```
 */
export const bounded = (capacity: number, strategy: OverflowStrategy = "suspend", options?: BoundedOptions): Mailbox => {
  const mailbox: Mailbox = strategy === "suspend"
    ? { _tag: "Bounded", capacity, strategy, maxWaitingSenders: options?.maxWaitingSenders ?? defaultMaxWaitingSenders }
    : options?.maxWaitingSenders === undefined
    ? { _tag: "Bounded", capacity, strategy }
    : { _tag: "Bounded", capacity, strategy, maxWaitingSenders: options.maxWaitingSenders }
  const problem = check(mailbox)
  if (problem !== undefined) throw problem
  return mailbox
}

/** Checks a mailbox configuration (e.g. built from configuration read at run time). */
export const validate = (mailbox: Mailbox): Effect.Effect<Mailbox, InvalidMailboxConfig> =>
  Effect.suspend(() => {
    const problem = check(mailbox)
    return problem === undefined ? Effect.succeed(mailbox) : Effect.fail(problem)
  })
