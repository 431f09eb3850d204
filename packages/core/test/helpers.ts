import { Effect, PubSub } from "effect"
import type { DeadLetter } from "@mailroom/core"

/** Takes every dead letter published so far on a subscription, without waiting. */
export const drainLetters = (sub: PubSub.Subscription<DeadLetter.DeadLetter>) =>
  Effect.gen(function*() {
    const n = yield* PubSub.remaining(sub)
    if (n === 0) return [] as Array<DeadLetter.DeadLetter>
    return Array.from(yield* PubSub.takeUpTo(sub, n))
  })

/** Lets the dispatcher and forked fibers run. */
export const settle = Effect.gen(function*() {
  for (let i = 0; i < 5; i++) {
    yield* Effect.yieldNow
    yield* Effect.promise(() => new Promise<void>((r) => setImmediate(r)))
  }
})
