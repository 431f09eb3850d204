import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer, Metric, Result } from "effect"
import { TestClock } from "effect/testing"
import { Metrics, Operation, Policy, Scheduler, Target } from "@mailroom/scheduler"
import { store, tick } from "./fixtures.js"

const w = (value: unknown) => ({ value })
const n = (value: number) => ({ value })
/** The typed error of a lane whose target fails with strings. */
const tagged = (e: unknown) => e as { readonly _tag: string; readonly message: string }
const sum = Operation.combiner<{ value: number }, number>(
  (inputs) => ({ value: inputs.reduce((s, i) => s + i.value, 0) }),
  (_total, inputs) => inputs.map((i) => i.value)
)

/** Runs `body` with a store attached to a fresh scheduler; the first op blocks the target. */
const withStore = <A, E>(
  body: (s: ReturnType<typeof store>, lane: Scheduler.Lane<string | number, unknown, unknown, string>) => Effect.Effect<A, E>,
  options?: Scheduler.Options & { readonly capacity?: number; readonly maxBatch?: number }
) =>
  Effect.gen(function*() {
    const s = store({ capacity: options?.capacity ?? 1, ...(options?.maxBatch ? { maxBatch: options.maxBatch } : {}) })
    const lane = yield* Scheduler.attach(s.target)
    return yield* body(s, lane)
  }).pipe(Effect.scoped, Effect.provide(Scheduler.layer(options)))

describe("coalesce", () => {
  it.effect("pending reads of a key run once and share the result", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        s.state.set("a", 42)
        yield* s.hold
        const blocker = yield* Effect.forkChild(lane.submit(Operation.single("z", w(0))))
        yield* tick
        const reads = yield* Effect.forkChild(
          Effect.all(Array.from({ length: 10 }, () => lane.submit(Operation.read("a"))), { concurrency: "unbounded" })
        )
        yield* tick
        yield* s.release
        expect(yield* Fiber.join(reads)).toEqual(Array(10).fill(42))
        yield* Fiber.join(blocker)
        expect(s.batches[1]).toEqual([{ key: "a", kind: "coalesce", input: undefined, size: 10 }])
        expect(lane.stats().coalesced).toBe(9)
      })
    ))

  it.effect("coalesced reads share a failure", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        yield* s.hold
        const blocker = yield* Effect.forkChild(lane.submit(Operation.single("z", w(0))))
        yield* tick
        const reads = yield* Effect.forkChild(
          Effect.all(
            Array.from({ length: 3 }, () => Effect.exit(lane.submit(Operation.read("a", { fail: true })))),
            { concurrency: "unbounded" }
          )
        )
        yield* tick
        yield* s.release
        const exits = yield* Fiber.join(reads)
        yield* Fiber.join(blocker)
        expect(exits).toEqual(Array(3).fill(Exit.fail("failed a")))
        expect(s.batches.length).toBe(2)
      })
    ))

  it.effect("a read arriving while the same read is in flight joins it", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        s.state.set("a", 1)
        yield* s.hold
        const r1 = yield* Effect.forkChild(lane.submit(Operation.read("a")))
        yield* tick
        const r2 = yield* Effect.forkChild(lane.submit(Operation.read("a")))
        yield* tick
        yield* s.release
        expect([yield* Fiber.join(r1), yield* Fiber.join(r2)]).toEqual([1, 1])
        expect(s.batches.length).toBe(1)
      })
    ))

  it.effect("a read does not join an in-flight read when a write was submitted after it started", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        s.state.set("a", 1)
        yield* s.hold
        const r1 = yield* Effect.forkChild(lane.submit(Operation.read("a")))
        yield* tick
        const w2 = yield* Effect.forkChild(lane.submit(Operation.write("a", w(2))))
        yield* tick
        const r3 = yield* Effect.forkChild(lane.submit(Operation.read("a")))
        yield* tick
        yield* s.release
        expect(yield* Fiber.join(r1)).toBe(1)
        yield* Fiber.join(w2)
        expect(yield* Fiber.join(r3)).toBe(2)
        expect(s.batches.map((b) => b.map((x) => x.kind))).toEqual([["coalesce"], ["last-wins"], ["coalesce"]])
      })
    ))
})

