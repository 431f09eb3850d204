import { Deferred, Effect, Result } from "effect"
import type { Operation } from "@mailroom/scheduler"
import { Target } from "@mailroom/scheduler"

/**
 * Lets timers, microtasks and forked fibers run to quiescence: a real 1 ms timer, then several
 * rounds of immediates (Effect's scheduler runs fibers on immediates). TestClock time does not move.
 */
export const tick = Effect.promise(async () => {
  await new Promise<void>((resolve) => setTimeout(resolve, 1))
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve))
})

export interface Seen {
  readonly key: Operation.Key
  readonly kind: Operation.Kind
  readonly input: unknown
  readonly size: number
}

/**
 * A key-value store behind a target that records every batch. While `gate` is closed
 * (`hold()`), batches wait before applying, so work piles up behind them.
 */
export const store = (options?: { readonly capacity?: number; readonly maxBatch?: number; readonly name?: string }) => {
  const state = new Map<Operation.Key, unknown>()
  const batches: Array<Array<Seen>> = []
  let gate: Deferred.Deferred<void> | undefined
  const target = Target.makeResults<string | number, unknown, unknown, string>({
    name: options?.name ?? "store",
    capacity: options?.capacity ?? 1,
    maxBatch: options?.maxBatch,
    handle: (batch) =>
      Effect.gen(function*() {
        batches.push(batch.map((w) => ({ key: w.key, kind: w.kind, input: w.input, size: w.size })))
        const g = gate
        if (g !== undefined) yield* Deferred.await(g)
        return batch.map((w): Result.Result<unknown, string> => {
          const input = w.input as { fail?: boolean; value?: unknown } | undefined
          if (input?.fail === true) return Result.fail(`failed ${String(w.key)}`)
          switch (w.kind) {
            case "coalesce":
              return Result.succeed(state.get(w.key))
            case "last-wins":
            case "none":
              state.set(w.key, input?.value)
              return Result.succeed(`wrote ${String(input?.value)}`)
            case "combine": {
              const sum = input?.value as number
              state.set(w.key, ((state.get(w.key) as number | undefined) ?? 0) + sum)
              return Result.succeed(sum)
            }
          }
        })
      })
  })
  return {
    state,
    batches,
    target,
    hold: Effect.sync(() => {
      gate = Deferred.makeUnsafe<void>()
    }),
    release: Effect.suspend(() => {
      const g = gate
      gate = undefined
      return g === undefined ? Effect.void : Deferred.succeed(g, undefined)
    })
  }
}
