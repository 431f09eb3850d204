/**
 * @mailroom/core: typed actors that own mailboxes, supervision, ask/tell, death watch.
 */
export * as Actor from "./Actor.js"
export * as ActorError from "./ActorError.js"
export * as ActorSystem from "./ActorSystem.js"
export * as DeadLetter from "./DeadLetter.js"
export * as Mailbox from "./Mailbox.js"
export * as Message from "./Message.js"
export * as Supervision from "./Supervision.js"
export {
  ActorNameTaken,
  ActorNotFound,
  ActorStopped,
  AskTimeout,
  HandlerFailed,
  InvalidMailboxConfig,
  InvalidSystemConfig,
  MailboxFull,
  MessageDecodeError,
  SystemClosed,
  TooManyWaitingSenders
} from "./ActorError.js"