describe("last-wins", () => {
  it.effect("writes pending together collapse to the last one", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        yield* s.hold
        const blocker = yield* Effect.forkChild(lane.submit(Operation.single("z", w(0))))
        yield* tick
        const fibers = []
        for (const v of [1, 2, 3]) {
          fibers.push(yield* Effect.forkChild(lane.submitReceipt(Operation.write("k", w(v)))))
          yield* tick
        }
        yield* s.release
        yield* Fiber.join(blocker)
        const receipts = yield* Effect.forEach(fibers, Fiber.join)
        expect(receipts.map((r) => r.superseded)).toEqual([true, true, false])
        expect(receipts.every((r) => r.value === "wrote 3")).toBe(true)
        expect(s.batches[1]).toEqual([{ key: "k", kind: "last-wins", input: { value: 3 }, size: 3 }])
        expect(s.state.get("k")).toBe(3)
        expect(lane.stats().superseded).toBe(2)
      })
    ))

  it.effect("superseded writers fail with the write that replaced them", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        yield* s.hold
        const blocker = yield* Effect.forkChild(lane.submit(Operation.single("z", w(0))))
        yield* tick
        const a = yield* Effect.forkChild(Effect.exit(lane.submit(Operation.write("k", w(1)))))
        yield* tick
        const b = yield* Effect.forkChild(Effect.exit(lane.submit(Operation.write("k", { fail: true }))))
        yield* tick
        yield* s.release
        yield* Fiber.join(blocker)
        expect(yield* Fiber.join(a)).toEqual(Exit.fail("failed k"))
        expect(yield* Fiber.join(b)).toEqual(Exit.fail("failed k"))
        expect(s.state.has("k")).toBe(false)
      })
    ))
})

describe("combine", () => {
  it.effect("pending operations fold into one and the outcome is split back", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        yield* s.hold
        const blocker = yield* Effect.forkChild(lane.submit(Operation.single("z", w(0))))
        yield* tick
        const fibers = []
        for (const v of [1, 2, 4]) {
          fibers.push(yield* Effect.forkChild(lane.submit(Operation.combine("p", n(v), sum))))
        }
        yield* tick
        yield* s.release
        yield* Fiber.join(blocker)
        expect(yield* Effect.forEach(fibers, Fiber.join)).toEqual([1, 2, 4])
        expect(s.batches[1]).toEqual([{ key: "p", kind: "combine", input: { value: 7 }, size: 3 }])
        expect(s.state.get("p")).toBe(7)
        expect(lane.stats().combined).toBe(2)
      })
    ))

  it.effect("a throwing fold fails only that operation", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        const bad = Operation.combiner<{ value: number }, number>(() => {
          throw new Error("boom")
        }, (_o, inputs) => inputs.map(() => 0))
        yield* s.hold
        const blocker = yield* Effect.forkChild(lane.submit(Operation.single("z", w(0))))
        yield* tick
        const f1 = yield* Effect.forkChild(Effect.exit(lane.submit(Operation.combine("p", n(1), bad))))
        const f2 = yield* Effect.forkChild(Effect.exit(lane.submit(Operation.combine("p", n(2), bad))))
        const ok = yield* Effect.forkChild(lane.submit(Operation.write("q", w(5))))
        yield* tick
        yield* s.release
        yield* Fiber.join(blocker)
        const e1 = yield* Fiber.join(f1)
        expect(Exit.isFailure(e1) && Exit.hasDies(e1)).toBe(true)
        expect(Exit.isFailure(yield* Fiber.join(f2))).toBe(true)
        expect(yield* Fiber.join(ok)).toBe("wrote 5")
      })
    ))
})

