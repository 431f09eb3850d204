/** The README's first example, verbatim apart from assertions, so it cannot rot. */
import { expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { Operation, Policy, Scheduler, Target } from "@mailroom/scheduler"

it.effect("README example", () => {
  const db = new Map<string, number>()
  let items = 0
  const kv = Target.make<string, number | undefined, number | undefined>({
    name: "kv",
    capacity: 4,
    handle: (batch) =>
      Effect.sync(() =>
        batch.map((work) => {
          items++
          if (work.kind === "last-wins") db.set(work.key, work.input!)
          return db.get(work.key)
        })
      )
  })
  return Effect.gen(function*() {
    const lane = yield* Scheduler.attach(kv)
    const exits = yield* lane.submitAll([
      Operation.write("a", 1),
      Operation.write("a", 2),
      Operation.write("a", 3),
      Operation.read("a"),
      Operation.read("a"),
      Operation.read("a")
    ])
    expect(exits.slice(3)).toEqual([Exit.succeed(3), Exit.succeed(3), Exit.succeed(3)])
    expect(items).toBe(2)
    expect(lane.stats()).toMatchObject({ submitted: 6, dispatched: 2, superseded: 2, coalesced: 2 })
  }).pipe(Effect.scoped, Effect.provide(Scheduler.layer({ policy: Policy.elevator })))
})
