/**
 * The typed errors of the actor core. Each names the actor and says what happened and
 * what to do about it.
 */
import { Schema } from "effect"

/**
 * An `ask` got no reply within its timeout. A request the handler had not started yet is
 * withdrawn: it leaves the mailbox (or the line of waiting senders), is never handled, and goes
 * to dead letters with reason `AskTimeout`. One the handler had already started runs to its end;
 * its reply goes nowhere.
 */
export class AskTimeout extends Schema.TaggedError<AskTimeout>()("AskTimeout", {
  actor: Schema.String,
  messageTag: Schema.String,
  timeoutMillis: Schema.Number
}) {
  override get message(): string {
    return `ask to ${this.actor} timed out after ${this.timeoutMillis} ms waiting for a reply to ${this.messageTag}; raise the timeout or check that the actor replies`
  }
}

/** The actor was stopped (or is stopping) before it handled the message. */
export class ActorStopped extends Schema.TaggedError<ActorStopped>()("ActorStopped", {
  actor: Schema.String,
  messageTag: Schema.String
}) {
  override get message(): string {
    return `actor ${this.actor} is stopped: ${this.messageTag} was not handled (it went to dead letters)`
  }
}

/** The handler failed on this message and supervision dropped it (resume, restart or stop). */
export class HandlerFailed extends Schema.TaggedError<HandlerFailed>()("HandlerFailed", {
  actor: Schema.String,
  messageTag: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `actor ${this.actor} failed while handling ${this.messageTag}: ${this.reason}`
  }
}

/** A bounded mailbox with the `fail` strategy (or a dropped ask) refused the message. */
export class MailboxFull extends Schema.TaggedError<MailboxFull>()("MailboxFull", {
  actor: Schema.String,
  messageTag: Schema.String,
  capacity: Schema.Number
}) {
  override get message(): string {
    return `mailbox of ${this.actor} is full (capacity ${this.capacity}): ${this.messageTag} was refused; retry later or raise the capacity`
  }
}

/**
 * A bounded `suspend` mailbox is full and `maxWaitingSenders` senders already wait for room:
 * this sender is refused at once instead of joining the line. Nothing was accepted, so nothing
 * is dead-lettered.
 */
export class TooManyWaitingSenders extends Schema.TaggedError<TooManyWaitingSenders>()("TooManyWaitingSenders", {
  actor: Schema.String,
  messageTag: Schema.String,
  capacity: Schema.Number,
  maxWaitingSenders: Schema.Number
}) {
  override get message(): string {
    return `mailbox of ${this.actor} is full (capacity ${this.capacity}) and ${this.maxWaitingSenders} senders already wait for room: ${this.messageTag} was refused; retry later, slow the senders down or raise maxWaitingSenders`
  }
}

/** Unknown input did not decode as a message of the actor's protocol. */
export class MessageDecodeError extends Schema.TaggedError<MessageDecodeError>()("MessageDecodeError", {
  actor: Schema.String,
  issue: Schema.String
}) {
  override get message(): string {
    return `input for ${this.actor} is not a valid message: ${this.issue}`
  }
}

/** A name is already taken by a live actor. */
export class ActorNameTaken extends Schema.TaggedError<ActorNameTaken>()("ActorNameTaken", {
  name: Schema.String
}) {
  override get message(): string {
    return `an actor named "${this.name}" is already running; stop it first or pick another name`
  }
}

/** No live actor has this name. */
export class ActorNotFound extends Schema.TaggedError<ActorNotFound>()("ActorNotFound", {
  name: Schema.String
}) {
  override get message(): string {
    return `no actor named "${this.name}" is running`
  }
}

/** The actor system was closed: nothing can be spawned any more. */
export class SystemClosed extends Schema.TaggedError<SystemClosed>()("SystemClosed", {}) {
  override get message(): string {
    return "the actor system is closed: spawn actors while its layer is alive"
  }
}

/** An option of `ActorSystem.layer` has a value it cannot use. */
export class InvalidSystemConfig extends Schema.TaggedError<InvalidSystemConfig>()("InvalidSystemConfig", {
  option: Schema.String,
  value: Schema.String,
  expected: Schema.String
}) {
  override get message(): string {
    return `ActorSystem.layer: option ${this.option} must be ${this.expected}, got ${this.value}`
  }
}

/** A mailbox configuration (`Mailbox.bounded`, `Mailbox.validate`) has a value it cannot use. */
export class InvalidMailboxConfig extends Schema.TaggedError<InvalidMailboxConfig>()("InvalidMailboxConfig", {
  option: Schema.String,
  value: Schema.String,
  expected: Schema.String
}) {
  override get message(): string {
    return `Mailbox.bounded: option ${this.option} must be ${this.expected}, got ${this.value}`
  }
}