describe("per-key order", () => {
  it.effect("a read between two writes sees the first and not the second", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        yield* s.hold
        const blocker = yield* Effect.forkChild(lane.submit(Operation.single("z", w(0))))
        yield* tick
        const w1 = yield* Effect.forkChild(lane.submit(Operation.write("k", w(1))))
        yield* tick
        const r = yield* Effect.forkChild(lane.submit(Operation.read("k")))
        yield* tick
        const w2 = yield* Effect.forkChild(lane.submit(Operation.write("k", w(2))))
        yield* tick
        yield* s.release
        yield* Fiber.join(blocker)
        yield* Fiber.join(w1)
        expect(yield* Fiber.join(r)).toBe(1)
        yield* Fiber.join(w2)
        expect(s.state.get("k")).toBe(2)
        // one operation per key in flight: three rounds for k
        expect(s.batches.slice(1).map((b) => b.map((x) => x.kind))).toEqual([["last-wins"], ["coalesce"], [
          "last-wins"
        ]])
      })
    ))

  it.effect("none-kind operations never merge and run in submission order", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        const order: Array<unknown> = []
        yield* s.hold
        const blocker = yield* Effect.forkChild(lane.submit(Operation.single("z", w(0))))
        yield* tick
        const fibers = []
        for (const v of [1, 2, 3]) {
          fibers.push(
            yield* Effect.forkChild(lane.submit(Operation.single("k", w(v))).pipe(Effect.tap(() =>
              Effect.sync(() => {
                order.push(v)
              })
            )))
          )
          yield* tick
        }
        yield* s.release
        yield* Fiber.join(blocker)
        yield* Effect.forEach(fibers, Fiber.join)
        expect(order).toEqual([1, 2, 3])
        expect(s.batches.length).toBe(4)
      })
    ))
})

describe("dispatch timing", () => {
  it.effect("work with nothing to merge goes at once, with no added latency", () =>
    withStore((_s, lane) =>
      Effect.gen(function*() {
        const f = yield* Effect.forkChild(lane.submit(Operation.write("k", w(1))))
        yield* tick
        // no TestClock adjustment: the write completed although maxDelay is 1 second
        expect(f.pollUnsafe()).toEqual(Exit.succeed("wrote 1"))
      }), { maxDelay: "1 second" }))

  it.effect("while writes are merging, they are held up to maxDelay for more to merge", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        yield* s.hold
        const blocker = yield* Effect.forkChild(lane.submit(Operation.single("z", w(0))))
        yield* tick
        const f = yield* Effect.forkChild(
          Effect.all([lane.submit(Operation.write("k", w(1))), lane.submit(Operation.write("k", w(2)))], {
            concurrency: "unbounded"
          })
        )
        yield* tick
        expect(s.batches.length).toBe(1)
        yield* TestClock.adjust("5 millis")
        yield* tick
        expect(s.batches.length).toBe(1)
        yield* TestClock.adjust("5 millis")
        yield* tick
        expect(s.batches.length).toBe(2)
        yield* s.release
        yield* Fiber.join(f)
        yield* Fiber.join(blocker)
      }), { maxDelay: "10 millis", capacity: 2 }))

  it.effect("a full batch flushes at once", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        yield* s.hold
        const blocker = yield* Effect.forkChild(lane.submit(Operation.single("z", w(0))))
        yield* tick
        const f = yield* Effect.forkChild(
          Effect.all([1, 2, 3].map((k) => lane.submit(Operation.write(k, w(k)))), { concurrency: "unbounded" })
        )
        yield* tick
        expect(s.batches.length).toBe(2)
        expect(s.batches[1]!.length).toBe(3)
        yield* s.release
        yield* Fiber.join(f)
        yield* Fiber.join(blocker)
      }), { maxDelay: "1 hour", capacity: 2, maxBatch: 3 }))

  it.effect("a due deadline flushes before maxDelay", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        yield* s.hold
        const blocker = yield* Effect.forkChild(lane.submit(Operation.single("z", w(0))))
        yield* tick
        const f = yield* Effect.forkChild(Effect.all([
          lane.submit(Operation.read("k", undefined, { deadline: "20 millis" })),
          lane.submit(Operation.read("k"))
        ], { concurrency: "unbounded" }))
        yield* tick
        yield* TestClock.adjust("20 millis")
        yield* tick
        expect(s.batches.length).toBe(2)
        yield* s.release
        yield* Fiber.join(f)
        yield* Fiber.join(blocker)
      }), { maxDelay: "1 hour", capacity: 2 }))

  it.effect("expired operations go first whatever the policy", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        yield* s.hold
        const blocker = yield* Effect.forkChild(lane.submit(Operation.single("z", w(0))))
        yield* tick
        const low = yield* Effect.forkChild(
          lane.submit(Operation.write("low", w(1), { priority: 0, deadline: "10 millis" }))
        )
        const high = yield* Effect.forkChild(lane.submit(Operation.write("high", w(1), { priority: 9 })))
        yield* tick
        yield* TestClock.adjust("50 millis")
        yield* s.release
        yield* Effect.forEach([low, high, blocker], Fiber.join)
        expect(s.batches[1]!.map((x) => x.key)).toEqual(["low"])
        expect(s.batches[2]!.map((x) => x.key)).toEqual(["high"])
      }), { policy: Policy.priority, maxBatch: 1 }))
})

