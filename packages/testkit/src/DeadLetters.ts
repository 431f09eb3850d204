/**
 * Collecting dead letters in tests: subscribe before the action, then take what arrived.
 */
import type { Scope } from "effect"
import { Effect, PubSub } from "effect"
import { ActorSystem } from "@mailroom/core"
import type { DeadLetter } from "@mailroom/core"

/** A live collection of dead letters for the current scope. */
export interface Collector {
  /** Every dead letter published since the collector was made (and not yet taken). */
  readonly take: Effect.Effect<Array<DeadLetter.DeadLetter>>
}

/** Subscribes to the current system's dead letters for the scope. */
export const collect: Effect.Effect<Collector, never, ActorSystem.ActorSystem | Scope.Scope> = Effect.map(
  ActorSystem.subscribeDeadLetters,
  (sub) => ({
    take: Effect.gen(function*() {
      const n = yield* PubSub.remaining(sub)
      if (n === 0) return []
      return Array.from(yield* PubSub.takeUpTo(sub, n))
    })
  })
)
