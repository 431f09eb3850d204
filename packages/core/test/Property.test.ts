import { describe, expect, it } from "@effect/vitest"
import { Effect, Schedule, Schema } from "effect"
import * as fc from "fast-check"
import { Actor, ActorSystem, Mailbox, Supervision } from "@mailroom/core"
import { drainLetters } from "./helpers.js"

class Msg extends Schema.TaggedClass<Msg>()("Msg", {
  id: Schema.Number,
  outcome: Schema.Literals(["sync", "async", "fail", "defect"])
}) {}
const P = Actor.protocol(Msg)

const directive = fc.constantFrom<Supervision.Directive>(
  Supervision.resume,
  Supervision.stop,
  Supervision.restart({ backoff: Schedule.spaced(0), maxRestarts: 3 }),
  Supervision.restart({ backoff: Schedule.spaced(0), maxRestarts: 3, redeliver: true })
)

const op = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom("sync", "async", "fail", "defect").map((outcome) => ({ _tag: "Tell" as const, outcome })) },
  { weight: 1, arbitrary: fc.constant({ _tag: "Yield" as const }) },
  { weight: 1, arbitrary: fc.constantFrom("stop", "stopNow").map((how) => ({ _tag: "Stop" as const, how })) }
)

describe("Property: no message is lost or handled twice", () => {
  it("under random failures, restarts and stops, every message is handled or dead-lettered exactly once", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 60 }),
        directive,
        fc.constantFrom<Mailbox.Mailbox>(Mailbox.unbounded, Mailbox.bounded(4, "dropOldest"), Mailbox.bounded(4, "dropNewest")),
        (ops, dir, mailbox) =>
          Effect.runPromise(
            Effect.gen(function*() {
              const sub = yield* ActorSystem.subscribeDeadLetters
              const handled: Array<number> = []
              const behavior = Actor.behavior(P, {
                initial: () => 0,
                mailbox,
                supervision: Supervision.always(dir),
                receive: (n, msg) => {
                  switch (msg.outcome) {
                    case "sync":
                      handled.push(msg.id)
                      return Effect.succeed(n + 1)
                    case "async":
                      return Effect.yieldNow.pipe(Effect.map(() => (handled.push(msg.id), n + 1)))
                    case "fail":
                      return Effect.fail("failed")
                    case "defect":
                      return Effect.sync(() => {
                        throw new Error("defect")
                      })
                  }
                }
              })
              const ref = yield* ActorSystem.spawn(behavior)
              const sent: Array<number> = []
              for (const o of ops) {
                if (o._tag === "Tell") {
                  const id = sent.length
                  sent.push(id)
                  yield* ref.tell(new Msg({ id, outcome: o.outcome as Msg["outcome"] }))
                } else if (o._tag === "Yield") {
                  yield* Effect.yieldNow
                } else if (o.how === "stop") {
                  yield* ref.stop
                } else {
                  yield* ref.stopNow
                }
              }
              yield* ref.stop
              const letters = yield* drainLetters(sub)
              const lettered = letters.map((l) => (l.message as Msg).id)
              const all = [...handled, ...lettered].sort((a, b) => a - b)
              expect(all).toStrictEqual(sent)
            }).pipe(Effect.scoped, Effect.provide(ActorSystem.layer()))
          )
      ),
      { numRuns: 150 }
    )
  }, 60_000)
})