describe("leaving", () => {
  it.effect("an interrupted submitter leaves; the shared read goes on for the others", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        s.state.set("a", 7)
        yield* s.hold
        const blocker = yield* Effect.forkChild(lane.submit(Operation.single("z", w(0))))
        yield* tick
        const quitter = yield* Effect.forkChild(lane.submit(Operation.read("a")))
        const stayer = yield* Effect.forkChild(lane.submit(Operation.read("a")))
        yield* tick
        yield* Fiber.interrupt(quitter)
        yield* s.release
        expect(yield* Fiber.join(stayer)).toBe(7)
        yield* Fiber.join(blocker)
        expect(s.batches[1]![0]!.size).toBe(1)
      })
    ))

  it.effect("a submitter that times out while in flight does not fail the others", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        s.state.set("a", 7)
        yield* s.hold
        const impatient = yield* Effect.forkChild(Effect.exit(Effect.timeout(lane.submit(Operation.read("a")), "10 millis")))
        yield* tick
        const patient = yield* Effect.forkChild(lane.submit(Operation.read("a")))
        yield* tick
        yield* TestClock.adjust("10 millis")
        const timedOut = yield* Fiber.join(impatient)
        expect(Exit.isFailure(timedOut)).toBe(true)
        yield* s.release
        expect(yield* Fiber.join(patient)).toBe(7)
      })
    ))

  it.effect("an operation whose submitters all left is dropped before dispatch", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        yield* s.hold
        const blocker = yield* Effect.forkChild(lane.submit(Operation.single("z", w(0))))
        yield* tick
        const a = yield* Effect.forkChild(lane.submit(Operation.write("gone", w(1))))
        const b = yield* Effect.forkChild(lane.submit(Operation.write("gone", w(2))))
        const c = yield* Effect.forkChild(lane.submit(Operation.write("kept", w(3))))
        yield* tick
        yield* Fiber.interrupt(a)
        yield* Fiber.interrupt(b)
        yield* s.release
        yield* Fiber.join(c)
        yield* Fiber.join(blocker)
        expect(s.batches.flat().map((x) => x.key)).toEqual(["z", "kept"])
        expect(s.state.has("gone")).toBe(false)
        expect(lane.stats().dropped).toBe(1)
      })
    ))

  it.effect("a write whose last writer left applies the last remaining writer's input", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        yield* s.hold
        const blocker = yield* Effect.forkChild(lane.submit(Operation.single("z", w(0))))
        yield* tick
        const a = yield* Effect.forkChild(lane.submitReceipt(Operation.write("k", w(1))))
        yield* tick
        const b = yield* Effect.forkChild(lane.submit(Operation.write("k", w(2))))
        yield* tick
        yield* Fiber.interrupt(b)
        yield* s.release
        expect(yield* Fiber.join(a)).toEqual({ value: "wrote 1", superseded: false })
        yield* Fiber.join(blocker)
        expect(s.state.get("k")).toBe(1)
      })
    ))

  it.effect("an in-flight operation whose submitter left still runs to completion", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        yield* s.hold
        const a = yield* Effect.forkChild(lane.submit(Operation.write("k", w(1))))
        yield* tick
        yield* Fiber.interrupt(a)
        yield* s.release
        yield* tick
        expect(s.state.get("k")).toBe(1)
      })
    ))
})

