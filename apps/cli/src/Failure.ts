/**
 * The one error the `mailroom` command shows: a sentence saying what went wrong and what to do.
 * `main.ts` prints it as one line (`mailroom: <message>`) and exits with code 1.
 */
import { Schema } from "effect"

/** A command failed; `message` is shown as is. */
export class CommandFailed extends Schema.TaggedError<CommandFailed>()("CommandFailed", { reason: Schema.String }) {
  override get message(): string {
    return this.reason
  }
}

/** Shorthand. */
export const fail = (reason: string) => new CommandFailed({ reason })
