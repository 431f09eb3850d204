import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorSystem } from "@mailroom/core"
import { DeadLetters, Faults, Probe } from "@mailroom/testkit"

class Ping extends Schema.TaggedClass<Ping>()("Ping", { n: Schema.Number }) {}
const P = Actor.protocol(Ping)

describe("Probe", () => {
  it.effect("records messages in order and waits for the next one on the Effect clock", () =>
    Effect.gen(function*() {
      const probe = yield* Probe.make(P)
      yield* probe.ref.tell(new Ping({ n: 1 }))
      yield* probe.ref.tell(new Ping({ n: 2 }))
      expect((yield* probe.expect("1 second")).n).toBe(1)
      expect((yield* probe.expect("1 second")).n).toBe(2)
      const waiting = yield* Effect.forkChild(Effect.flip(probe.expect("1 second")))
      yield* TestClock.adjust("1 second")
      const timeout = yield* Fiber.join(waiting)
      expect(timeout._tag).toBe("ProbeTimeout")
      expect(probe.received.map((m) => m.n)).toStrictEqual([1, 2])
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("expectNothing fails when a message arrives", () =>
    Effect.gen(function*() {
      const probe = yield* Probe.make(P)
      yield* probe.ref.tell(new Ping({ n: 1 }))
      const err = yield* Effect.flip(probe.expectNothing("1 second"))
      expect(err._tag).toBe("UnexpectedMessage")
    }).pipe(Effect.provide(ActorSystem.layer())))
})

describe("DeadLetters.collect", () => {
  it.effect("collects what a stopped actor could not handle", () =>
    Effect.gen(function*() {
      const letters = yield* DeadLetters.collect
      const probe = yield* Probe.make(P)
      yield* probe.ref.stop
      yield* probe.ref.tell(new Ping({ n: 7 }))
      const got = yield* letters.take
      expect(got.map((l) => [(l.message as Ping).n, l.reason])).toStrictEqual([[7, "ActorStopped"]])
    }).pipe(Effect.scoped, Effect.provide(ActorSystem.layer())))
})

describe("Faults", () => {
  it("is reproducible per seed and close to its rate", () => {
    const a = Faults.make({ rate: 0.2, seed: 42 })
    const b = Faults.make({ rate: 0.2, seed: 42 })
    const drawsA = Array.from({ length: 10_000 }, () => a.next("step"))
    const drawsB = Array.from({ length: 10_000 }, () => b.next("step"))
    expect(drawsA).toStrictEqual(drawsB)
    const rate = drawsA.filter(Boolean).length / drawsA.length
    expect(rate).toBeGreaterThan(0.18)
    expect(rate).toBeLessThan(0.22)
    expect(a.injected.get("step")).toBe(drawsA.filter(Boolean).length)
    expect(() => Faults.make({ rate: 2 })).toThrow(/rate must be within 0..1, got 2/)
  })

  it.effect("maybeFail raises a typed InjectedFault naming the site", () =>
    Effect.gen(function*() {
      const always = Faults.make({ rate: 1 })
      const err = yield* Effect.flip(always.maybeFail("debit"))
      expect(err._tag).toBe("InjectedFault")
      expect(err.site).toBe("debit")
      yield* Faults.make({ rate: 0 }).maybeFail("credit")
    }))
})