describe("bounded pending set", () => {
  it.effect("fails with Overloaded when full and configured to fail", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        yield* s.hold
        const blocker = yield* Effect.forkChild(lane.submit(Operation.single("z", w(0))))
        yield* tick
        const ok = yield* Effect.forkChild(
          Effect.all([1, 2].map((k) => lane.submit(Operation.write(k, w(k)))), { concurrency: "unbounded" })
        )
        yield* tick
        const refused = tagged(yield* Effect.flip(lane.submit(Operation.write(3, w(3)))))
        expect(refused._tag).toBe("Overloaded")
        expect(refused.message).toContain("maxPending 2")
        yield* s.release
        yield* Fiber.join(ok)
        yield* Fiber.join(blocker)
        expect(lane.stats().overloaded).toBe(1)
      }), { maxPending: 2, whenFull: "fail" }))

  it.effect("makes submitters wait for room when configured to wait", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        yield* s.hold
        const blocker = yield* Effect.forkChild(lane.submit(Operation.single("z", w(0))))
        yield* tick
        const first = yield* Effect.forkChild(lane.submit(Operation.write(1, w(1))))
        yield* tick
        const waiting = yield* Effect.forkChild(lane.submit(Operation.write(2, w(2))))
        yield* tick
        expect(lane.stats().pending).toBe(1)
        expect(waiting.pollUnsafe()).toBeUndefined()
        yield* s.release
        expect(yield* Fiber.join(waiting)).toBe("wrote 2")
        yield* Fiber.join(first)
        yield* Fiber.join(blocker)
      }), { maxPending: 1, whenFull: "wait" }))
})

