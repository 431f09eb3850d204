/**
 * Dead letters are messages that could not be delivered or handled: dropped by a full
 * mailbox, sent to a stopped actor, left in the mailbox (or in the line of senders waiting for
 * room) when an actor stopped, withdrawn by a sender that gave up before the handler started
 * them, or dropped by supervision after the handler failed on them. Every one is published on
 * the system's dead-letter stream and counted in metrics: nothing disappears silently.
 */

/**
 * Why a message became a dead letter.
 *
 * - `MailboxFull`: dropped by a full `dropNewest` mailbox (an asker gets `MailboxFull`);
 * - `DroppedOldest`: pushed out of a full `dropOldest` mailbox by a newer message;
 * - `ActorStopped`: sent to a stopped (or stopping) actor, or still waiting when it stopped;
 * - `HandlerFailed` / `Timeout`: the handler failed (or ran past its timeout) on it and
 *   supervision dropped it;
 * - `AskTimeout`: an `ask` whose timeout passed before the handler started it: it left the
 *   mailbox and was never handled;
 * - `SenderInterrupted`: its sender was interrupted (e.g. its scope closed) while the message
 *   waited for room in a `suspend` mailbox, or, for an `ask`, before the handler started it.
 */
export type Reason =
  | "MailboxFull"
  | "DroppedOldest"
  | "ActorStopped"
  | "HandlerFailed"
  | "Timeout"
  | "AskTimeout"
  | "SenderInterrupted"

/** A message that was not handled, with its intended recipient and the reason. */
export interface DeadLetter {
  readonly recipient: string
  readonly message: unknown
  readonly reason: Reason
  /** For `HandlerFailed`/`Timeout`: a rendering of the failure; for `AskTimeout`/`SenderInterrupted`: what the sender did. */
  readonly detail?: string | undefined
}
