/**
 * Dead letters are messages that could not be delivered or handled: dropped by a full
 * mailbox, sent to a stopped actor, left in the mailbox when an actor stopped, or dropped by
 * supervision after the handler failed on them. Every one is published on the system's
 * dead-letter stream and counted in metrics: nothing disappears silently.
 */

/** Why a message became a dead letter. */
export type Reason =
  | "MailboxFull"
  | "DroppedOldest"
  | "ActorStopped"
  | "HandlerFailed"
  | "Timeout"

/** A message that was not handled, with its intended recipient and the reason. */
export interface DeadLetter {
  readonly recipient: string
  readonly message: unknown
  readonly reason: Reason
  /** For `HandlerFailed`/`Timeout`: a rendering of the failure. */
  readonly detail?: string | undefined
}
