import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer } from "effect"
import { Operation, Policy, Scheduler, Target } from "@mailroom/scheduler"
import { tick } from "./fixtures.js"

let seq = 0
const cand = (key: Operation.Key, extra?: Partial<Policy.Candidate>): Policy.Candidate => ({
  key,
  kind: "coalesce",
  priority: 0,
  deadline: 1_000,
  tenant: "default",
  seq: seq++,
  enqueuedAt: 0,
  size: 1,
  ...extra
})
const keys = (cs: ReadonlyArray<Policy.Candidate>) => cs.map((c) => c.key)

describe("built-in policies", () => {
  it("fifo takes the oldest first", () => {
    const select = Policy.fifo.make()
    const [a, b, c] = [cand("a"), cand("b"), cand("c")]
    expect(keys(select([c, a, b], 2, 0))).toEqual(["a", "b"])
  })

  it("priority takes the highest priority first, then the oldest", () => {
    const select = Policy.priority.make()
    const cs = [cand("low"), cand("high", { priority: 5 }), cand("mid", { priority: 1 }), cand("high2", { priority: 5 })]
    expect(keys(select(cs, 3, 0))).toEqual(["high", "high2", "mid"])
  })

  it("earliest-deadline takes the nearest deadline first", () => {
    const select = Policy.earliestDeadline.make()
    const cs = [cand("late", { deadline: 900 }), cand("soon", { deadline: 100 }), cand("mid", { deadline: 500 })]
    expect(keys(select(cs, 3, 0))).toEqual(["soon", "mid", "late"])
  })

  it("elevator sweeps keys upward from the head and wraps around (C-SCAN)", () => {
    const select = Policy.elevator.make()
    expect(keys(select([cand(50), cand(10), cand(30)], 2, 0))).toEqual([10, 30])
    // head at 30: next sweep starts at 30 and goes up, then wraps to the lowest
    expect(keys(select([cand(5), cand(20), cand(40), cand(50)], 3, 0))).toEqual([40, 50, 5])
    // head at 5
    expect(keys(select([cand(1), cand(6), cand(99)], 10, 0))).toEqual([6, 99, 1])
  })

  it("fair share serves tenants in proportion to their weights", () => {
    const select = Policy.fairShare({ weights: { gold: 3, bronze: 1 } }).make()
    const served = { gold: 0, bronze: 0 }
    for (let round = 0; round < 50; round++) {
      const cs = [
        ...Array.from({ length: 10 }, (_, i) => cand(`g${i}`, { tenant: "gold" })),
        ...Array.from({ length: 10 }, (_, i) => cand(`b${i}`, { tenant: "bronze" }))
      ]
      for (const c of select(cs, 4, 0)) served[c.tenant as "gold" | "bronze"]++
    }
    expect(served.gold).toBe(150)
    expect(served.bronze).toBe(50)
  })

  it("fair share gives an idle tenant no saved-up burst", () => {
    const select = Policy.fairShare().make()
    for (let i = 0; i < 20; i++) select([cand(`a${i}`, { tenant: "a" })], 1, 0)
    const cs = [...Array.from({ length: 4 }, (_, i) => cand(`a${i}`, { tenant: "a" })), ...Array.from({ length: 4 }, (_, i) => cand(`b${i}`, { tenant: "b" }))]
    const picked = select(cs, 4, 0).map((c) => c.tenant)
    expect(picked.filter((t) => t === "b").length).toBe(2)
  })

  it.effect("fair share with a non-positive weight: the scheduler refuses it with a typed error naming the tenant", () =>
    Effect.gen(function*() {
      const bad = yield* Effect.flip(Scheduler.make({ policy: Policy.fairShare({ weights: { x: 0 } }) }))
      expect(bad._tag).toBe("InvalidConfig")
      expect(bad.message).toContain("policy.fairShare.weights.x")
      const badDefault = yield* Effect.flip(Scheduler.make({ policy: Policy.fairShare({ defaultWeight: -1 }) }))
      expect(badDefault.message).toContain("policy.fairShare.defaultWeight")
      // Used directly (a custom scheduler), the invalid policy still refuses to run.
      expect(() => Policy.fairShare({ weights: { x: Number.NaN } }).make()).toThrow(/fairShare.weights.x/)
    }))
})

