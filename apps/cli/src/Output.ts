/**
 * The command's standard output: lines written as they are produced (a long `journal show`
 * streams instead of building one string), in chunks of about 64 KiB, waiting when the reader
 * is slower (backpressure). Every line goes through `Display.escape`, so no control character
 * from the data reaches the terminal.
 *
 * A reader that stops early (`mailroom journal show … | head`) closes the pipe: the next write
 * fails with `OutputClosed` and the command ends quietly (the reader has what it wanted).
 */
import { Context, Effect, Layer, Schema } from "effect"
import { escape } from "./Display.js"

/** The reader closed standard output (EPIPE): stop producing, quietly. */
export class OutputClosed extends Schema.TaggedError<OutputClosed>()("OutputClosed", {}) {
  override get message(): string {
    return "the output was closed by its reader"
  }
}

/** A place for the command's lines. */
export class Output extends Context.Service<Output, {
  /** Queues one line (escaped); writes the queue when it is large. */
  readonly line: (text: string) => Effect.Effect<void, OutputClosed>
  /** Writes whatever is queued. */
  readonly flush: Effect.Effect<void, OutputClosed>
}>()("@mailroom/cli/Output") {}

const chunkSize = 64 * 1024

/** Lines onto `stream`; what is queued is written when the scope closes. */
export const make = Effect.fnUntraced(function*(stream: NodeJS.WritableStream) {
  let closed = false
  const onError = () => void (closed = true)
  yield* Effect.acquireRelease(
    Effect.sync(() => stream.on("error", onError)),
    () => Effect.sync(() => void stream.off("error", onError))
  )
  let queued: Array<string> = []
  let size = 0

  const write = (chunk: string) =>
    Effect.callback<void, OutputClosed>((resume) => {
      if (closed) return resume(Effect.fail(new OutputClosed()))
      if (stream.write(chunk)) return resume(Effect.void)
      const done = () => {
        cleanup()
        resume(closed ? Effect.fail(new OutputClosed()) : Effect.void)
      }
      const failed = () => {
        closed = true
        done()
      }
      const cleanup = () => {
        stream.off("drain", done)
        stream.off("error", failed)
        stream.off("close", failed)
      }
      stream.on("drain", done)
      stream.on("error", failed)
      stream.on("close", failed)
      return Effect.sync(cleanup)
    })

  const flush = Effect.suspend(() => {
    if (queued.length === 0) return closed ? Effect.fail(new OutputClosed()) : Effect.void
    const chunk = queued.join("")
    queued = []
    size = 0
    return write(chunk)
  })

  const line = (text: string) =>
    Effect.suspend(() => {
      const safe = escape(text) + "\n"
      queued.push(safe)
      size += safe.length
      return size >= chunkSize ? flush : Effect.void
    })

  yield* Effect.addFinalizer(() => Effect.ignore(flush))
  return Output.of({ line, flush })
})

/** The process's standard output. */
export const layer: Layer.Layer<Output> = Layer.effect(Output, make(process.stdout))

/** Writes each line. */
export const lines = (texts: Iterable<string>) =>
  Effect.flatMap(Output, (out) => Effect.forEach(texts, out.line, { discard: true }))

/** Writes one line. */
export const line = (text: string) => Effect.flatMap(Output, (out) => out.line(text))
