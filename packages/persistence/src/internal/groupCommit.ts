/**
 * Group commit: appends queue up while a transaction is being written; the writer fiber takes
 * everything queued (up to `maxBatch` appends) and writes it as the next transaction, in
 * arrival order. Each append's caller is resumed only after its transaction committed (or
 * failed), so an acknowledgement always means "durable".
 *
 * The caller waits in a bare `Effect.callback` (no `Deferred`, no cancellation hook): an append
 * is one queue item holding its resume function. A caller interrupted while waiting just stops
 * waiting; its append is still written or failed with the rest of its batch.
 */
import { Cause, Effect, Exit, Queue } from "effect"
import type { Scope } from "effect"
import type { AppendResult } from "../Journal.js"
import { JournalError, type StorageFull } from "../JournalError.js"
import type { PendingAppend } from "./plan.js"

/** Why a whole batch failed. */
type WriteError = JournalError | StorageFull

interface Item<E> {
  readonly pending: PendingAppend
  readonly resume: (exit: Exit.Exit<AppendResult, E | WriteError>) => void
}

const closed = new JournalError({ operation: "append", reason: "the journal was closed before the append was written" })

const unknownOutcome = new JournalError({
  operation: "append",
  reason: "the journal was closed while this append was being written; its outcome is unknown, " +
    "retry with the same event ids (appends are idempotent)"
})

/** Starts the writer fiber in the current scope and answers the `append` function. */
export const make = <E>(options: {
  readonly maxBatch: number
  readonly write: (
    batch: ReadonlyArray<PendingAppend>
  ) => Effect.Effect<ReadonlyArray<Exit.Exit<AppendResult, E>>, WriteError>
}): Effect.Effect<(pending: PendingAppend) => Effect.Effect<AppendResult, E | WriteError>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Item<E>>()
    let open = true

    const complete = (items: ReadonlyArray<Item<E>>, exit: Exit.Exit<ReadonlyArray<Exit.Exit<AppendResult, E>>, WriteError>) => {
      if (Exit.isSuccess(exit)) {
        for (let i = 0; i < items.length; i++) items[i]!.resume(exit.value[i]!)
        return
      }
      const failure = Cause.findErrorOption(exit.cause)
      const error = failure._tag === "Some" ? failure.value : new JournalError({
        operation: "append",
        reason: `the group-commit writer failed unexpectedly: ${Cause.pretty(exit.cause)}`
      })
      const failed = Exit.fail(error)
      for (const item of items) item.resume(failed)
    }

    const writer = Effect.gen(function*() {
      while (true) {
        const items = yield* Queue.takeBetween(queue, 1, options.maxBatch)
        const exit = yield* Effect.exit(
          Effect.onInterrupt(
            options.write(items.map((item) => item.pending)),
            () => Effect.sync(() => items.forEach((item) => item.resume(Exit.fail(unknownOutcome))))
          )
        )
        complete(items, exit)
      }
    })
    yield* Effect.forkScoped(writer)
    yield* Effect.addFinalizer(() =>
      Effect.flatMap(Effect.sync(() => (open = false)), () =>
        Effect.flatMap(Queue.clear(queue), (rest) =>
          Effect.sync(() => rest.forEach((item) => item.resume(Exit.fail(closed))))))
    )

    return (pending: PendingAppend) =>
      Effect.callback<AppendResult, E | WriteError>((resume) => {
        if (!open) return resume(Exit.fail(closed))
        Queue.offerUnsafe(queue, { pending, resume })
      })
  })