/** Submits keys while the target is busy, then records the order of the next batch. */
const batchOrder = (keysToSubmit: ReadonlyArray<number>) =>
  Effect.gen(function*() {
    const batches: Array<Array<number>> = []
    const gate = yield* Deferred.make<void>()
    const t = Target.make<number, number, number>({
      name: "ordered",
      handle: (b) =>
        Effect.gen(function*() {
          batches.push(b.map((x) => x.key))
          if (batches.length === 1) yield* Deferred.await(gate)
          return b.map((x) => x.input)
        })
    })
    const lane = yield* Scheduler.attach(t)
    const first = yield* Effect.forkChild(lane.submit(Operation.single(-1, 0)))
    yield* tick
    const rest = yield* Effect.forkChild(lane.submitAll(keysToSubmit.map((k) => Operation.single(k, k))))
    yield* tick
    yield* Deferred.succeed(gate, undefined)
    yield* Fiber.join(first)
    yield* Fiber.join(rest)
    return batches[1]!
  }).pipe(Effect.scoped)

describe("plugging in", () => {
  it.effect("a custom policy plugs in through Scheduler.layer", () =>
    Effect.gen(function*() {
      const descending = Policy.make("descending", (cs, limit) => cs.sort((a, b) => Number(b.key) - Number(a.key)).slice(0, limit))
      const order = yield* batchOrder([3, 1, 2]).pipe(Effect.provide(Scheduler.layer({ policy: descending })))
      expect(order).toEqual([3, 2, 1])
      const fifo = yield* batchOrder([3, 1, 2]).pipe(Effect.provide(Scheduler.layer()))
      expect(fifo).toEqual([3, 1, 2])
      const elevator = yield* batchOrder([3, 1, 2]).pipe(Effect.provide(Scheduler.layer({ policy: Policy.elevator })))
      expect(elevator).toEqual([1, 2, 3])
    }))

  it.effect("a faulty custom policy cannot double-dispatch or stall work", () =>
    Effect.gen(function*() {
      const broken = Policy.make("broken", (cs) => [cs[0]!, cs[0]!, cand("invented")])
      const throwing = Policy.make("throwing", () => {
        throw new Error("bug")
      })
      const order = yield* batchOrder([3, 1, 2]).pipe(Effect.provide(Scheduler.layer({ policy: broken, maxBatch: 8 })))
      expect(order.length).toBe(1)
      const order2 = yield* batchOrder([3, 1, 2]).pipe(Effect.provide(Scheduler.layer({ policy: throwing })))
      expect(order2).toEqual([3])
    }))

  it.effect("a custom scheduler plugs in as a Layer and serves code written against the service", () =>
    Effect.gen(function*() {
      const calls: Array<number> = []
      // A scheduler that never merges or waits: every operation is its own batch.
      const direct = Layer.succeed(
        Scheduler.Scheduler,
        Scheduler.custom((target) =>
          Effect.map(Effect.context(), (context) => (op) =>
            target.handle([{ ...op, size: 1 }]).pipe(
              Effect.tap((results) => Effect.sync(() => calls.push(results.length))),
              Effect.flatMap((results) => Effect.fromResult(results[0]!)),
              Effect.provideContext(context)
            ))
        )
      )
      // code that only knows the Scheduler service
      const program = Effect.gen(function*() {
        const t = Target.make<string, number, number>({ name: "double", handle: (b) => Effect.succeed(b.map((x) => x.input * 2)) })
        const lane = yield* Scheduler.attach(t)
        const a = yield* lane.submit(Operation.read("k", 1))
        const b = yield* lane.submitAll([Operation.read("k", 2), Operation.read("k", 2)])
        return { a, b, stats: lane.stats() }
      }).pipe(Effect.scoped)
      const result = yield* program.pipe(Effect.provide(direct))
      expect(result.a).toBe(2)
      expect(result.b.map((e) => e._tag)).toEqual(["Success", "Success"])
      expect(calls).toEqual([1, 1, 1]) // no coalescing: the custom scheduler is the one running
      expect(result.stats.submitted).toBe(3)
      // the same program under the built-in scheduler coalesces the two reads
      const builtIn = yield* program.pipe(Effect.provide(Scheduler.layer()))
      expect(builtIn.stats.coalesced).toBe(1)
    }))
})
