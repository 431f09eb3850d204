/**
 * The typed errors of the cluster package, next to the actor errors of `@mailroom/core`
 * (`AskTimeout`, `ActorStopped`, `HandlerFailed`, `MailboxFull`, `MessageDecodeError`) that a
 * sharded reference answers with the same meaning as a local one.
 */
import { Schema } from "effect"

/**
 * The cluster could not take the message: its storage failed (a persisted message was not
 * saved), no runner owned the entity's shard while the runner shut down, or the same request
 * was already being processed. The message was not accepted; sending it again is safe for
 * persisted messages with a primary key (they are deduplicated).
 */
export class DeliveryFailed extends Schema.TaggedError<DeliveryFailed>()("DeliveryFailed", {
  entity: Schema.String,
  entityId: Schema.String,
  messageTag: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.messageTag} to ${this.entity}/${this.entityId} was not delivered: ${this.reason}`
  }
}

/** An option of a cluster layer or entity has a value it cannot use. */
export class InvalidClusterConfig extends Schema.TaggedError<InvalidClusterConfig>()("InvalidClusterConfig", {
  option: Schema.String,
  value: Schema.String,
  expected: Schema.String
}) {
  override get message(): string {
    return `cluster option ${this.option} must be ${this.expected}, got ${this.value}`
  }
}

/** An entity id a sharded reference cannot address. */
export class InvalidEntityId extends Schema.TaggedError<InvalidEntityId>()("InvalidEntityId", {
  entity: Schema.String,
  entityId: Schema.String,
  expected: Schema.String
}) {
  override get message(): string {
    return `entity id ${JSON.stringify(this.entityId)} for ${this.entity} is not valid: expected ${this.expected}`
  }
}
