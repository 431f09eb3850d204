/**
 * How the `mailroom` command fails: always one line on stderr (`mailroom: <what went wrong>
 * (<what to do>)`) and exit code 1 — for its own errors (`CommandFailed`), for flags and
 * arguments it cannot parse (`presenter` replaces the help page `effect/cli` prints with one
 * line pointing to `--help`), and for anything unexpected (a defect: one line, no stack trace).
 * A reader that closed stdout early is not a failure: the command ends quietly.
 */
import { Cause, Effect, Schema } from "effect"
import { CliError, CliOutput } from "effect/cli"
import { escape, field, quoted } from "./Display.js"
import { OutputClosed } from "./Output.js"

/** A command failed; `reason` (what went wrong, what to do) is shown as is. */
export class CommandFailed extends Schema.TaggedError<CommandFailed>()("CommandFailed", { reason: Schema.String }) {
  override get message(): string {
    return this.reason
  }
}

/** Shorthand. */
export const fail = (reason: string) => new CommandFailed({ reason })

/** Writes the one line (escaped: a message may quote data). */
export const printError = (message: string) =>
  Effect.sync(() => void process.stderr.write(`mailroom: ${escape(message.trim())}\n`))

const flagName = (name: string) => (name.startsWith("-") ? name : `--${name}`)

const lowerFirst = (text: string) => text.charAt(0).toLowerCase() + text.slice(1)

/** One parse error as a phrase. */
const describe = (error: CliError.NonShowHelpErrors, command: string): string => {
  switch (error._tag) {
    case "UnrecognizedOption": {
      const hint = error.suggestions.length > 0 ? ` (did you mean ${error.suggestions.join(" or ")}?)` : ""
      return `unknown flag ${field(error.option)} for ${command}${hint}`
    }
    case "UnknownSubcommand": {
      const hint = error.suggestions.length > 0 ? ` (did you mean ${error.suggestions.join(" or ")}?)` : ""
      return `unknown command ${quoted(error.subcommand)}${hint}`
    }
    case "MissingArgument":
      return `missing the <${error.argument}> argument`
    case "MissingOption":
      return `missing the ${flagName(error.option)} flag`
    case "InvalidValue": {
      const name = error.kind === "flag" ? flagName(error.option) : `<${error.option}>`
      if (error.value === "") return `missing the value of ${name}`
      if (error.expected.startsWith("must ")) return `${name} ${error.expected}, got ${error.value}`
      const expected = error.expected.includes(" | ")
        ? `expected one of ${error.expected.replace(/"/g, "").split(" | ").join(", ")}`
        : lowerFirst(error.expected.replace(/^Expected:? /, "expected ").replace("a string representing a finite number", "a number"))
      return `invalid value ${quoted(error.value)} for ${name}: ${expected}`
    }
    case "UnexpectedArgument":
      return `unexpected argument${error.arguments.length > 1 ? "s" : ""} ${error.arguments.map(quoted).join(" ")}`
    default:
      return lowerFirst(error.message.replace(/\s+/g, " "))
  }
}

/**
 * Prints help and version as `effect/cli` does, and an invalid invocation as one line: the
 * errors, and where to read the command's help. A flag-like argument that was meant as a value
 * (a ticket id starting with `-`) is told to go after `--`.
 */
export const presenter: CliOutput.Presenter = {
  present: (event) => {
    if (event._tag !== "InvalidInvocation") return CliOutput.defaultPresenter.present(event)
    const command = event.commandPath.join(" ")
    // `-abc` is read as the short flags -a, -b, -c: one phrase for all unknown flags.
    const unknown = event.errors.flatMap((e) => (e._tag === "UnrecognizedOption" ? [e] : []))
    const phrases = [...new Set(event.errors.filter((e) => e._tag !== "UnrecognizedOption").map((e) => describe(e, command)))]
    if (unknown.length === 1) phrases.unshift(describe(unknown[0]!, command))
    if (unknown.length > 1) phrases.unshift(`unknown flags ${[...new Set(unknown.map((e) => field(e.option)))].join(", ")} for ${command}`)
    const takesValue = event.commandPath.at(-1) === "status" || event.commandPath.at(-1) === "show"
    // Only when no unknown flag looks like a typo of a real one (those come with suggestions).
    const dashed = takesValue && unknown.length > 0 && unknown.every((e) => e.suggestions.length === 0)
      ? `; a ${event.commandPath.at(-1) === "status" ? "ticket id" : "stream name"} that starts with - goes after --: ${command} -- <${
        event.commandPath.at(-1) === "status" ? "ticket" : "stream"
      }>`
      : ""
    return printError(`${phrases.join("; ")}${dashed} (see \`${command} --help\`)`)
  }
}

/**
 * The end of every run: prints the one line a failure deserves and sets the exit code. Parse
 * errors were printed by `presenter` already; an interrupted run (Ctrl-C) exits with 130.
 */
export const report = (cause: Cause.Cause<unknown>): Effect.Effect<void> => {
  if (Cause.hasInterruptsOnly(cause)) return Effect.sync(() => void (process.exitCode = 130))
  const failure = Cause.findErrorOption(cause)
  const setCode = Effect.sync(() => void (process.exitCode = 1))
  if (failure._tag === "Some") {
    const error = failure.value
    if (error instanceof OutputClosed) return Effect.void
    if (CliError.isCliError(error)) return setCode
    if (error instanceof CommandFailed) return Effect.andThen(printError(error.reason), setCode)
    const message = error instanceof Error ? error.message : String(error)
    return Effect.andThen(printError(message), setCode)
  }
  const defect = Cause.squash(cause)
  const message = defect instanceof Error ? `${defect.name}: ${defect.message}` : String(defect)
  return Effect.andThen(
    printError(`unexpected error (a bug in mailroom; please report it with the command you ran): ${message.split("\n")[0]}`),
    setCode
  )
}
