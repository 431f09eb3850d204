import { assert, describe, it } from "@effect/vitest"
import { Effect, Metric, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Autoscaler, Backlog, Pipeline, TaskType } from "@mailroom/tasks"
import { env, settle } from "./support.js"

const Job = Schema.Struct({ n: Schema.Number })

describe("Admission, Backlog and Autoscaler", () => {
  it.effect("overload at 10× capacity: bounded backlog, Overloaded with retry-after, nothing accepted lost", () =>
    Effect.gen(function*() {
      let done = 0
      const Work = TaskType.makeUnsafe({
        name: "work",
        payload: Job,
        concurrency: { min: 1, max: 4, initial: 1 },
        timeout: "10 seconds",
        handler: () => Effect.andThen(Effect.sleep("100 millis"), Effect.sync(() => done++))
      })
      const highWater = 40
      const p = yield* Pipeline.make({
        types: [Work],
        retainFinal: 100,
        admission: { highWater },
        autoscaler: { interval: "500 millis", backlogPerWorker: 2 },
        backlogInterval: "500 millis"
      })
      // Capacity at full size: 4 workers × 10 tasks/s = 40/s. Offer 400/s for 5 s.
      const accepted: Array<string> = []
      const refusals: Array<number> = []
      let maxDepth = 0
      let maxPool = 0
      for (let tick = 0; tick < 500; tick++) {
        for (let k = 0; k < 4; k++) {
          const r = yield* Effect.result(p.frontDesk.submit(Work, { n: tick * 4 + k }))
          if (r._tag === "Success") accepted.push(r.success.id)
          else {
            assert.strictEqual(r.failure._tag, "Overloaded")
            if (r.failure._tag === "Overloaded") {
              assert.strictEqual(r.failure.reason, "backlog")
              refusals.push(r.failure.retryAfter)
            }
          }
        }
        yield* TestClock.adjust("10 millis")
        const snapshot = p.backlog.snapshot()
        maxDepth = Math.max(maxDepth, snapshot.depth)
        maxPool = Math.max(maxPool, p.pools.get("work")!.size())
      }
      assert.isAtMost(maxDepth, highWater, "the backlog never passes the high-water mark")
      assert.isAbove(refusals.length, 1000, "most of the 10× load is refused")
      assert.isTrue(refusals.every((ms) => ms >= 100 && ms <= 60_000), "every refusal says when to retry")
      assert.strictEqual(maxPool, 4, "the autoscaler grew the pool to its max")
      // Roughly capacity × time + the backlog allowance was accepted.
      assert.isAbove(accepted.length, 150)
      assert.isBelow(accepted.length, 260)
      // Drain: everything accepted reaches succeeded.
      while (p.backlog.snapshot().depth > 0) yield* TestClock.adjust("100 millis")
      assert.strictEqual(done, accepted.length)
      assert.strictEqual(p.backlog.snapshot().completions, accepted.length)
      for (const id of accepted.slice(-50)) assert.strictEqual((yield* p.status.get(id)).status, "succeeded")
      // Final statuses beyond retainFinal are evicted: the index stays bounded too.
      assert.strictEqual((yield* Effect.flip(p.status.get(accepted[0]!)))._tag, "TicketNotFound")
      // Idle: the autoscaler shrinks the pool back to its min.
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual(p.pools.get("work")!.size(), 1)
    }).pipe(Effect.scoped, Effect.provide(env())))

  it.effect("per-tenant rate limit: over-rate submissions get Overloaded with the refill time", () =>
    Effect.gen(function*() {
      const Work = TaskType.makeUnsafe({ name: "work", payload: Job, handler: () => Effect.void })
      const p = yield* Pipeline.make({
        types: [Work],
        admission: { tenantRate: { perSecond: 100 }, tenants: { noisy: { perSecond: 5, burst: 10 } }, minRetryAfter: 1 }
      })
      const results = yield* Effect.forEach(Array.from({ length: 15 }, (_, n) => n), (n) =>
        Effect.result(p.frontDesk.submit(Work, { n }, { tenant: "noisy" })))
      const refused = results.filter((r) => r._tag === "Failure")
      assert.strictEqual(refused.length, 5)
      const first = refused[0]!
      assert.isTrue(first._tag === "Failure" && first.failure._tag === "Overloaded" && first.failure.reason === "tenant-rate")
      assert.isTrue(first._tag === "Failure" && first.failure._tag === "Overloaded" && first.failure.retryAfter === 200)
      // Another tenant is not affected.
      const quiet = yield* p.frontDesk.submit(Work, { n: 99 }, { tenant: "quiet" })
      assert.strictEqual(quiet.status, "accepted")
      // After the refill time the noisy tenant is admitted again.
      yield* TestClock.adjust("200 millis")
      assert.strictEqual((yield* p.frontDesk.submit(Work, { n: 100 }, { tenant: "noisy" })).status, "accepted")
    }).pipe(Effect.scoped, Effect.provide(env())))

  it.effect("tenant rates: fractional rates work, bad rates are refused at start, a batch over the burst says so, idle buckets are forgotten", () =>
    Effect.gen(function*() {
      const Work = TaskType.makeUnsafe({ name: "work", payload: Job, handler: () => Effect.void })
      // Bad configuration: a typed error naming the option.
      const bad = yield* Effect.flip(Pipeline.make({ types: [Work], admission: { tenantRate: { perSecond: 0.4, burst: 0.8 } } }))
      assert.strictEqual(bad._tag, "InvalidTaskConfig")
      assert.include(bad.message, "admission.tenantRate.burst")
      const zero = yield* Effect.flip(Pipeline.make({ types: [Work], admission: { tenants: { a: { perSecond: 0 } } } }))
      assert.include(zero.message, "admission.tenants.a.perSecond")
      // 0.5 tasks/s (burst defaults to 1): one now, the next after 2 s.
      const p = yield* Pipeline.make({ types: [Work], admission: { tenantRate: { perSecond: 0.5 }, minRetryAfter: 1 } })
      assert.strictEqual((yield* p.frontDesk.submit(Work, { n: 1 }, { tenant: "slow" })).status, "accepted")
      const again = yield* Effect.flip(p.frontDesk.submit(Work, { n: 2 }, { tenant: "slow" }))
      assert.isTrue(again._tag === "Overloaded" && again.retryAfter === 2000)
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual((yield* p.frontDesk.submit(Work, { n: 3 }, { tenant: "slow" })).status, "accepted")
      // A batch larger than the burst can never be admitted: the answer says so.
      const tooMany = yield* Effect.flip(p.frontDesk.submitAll(Work, [{ n: 4 }, { n: 5 }], { tenant: "other" }))
      assert.isTrue(tooMany._tag === "Overloaded" && tooMany.detail.includes("exceed the tenant's burst"))
      // Tenants seen once: their full buckets are swept instead of piling up.
      for (let i = 0; i < 20_000; i++) p.admission.check(`t-${i}`, 1)
      const before = p.admission.tenants()
      yield* TestClock.adjust("2 seconds") // every bucket so far has refilled
      for (let i = 20_000; i < 40_050; i++) p.admission.check(`t-${i}`, 1)
      assert.isAtLeast(before, 20_000)
      assert.isBelow(p.admission.tenants(), 20_100)
    }).pipe(Effect.scoped, Effect.provide(env())))

  it.effect("backlog metrics: depth, oldest age, rates, latency", () =>
    Effect.gen(function*() {
      const Work = TaskType.makeUnsafe({
        name: "work",
        payload: Job,
        concurrency: 1,
        handler: () => Effect.sleep("1 second")
      })
      const p = yield* Pipeline.make({ types: [Work], autoscaler: false, backlogInterval: "1 second" })
      yield* Effect.forEach(Array.from({ length: 5 }, (_, n) => n), (n) => p.frontDesk.submit(Work, { n }))
      yield* settle()
      yield* TestClock.adjust("2 seconds")
      yield* settle()
      const s = p.backlog.snapshot()
      assert.strictEqual(s.arrivals, 5)
      assert.strictEqual(s.completions, 2)
      assert.strictEqual(s.depth, 3)
      assert.strictEqual(s.oldestAgeMs, 2000)
      assert.isAbove(s.arrivalRate, 0)
      assert.isAbove(s.completionRate, 0)
      yield* p.backlog.tick
      // Each pipeline publishes its own series, tagged with its request-log stream.
      const ofLog = { stream: "mailroom-tasks" }
      assert.strictEqual((yield* Metric.value(Metric.withAttributes(Backlog.depth, ofLog))).value, 3)
      assert.strictEqual((yield* Metric.value(Metric.withAttributes(Backlog.completions, ofLog))).count, 2)
      assert.strictEqual((yield* Metric.value(Metric.withAttributes(Backlog.latency, ofLog))).count, 2)
      const other = { stream: "other-log" }
      assert.strictEqual((yield* Metric.value(Metric.withAttributes(Backlog.completions, other))).count, 0)
    }).pipe(Effect.scoped, Effect.provide(env()), Effect.provideService(Metric.MetricRegistry, new Map())))

  it("autoscaler decision: grow by half under backlog, shrink by a quarter when idle, within bounds", () => {
    const bounds = { min: 2, max: 10 }
    assert.strictEqual(Autoscaler.decide(2, 100, bounds, 4), 3)
    assert.strictEqual(Autoscaler.decide(8, 100, bounds, 4), 10)
    assert.strictEqual(Autoscaler.decide(10, 100, bounds, 4), 10)
    assert.strictEqual(Autoscaler.decide(8, 0, bounds, 4), 6)
    assert.strictEqual(Autoscaler.decide(2, 0, bounds, 4), 2)
    assert.strictEqual(Autoscaler.decide(4, 8, bounds, 4), 4)
  })

  it.effect("the high-water mark counts tasks accepted elsewhere (other partitions); ids carry the pipeline's prefix", () =>
    Effect.gen(function*() {
      let elsewhere = 0
      const Work = TaskType.makeUnsafe({ name: "work", payload: Job, handler: () => Effect.never, timeout: "1 hour" })
      const p = yield* Pipeline.make({ types: [Work], reconciler: false, idPrefix: "p07.", admission: { highWater: 10, elsewhere: () => elsewhere } })
      const first = yield* p.frontDesk.submit(Work, { n: 1 })
      assert.isTrue(first.id.startsWith("p07."))
      assert.strictEqual(first.id.length, 4 + 22)
      elsewhere = 9
      const refused = yield* Effect.flip(p.frontDesk.submit(Work, { n: 2 }))
      assert.strictEqual(refused._tag, "Overloaded")
      elsewhere = 8
      yield* p.frontDesk.submit(Work, { n: 3 })
      const bad = yield* Effect.flip(Pipeline.make({ types: [Work], idPrefix: "no spaces" }))
      assert.strictEqual(bad._tag, "InvalidTaskConfig")
    }).pipe(Effect.scoped, Effect.provide(env())))
})
