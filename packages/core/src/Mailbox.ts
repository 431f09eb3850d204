/**
 * A mailbox holds an actor's pending messages. Unbounded, or bounded with an overflow
 * strategy that decides what happens when a message arrives and the mailbox is full:
 *
 * - `suspend`: the sender waits until there is room (backpressure; `tellUnsafe` answers `false`);
 * - `dropNewest`: the arriving message goes to dead letters;
 * - `dropOldest`: the oldest waiting message goes to dead letters and the new one is kept;
 * - `fail`: the sender gets `MailboxFull`.
 *
 * System messages (stop, watch, terminated) never count against the capacity and overtake
 * user messages.
 */

/** What a bounded mailbox does when it is full. */
export type OverflowStrategy = "suspend" | "dropNewest" | "dropOldest" | "fail"

/** Mailbox configuration of a behavior. */
export type Mailbox =
  | { readonly _tag: "Unbounded" }
  | { readonly _tag: "Bounded"; readonly capacity: number; readonly strategy: OverflowStrategy }

/** An unbounded mailbox (the default). */
export const unbounded: Mailbox = { _tag: "Unbounded" }

/** A bounded mailbox: at most `capacity` waiting messages, then `strategy` applies. */
export const bounded = (capacity: number, strategy: OverflowStrategy = "suspend"): Mailbox => {
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new RangeError(`Mailbox.bounded: capacity must be a positive integer, got ${String(capacity)}`)
  }
  return { _tag: "Bounded", capacity, strategy }
}
