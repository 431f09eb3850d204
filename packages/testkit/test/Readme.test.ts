/** The README's example, verbatim (it is a test), so it cannot rot. `tools/pack-check` runs the README's text itself from the packed package. */
import { expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Actor, ActorSystem } from "@mailroom/core"
import { DeadLetters, Probe } from "@mailroom/testkit"

class Start extends Schema.TaggedClass<Start>()("Start", { job: Schema.Number }) {}
class Report extends Schema.TaggedClass<Report>()("Report", { job: Schema.Number }) {}
const ReportProtocol = Actor.protocol(Report)

// The code under test: a worker that reports each job it starts to the actor it was given.
const makeWorker = (reportTo: Actor.ActorRef<Report>) =>
  Actor.behavior(Actor.protocol(Start), {
    initial: () => 0,
    receive: (done, msg) => Effect.as(reportTo.tell(new Report({ job: msg.job })), done + 1)
  })

it.effect("the worker reports back", () =>
  Effect.gen(function*() {
    const probe = yield* Probe.make(ReportProtocol)     // an actor that records what it gets
    const letters = yield* DeadLetters.collect           // dead letters from now on
    const worker = yield* ActorSystem.spawn(makeWorker(probe.ref))
    yield* worker.tell(new Start({ job: 1 }))
    const report = yield* probe.expect("1 second")      // on the Effect clock: TestClock drives it
    expect(report.job).toBe(1)
    expect(yield* letters.take).toStrictEqual([])
  }).pipe(Effect.scoped, Effect.provide(ActorSystem.layer())))