describe("errors and validation", () => {
  it.effect("a malformed operation fails with InvalidOperation naming the problem", () =>
    withStore((_s, lane) =>
      Effect.gen(function*() {
        const err = tagged(yield* Effect.flip(lane.submit({ ...Operation.write("k", 1), priority: Number.NaN })))
        expect(err._tag).toBe("InvalidOperation")
        expect(err.message).toContain("priority")
        const err2 = tagged(yield* Effect.flip(lane.submit(Operation.make("combine", "k", 1))))
        expect(err2.message).toContain("combiner")
      })
    ))

  it.effect("bad scheduler options fail the layer with InvalidConfig", () =>
    Effect.gen(function*() {
      const err = yield* Effect.flip(Layer.build(Scheduler.layer({ maxBatch: 0 })))
      expect(err._tag).toBe("InvalidConfig")
      expect(err.message).toContain("maxBatch")
      const err2 = yield* Effect.flip(Layer.build(Scheduler.layer({ maxDelay: -1 })))
      expect(err2.message).toContain("maxDelay")
    }))

  it.effect("a target with bad capacity fails attach with InvalidConfig", () =>
    Effect.gen(function*() {
      const t = Target.make<string, number, number>({ name: "t", capacity: 0, handle: (b) => Effect.succeed(b.map(() => 1)) })
      const err = yield* Effect.flip(Scheduler.attach(t))
      expect(err.message).toContain("t.capacity")
    }).pipe(Effect.scoped, Effect.provide(Scheduler.layer())))

  it.effect("a handler returning the wrong number of results is a defect for the batch", () =>
    Effect.gen(function*() {
      const t = Target.make<string, number, number>({ name: "t", handle: () => Effect.succeed([]) })
      const lane = yield* Scheduler.attach(t)
      const exit = yield* Effect.exit(lane.submit(Operation.write("k", 1)))
      expect(Exit.isFailure(exit) && Exit.hasDies(exit)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(Scheduler.layer())))

  it.effect("a failing handler fails every operation of its batch", () =>
    Effect.gen(function*() {
      const t = Target.make<string, number, number, string>({ name: "t", handle: () => Effect.fail("down") })
      const lane = yield* Scheduler.attach(t)
      const exits = yield* lane.submitAll([Operation.write("a", 1), Operation.read("b", 2)])
      expect(exits).toEqual([Exit.fail("down"), Exit.fail("down")])
    }).pipe(Effect.scoped, Effect.provide(Scheduler.layer())))

  it.effect("per-item failures reach only their submitters", () =>
    Effect.gen(function*() {
      const t = Target.makeResults<string, number, number, string>({
        name: "t",
        handle: (b) => Effect.succeed(b.map((x) => x.input < 0 ? Result.fail(`negative ${x.key}`) : Result.succeed(x.input)))
      })
      const lane = yield* Scheduler.attach(t)
      const exits = yield* lane.submitAll([Operation.write("a", 1), Operation.write("b", -1)])
      expect(exits).toEqual([Exit.succeed(1), Exit.fail("negative b")])
    }).pipe(Effect.scoped, Effect.provide(Scheduler.layer())))
})

describe("batching and demand", () => {
  it.effect("work waiting for a busy target merges into one larger batch", () =>
    withStore((s, lane) =>
      Effect.gen(function*() {
        yield* s.hold
        const blocker = yield* Effect.forkChild(lane.submit(Operation.single("z", w(0))))
        yield* tick
        const all = yield* Effect.forkChild(lane.submitAll([
          Operation.read("a"),
          Operation.read("a"),
          Operation.write("b", w(1)),
          Operation.write("b", w(2)),
          Operation.read("c")
        ]))
        yield* tick
        yield* s.release
        yield* Fiber.join(blocker)
        const exits = yield* Fiber.join(all)
        expect(exits.every(Exit.isSuccess)).toBe(true)
        expect(s.batches[1]!.map((x) => [x.key, x.size])).toEqual([["a", 2], ["b", 2], ["c", 1]])
      })
    ))

  it.effect("no more batches are in flight than the target's capacity", () =>
    Effect.gen(function*() {
      let inFlight = 0
      let maxInFlight = 0
      const t = Target.make<number, number, number>({
        name: "t",
        capacity: 3,
        maxBatch: 2,
        handle: (b) =>
          Effect.gen(function*() {
            inFlight++
            maxInFlight = Math.max(maxInFlight, inFlight)
            yield* tick
            inFlight--
            return b.map((x) => x.input)
          })
      })
      const lane = yield* Scheduler.attach(t)
      const exits = yield* lane.submitAll(Array.from({ length: 40 }, (_, i) => Operation.single(i, i)))
      expect(exits).toEqual(Array.from({ length: 40 }, (_, i) => Exit.succeed(i)))
      expect(maxInFlight).toBe(3)
      expect(lane.stats().batches).toBe(20)
    }).pipe(Effect.scoped, Effect.provide(Scheduler.layer())))

  it.effect("closing the scope interrupts pending work and waits for in-flight batches", () =>
    Effect.gen(function*() {
      const s = store()
      const fibers = yield* Effect.gen(function*() {
        const lane = yield* Scheduler.attach(s.target)
        yield* s.hold
        const inflight = yield* Effect.forkDetach(lane.submit(Operation.write("a", w(1))))
        yield* tick
        const pending = yield* Effect.forkDetach(lane.submit(Operation.write("b", w(2))))
        yield* tick
        yield* Effect.forkDetach(Effect.andThen(tick, s.release))
        return { inflight, pending }
      }).pipe(Effect.scoped)
      expect(s.state.get("a")).toBe(1)
      expect(yield* Fiber.await(fibers.inflight)).toEqual(Exit.succeed("wrote 1"))
      const pendingExit = yield* Fiber.await(fibers.pending)
      expect(Exit.isFailure(pendingExit) && Exit.hasInterrupts(pendingExit)).toBe(true)
      expect(s.state.has("b")).toBe(false)
    }).pipe(Effect.provide(Scheduler.layer())))
})

describe("metrics", () => {
  it.effect("counts submitted, dispatched, coalesced and batch sizes", () =>
    Effect.gen(function*() {
      const t = Target.make<string, number, number>({ name: "metered", handle: (b) => Effect.succeed(b.map((x) => x.input)) })
      const lane = yield* Scheduler.attach(t)
      yield* lane.submitAll([Operation.read("a", 1), Operation.read("a", 1), Operation.write("b", 2)])
      const attrs = { target: "metered" }
      expect((yield* Metric.value(Metric.withAttributes(Metrics.submitted, attrs))).count).toBe(3)
      expect((yield* Metric.value(Metric.withAttributes(Metrics.dispatched, attrs))).count).toBe(2)
      expect((yield* Metric.value(Metric.withAttributes(Metrics.coalesced, attrs))).count).toBe(1)
      expect((yield* Metric.value(Metric.withAttributes(Metrics.batchSize, attrs))).count).toBe(1)
      const wait = yield* Metric.value(Metric.withAttributes(Metrics.waitTime, { target: "metered", kind: "coalesce" }))
      expect(wait.count).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(Scheduler.layer())))
})

describe("resize", () => {
  it.effect("a lane's capacity grows and shrinks while it runs; work waits in the scheduler meanwhile", () =>
    Effect.gen(function*() {
      const started: Array<Deferred.Deferred<void>> = []
      const target = Target.make<string, number, number>({
        name: "pool",
        capacity: 1,
        maxBatch: 1,
        handle: (batch) =>
          Effect.gen(function*() {
            const d = Deferred.makeUnsafe<void>()
            started.push(d)
            yield* Deferred.await(d)
            return batch.map((work) => work.input)
          })
      })
      const lane = yield* Scheduler.attach(target)
      const all = yield* Effect.forkChild(lane.submitAll([1, 2, 3, 4, 5].map((i) => Operation.single(`k${i}`, i))))
      yield* tick
      expect(started.length).toBe(1)
      yield* lane.resize!(3)
      yield* tick
      expect(started.length).toBe(3)
      expect(lane.stats().inflightBatches).toBe(3)
      expect(lane.stats().pending).toBe(2)
      // Shrinking takes credits back as batches finish: nothing new starts while 1+ is in flight.
      yield* lane.resize!(1)
      yield* Deferred.succeed(started[0]!, undefined)
      yield* tick
      yield* Deferred.succeed(started[1]!, undefined)
      yield* tick
      expect(started.length).toBe(3)
      yield* Deferred.succeed(started[2]!, undefined)
      yield* tick
      expect(started.length).toBe(4)
      expect(lane.stats().inflightBatches).toBe(1)
      const bad = yield* Effect.flip(lane.resize!(0))
      expect(bad._tag).toBe("InvalidConfig")
      expect(bad.message).toContain("pool.capacity")
      yield* Deferred.succeed(started[3]!, undefined)
      yield* tick
      expect(started.length).toBe(5)
      yield* Deferred.succeed(started[4]!, undefined)
      expect(yield* Fiber.join(all)).toEqual([1, 2, 3, 4, 5].map((i) => Exit.succeed(i)))
    }).pipe(Effect.scoped, Effect.provide(Scheduler.layer())))
})
