import { Effect, Layer } from "effect"
import { Journal } from "@mailroom/persistence"
import { Scheduler } from "@mailroom/scheduler"

/** Memory journal + default scheduler. */
export const env = (journal?: Journal.Journal["Service"]) =>
  Layer.mergeAll(
    journal ? Layer.succeed(Journal.Journal, journal) : Journal.layerMemory(),
    Scheduler.layer()
  )

/** A memory journal instance that can outlive a pipeline (restart tests). */
export const memoryJournal = Effect.map(Journal.makeMemory(), (m) => m.journal)

/** Lets every runnable fiber run (no clock movement). */
export const settle = (rounds = 50) =>
  Effect.gen(function*() {
    for (let i = 0; i < rounds; i++) yield* Effect.yieldNow
  })
