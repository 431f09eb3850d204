/**
 * Faults found by trying the pipeline as users would (issue 10, items 1–8). Each test states
 * the right behaviour; each failed on the code before its fix.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, type Duration, Effect, Exit, Fiber, Layer, Schedule, Schema, Scope } from "effect"
import { TestClock } from "effect/testing"
import { Journal } from "@mailroom/persistence"
import { Policy, Scheduler } from "@mailroom/scheduler"
import { Pipeline, type Reconciler, Saga, TaskType } from "@mailroom/tasks"
import { env, memoryJournal, settle } from "./support.js"

const Job = Schema.Struct({ n: Schema.Number })

/** A clock whose wall time can be stepped (NTP, a VM resumed) while monotonic time runs on. */
const steppedClock = (base: Clock.Clock) => {
  const test = base as TestClock.TestClock
  let offset = 0
  const clock: Clock.Clock = {
    currentTimeMillisUnsafe: () => base.currentTimeMillisUnsafe() + offset,
    currentTimeMillis: Effect.sync(() => base.currentTimeMillisUnsafe() + offset),
    currentTimeNanosUnsafe: () => base.currentTimeNanosUnsafe() + BigInt(offset) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => base.currentTimeNanosUnsafe() + BigInt(offset) * 1_000_000n),
    monotonicTimeNanosUnsafe: () => base.monotonicTimeNanosUnsafe(),
    monotonicTimeNanos: base.monotonicTimeNanos,
    sleep: (d) => base.sleep(d)
  }
  return { clock, step: (ms: number) => void (offset += ms), adjust: (d: Duration.Input) => test.adjust(d) }
}

describe("timeouts (item 1)", () => {
  it.effect("a timed-out run that cannot be interrupted is waited for and keeps its result: no second run", () =>
    Effect.gen(function*() {
      let effects = 0
      const Slow = TaskType.makeUnsafe({
        name: "slow",
        payload: Job,
        timeout: "1 second",
        retry: Schedule.recurs(1),
        handler: () => Effect.uninterruptible(Effect.andThen(Effect.sleep("2 seconds"), Effect.sync(() => ++effects)))
      })
      const p = yield* Pipeline.make({ types: [Slow], reconciler: false })
      const ticket = yield* p.frontDesk.submit(Slow, { n: 1 })
      yield* TestClock.adjust("1500 millis")
      assert.strictEqual(effects, 0)
      yield* TestClock.adjust("5 seconds")
      const final = yield* p.status.awaitFinal(ticket)
      assert.strictEqual(effects, 1)
      assert.strictEqual(final.status, "succeeded")
      assert.strictEqual(final.output, 1)
      assert.strictEqual(final.attempt, 1)
    }).pipe(Effect.scoped, Effect.provide(env())))

  it.effect("an interruptible run is stopped at its timeout, its signal aborted, and retried after it ended", () =>
    Effect.gen(function*() {
      const signals: Array<AbortSignal> = []
      let running = 0
      let most = 0
      const Hang = TaskType.makeUnsafe({
        name: "hang",
        payload: Job,
        timeout: "1 second",
        retry: Schedule.recurs(1),
        handler: (_, ctx) =>
          Effect.acquireUseRelease(
            Effect.sync(() => {
              signals.push(ctx.signal)
              most = Math.max(most, ++running)
            }),
            () => Effect.never,
            () => Effect.sync(() => running--)
          )
      })
      const p = yield* Pipeline.make({ types: [Hang], reconciler: false })
      const ticket = yield* p.frontDesk.submit(Hang, { n: 1 })
      yield* TestClock.adjust("10 seconds")
      const final = yield* p.status.awaitFinal(ticket)
      assert.strictEqual(final.status, "failed")
      assert.match(final.error ?? "", /did not finish within 1000 ms/)
      assert.strictEqual(signals.length, 2)
      assert.isTrue(signals.every((s) => s.aborted))
      assert.strictEqual(most, 1, "never two runs of the task at once")
    }).pipe(Effect.scoped, Effect.provide(env())))
})

describe("restarts (item 2)", () => {
  it.effect("recovery honours the logged retry time and the attempt budget", () =>
    Effect.gen(function*() {
      const journal = yield* memoryJournal
      const runs: Array<number> = []
      const Flaky = TaskType.makeUnsafe({
        name: "flaky",
        payload: Job,
        retry: Schedule.spaced("1 hour").pipe(Schedule.upTo({ times: 1 })),
        handler: () =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            runs.push(now)
            return Effect.fail("always")
          })
      })
      const start = (minutes: number) =>
        Effect.gen(function*() {
          const p = yield* Pipeline.make({ types: [Flaky], reconciler: false })
          yield* TestClock.adjust(`${minutes} minutes`)
          return p
        }).pipe(Effect.scoped, Effect.provide(env(journal)))
      const ticket = yield* Effect.gen(function*() {
        const p = yield* Pipeline.make({ types: [Flaky], reconciler: false })
        const t = yield* p.frontDesk.submit(Flaky, { n: 1 })
        yield* TestClock.adjust("1 minute")
        return t
      }).pipe(Effect.scoped, Effect.provide(env(journal)))
      yield* start(1) // restarted at +1 min, runs to +2 min
      yield* start(0) // restarted at +2 min
      assert.strictEqual(runs.length, 1, "no run before the logged retry time")
      const final = yield* Effect.gen(function*() {
        const p = yield* Pipeline.make({ types: [Flaky], reconciler: false })
        yield* TestClock.adjust("2 hours")
        return yield* p.status.awaitFinal(ticket)
      }).pipe(Effect.scoped, Effect.provide(env(journal)))
      assert.strictEqual(runs.length, 2)
      assert.strictEqual(runs[1]! - runs[0]!, 3_600_000, "the second run at the logged retry time")
      assert.strictEqual(final.status, "failed")
      assert.strictEqual(final.attempt, 2)
    }))
})

describe("closing (item 3)", () => {
  it.effect("submissions in flight and after the close fail with PipelineClosed; waiting callers are answered", () =>
    Effect.gen(function*() {
      const Block = TaskType.makeUnsafe({ name: "block", payload: Job, handler: () => Effect.never, timeout: "1 hour" })
      const scope = yield* Scope.make()
      const p = yield* Pipeline.make({ types: [Block], commitInterval: "1 hour", reconciler: false }).pipe(Scope.provide(scope))
      const first = yield* p.frontDesk.submit(Block, { n: 1 }).pipe(Effect.forkChild)
      yield* settle()
      const done = yield* Fiber.join(first)
      const waiting = yield* p.status.awaitFinal(done).pipe(Effect.forkChild)
      const inFlight = yield* p.frontDesk.submit(Block, { n: 2 }).pipe(Effect.forkChild)
      yield* settle()
      yield* Scope.close(scope, Exit.void)
      const exit = yield* Fiber.await(inFlight)
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(Exit.isFailure(exit) && exit.cause.toString().includes("PipelineClosed"), true)
      const waited = yield* Fiber.await(waiting)
      assert.isTrue(Exit.isFailure(waited) && waited.cause.toString().includes("PipelineClosed"))
      const after = yield* Effect.flip(p.frontDesk.submit(Block, { n: 3 }))
      assert.strictEqual(after._tag, "PipelineClosed")
    }).pipe(Effect.provide(env())))
})

describe("scheduling attributes (item 4)", () => {
  it.effect("fair share: a tenant with 1 task is not served after another tenant's 20", () =>
    Effect.gen(function*() {
      const order: Array<string> = []
      const Work = TaskType.makeUnsafe({
        name: "work",
        payload: Schema.Struct({ tenant: Schema.String, n: Schema.Number }),
        concurrency: 1,
        handler: (job) => Effect.andThen(Effect.sleep("10 millis"), Effect.sync(() => order.push(`${job.tenant}${job.n}`)))
      })
      const p = yield* Pipeline.make({ types: [Work], reconciler: false, autoscaler: false })
      for (let n = 1; n <= 20; n++) yield* p.frontDesk.submit(Work, { tenant: "A", n }, { tenant: "A" })
      const b = yield* p.frontDesk.submit(Work, { tenant: "B", n: 1 }, { tenant: "B" })
      for (let i = 0; i < 40; i++) yield* Effect.andThen(settle(), TestClock.adjust("10 millis"))
      yield* p.status.awaitFinal(b)
      assert.isAtMost(order.indexOf("B1"), 2, `B ran at ${order.indexOf("B1") + 1}: ${order.join(" ")}`)
    }).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(Journal.layerMemory(), Scheduler.layer({ policy: Policy.fairShare() })))))

  it.effect("priority: a higher-priority task submitted later runs before waiting lower ones", () =>
    Effect.gen(function*() {
      const order: Array<number> = []
      const Work = TaskType.makeUnsafe({
        name: "work",
        payload: Job,
        concurrency: 1,
        handler: (job) => Effect.andThen(Effect.sleep("10 millis"), Effect.sync(() => order.push(job.n)))
      })
      const p = yield* Pipeline.make({ types: [Work], reconciler: false, autoscaler: false })
      for (let n = 1; n <= 10; n++) yield* p.frontDesk.submit(Work, { n })
      const urgent = yield* p.frontDesk.submit(Work, { n: 99 }, { priority: 10 })
      for (let i = 0; i < 40; i++) yield* Effect.andThen(settle(), TestClock.adjust("10 millis"))
      yield* p.status.awaitFinal(urgent)
      assert.isAtMost(order.indexOf(99), 2, order.join(" "))
    }).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(Journal.layerMemory(), Scheduler.layer({ policy: Policy.priority })))))
})

describe("idempotency keys (item 5)", () => {
  it.effect("are scoped by task type and tenant; a reused key with another payload is a typed conflict", () =>
    Effect.gen(function*() {
      const A = TaskType.makeUnsafe({ name: "a", payload: Job, handler: () => Effect.void })
      const B = TaskType.makeUnsafe({ name: "b", payload: Job, handler: () => Effect.void })
      const p = yield* Pipeline.make({ types: [A, B], reconciler: false })
      const first = yield* p.frontDesk.submit(A, { n: 1 }, { key: "k", tenant: "t1" })
      const again = yield* p.frontDesk.submit(A, { n: 1 }, { key: "k", tenant: "t1" })
      assert.strictEqual(again.id, first.id)
      assert.isTrue(again.duplicate)
      const otherType = yield* p.frontDesk.submit(B, { n: 1 }, { key: "k", tenant: "t1" })
      assert.notStrictEqual(otherType.id, first.id)
      assert.isFalse(otherType.duplicate)
      const otherTenant = yield* p.frontDesk.submit(A, { n: 1 }, { key: "k", tenant: "t2" })
      assert.notStrictEqual(otherTenant.id, first.id)
      assert.isFalse(otherTenant.duplicate)
      const conflict = yield* Effect.flip(p.frontDesk.submit(A, { n: 2 }, { key: "k", tenant: "t1" }))
      assert.strictEqual(conflict._tag, "IdempotencyConflict")
      assert.strictEqual(conflict._tag === "IdempotencyConflict" && conflict.ticket, first.id)
      // Concurrent resubmissions: the same payload joins, another payload conflicts.
      const [x, y, z] = yield* Effect.all([
        p.frontDesk.submit(A, { n: 5 }, { key: "c" }),
        p.frontDesk.submit(A, { n: 5 }, { key: "c" }),
        Effect.flip(p.frontDesk.submit(A, { n: 6 }, { key: "c" }))
      ], { concurrency: "unbounded" })
      assert.strictEqual(x.id, y.id)
      assert.strictEqual(z._tag, "IdempotencyConflict")
    }).pipe(Effect.scoped, Effect.provide(env())))

  it.effect("ticket ids are unguessable: 128 random bits", () =>
    Effect.gen(function*() {
      const A = TaskType.makeUnsafe({ name: "a", payload: Job, handler: () => Effect.void })
      const p = yield* Pipeline.make({ types: [A], reconciler: false })
      const tickets = yield* p.frontDesk.submitAll(A, Array.from({ length: 200 }, (_, n) => ({ n })))
      const ids = tickets.map((t) => t.id)
      assert.strictEqual(new Set(ids).size, ids.length)
      for (const id of ids) assert.match(id, /^[A-Za-z0-9_-]{22}$/)
      // Consecutive ids share no prefix beyond chance (a counter or a clock would show).
      const shared = ids.slice(1).filter((id, i) => id.slice(0, 4) === ids[i]!.slice(0, 4)).length
      assert.isAtMost(shared, 2)
    }).pipe(Effect.scoped, Effect.provide(env())))
})

describe("monotonic durations (item 6)", () => {
  it.effect("a wall-clock step forward does not time out a healthy run", () =>
    Effect.gen(function*() {
      const stepped = steppedClock(yield* Clock.Clock)
      let runs = 0
      const Work = TaskType.makeUnsafe({
        name: "work",
        payload: Job,
        timeout: "1 second",
        handler: () => Effect.andThen(Effect.sleep("500 millis"), Effect.sync(() => ++runs))
      })
      const final = yield* Effect.gen(function*() {
        const p = yield* Pipeline.make({ types: [Work], reconciler: { interval: "100 millis", grace: "100 millis" } })
        const ticket = yield* p.frontDesk.submit(Work, { n: 1 })
        yield* stepped.adjust("200 millis")
        stepped.step(3_600_000)
        yield* stepped.adjust("5 seconds")
        return yield* p.status.awaitFinal(ticket)
      }).pipe(Effect.scoped, Effect.provideService(Clock.Clock, stepped.clock))
      assert.strictEqual(final.status, "succeeded")
      assert.strictEqual(final.attempt, 1)
      assert.strictEqual(runs, 1)
    }).pipe(Effect.provide(env())))

  it.effect("a wall-clock step back does not keep a hung run running", () =>
    Effect.gen(function*() {
      const stepped = steppedClock(yield* Clock.Clock)
      const Hang = TaskType.makeUnsafe({ name: "hang", payload: Job, timeout: "1 second", retry: Schedule.recurs(0), handler: () => Effect.never })
      const final = yield* Effect.gen(function*() {
        const p = yield* Pipeline.make({ types: [Hang], reconciler: false })
        const ticket = yield* p.frontDesk.submit(Hang, { n: 1 })
        yield* stepped.adjust("100 millis")
        stepped.step(-3_600_000)
        yield* stepped.adjust("2 seconds")
        return yield* p.status.get(ticket)
      }).pipe(Effect.scoped, Effect.provideService(Clock.Clock, stepped.clock))
      assert.strictEqual(final.status, "failed")
    }).pipe(Effect.provide(env())))

  it.effect("admission: a wall-clock step back does not refuse a tenant", () =>
    Effect.gen(function*() {
      const stepped = steppedClock(yield* Clock.Clock)
      const Work = TaskType.makeUnsafe({ name: "work", payload: Job, handler: () => Effect.void })
      const second = yield* Effect.gen(function*() {
        const p = yield* Pipeline.make({ types: [Work], reconciler: false, admission: { tenantRate: { perSecond: 1, burst: 1 } } })
        yield* p.frontDesk.submit(Work, { n: 1 }, { tenant: "t" })
        stepped.step(-60_000)
        yield* stepped.adjust("1100 millis")
        return yield* Effect.exit(p.frontDesk.submit(Work, { n: 2 }, { tenant: "t" }))
      }).pipe(Effect.scoped, Effect.provideService(Clock.Clock, stepped.clock))
      assert.isTrue(Exit.isSuccess(second), String(second))
    }).pipe(Effect.provide(env())))
})

describe("sagas (item 7)", () => {
  it.effect("two concurrent runs of one saga: one decides, the other stops with SagaConflict; money is conserved", () =>
    Effect.gen(function*() {
      const balances = new Map([["a", 100], ["b", 0]])
      const applied = new Set<string>()
      const once = (voucher: string, f: () => void) =>
        Effect.sync(() => {
          if (applied.has(voucher)) return
          applied.add(voucher)
          f()
        })
      let creditCalls = 0
      const Transfer = Saga.make({
        name: "transfer",
        input: Schema.Struct({ amount: Schema.Number }),
        steps: [
          Saga.step({
            name: "debit",
            action: (i: { readonly amount: number }, v: string) =>
              Effect.andThen(Effect.sleep("10 millis"), once(v, () => balances.set("a", balances.get("a")! - i.amount))),
            compensate: (i: { readonly amount: number }, v: string, out: unknown) => out === undefined ? Effect.void : once(`${v}:undo`, () => balances.set("a", balances.get("a")! + i.amount))
          }),
          Saga.step({
            name: "credit",
            // The first run's credit fails, the second's succeeds: the two runs disagree.
            action: (i: { readonly amount: number }, v: string) =>
              Effect.andThen(
                Effect.sleep("10 millis"),
                ++creditCalls === 1 ? Effect.fail("credit refused") : once(v, () => balances.set("b", balances.get("b")! + i.amount))
              ),
            compensate: (i: { readonly amount: number }, v: string) =>
              Effect.sync(() => {
                if (applied.has(v) && !applied.has(`${v}:undo`)) {
                  applied.add(`${v}:undo`)
                  balances.set("b", balances.get("b")! - i.amount)
                }
              })
          })
        ]
      })
      const [one, two] = yield* Effect.all([
        Effect.exit(Saga.run(Transfer, "t1", { amount: 30 })),
        Effect.exit(Effect.andThen(Effect.sleep("1 millis"), Saga.run(Transfer, "t1", { amount: 30 })))
      ], { concurrency: "unbounded" }).pipe(Effect.forkChild, Effect.flatMap((f) => Effect.andThen(TestClock.adjust("1 second"), Fiber.join(f))))
      const outcomes = [one, two].map((e) =>
        Exit.isSuccess(e) ? "completed" : e.cause.toString().includes("SagaConflict") ? "conflict" : e.cause.toString().includes("SagaCompensated") ? "compensated" : e.cause.toString()
      )
      assert.include(outcomes, "conflict", outcomes.join(", "))
      assert.strictEqual(balances.get("a")! + balances.get("b")!, 100, JSON.stringify([...balances]))
      const state = yield* Saga.state(Transfer, "t1")
      assert.isDefined(state.ended)
      // The run that stopped leaves the decision to the one that owns the stream; running the saga again answers it.
      const rerun = yield* Effect.exit(Saga.run(Transfer, "t1", { amount: 30 }))
      assert.strictEqual(Exit.isSuccess(rerun), state.ended === "completed")
    }).pipe(Effect.provide(Journal.layerMemory())))
})

describe("reconciler (item 8)", () => {
  it.effect("tasks that only wait in the scheduler are never taken back; attempts stay 1", () =>
    Effect.gen(function*() {
      let runs = 0
      const Slow = TaskType.makeUnsafe({
        name: "slow",
        payload: Job,
        timeout: "1 second",
        concurrency: 1,
        handler: () => Effect.andThen(Effect.sleep("900 millis"), Effect.sync(() => ++runs))
      })
      const p = yield* Pipeline.make({
        types: [Slow],
        autoscaler: false,
        // `abandonAfter` was how the reconciler took back "held" tasks; it is gone (only tasks
        // nobody holds can go quiet), and passing it changes nothing.
        reconciler: { interval: "100 millis", grace: "100 millis", abandonAfter: 1 } as Reconciler.Options
      })
      const tickets = yield* p.frontDesk.submitAll(Slow, Array.from({ length: 10 }, (_, n) => ({ n })))
      yield* TestClock.adjust("30 seconds")
      const finals = yield* Effect.forEach(tickets, (t) => p.status.awaitFinal(t))
      assert.deepStrictEqual(finals.map((f) => f.attempt), finals.map(() => 1))
      assert.strictEqual(runs, 10)
      assert.strictEqual(p.reconciler!.reconciled(), 0)
      assert.strictEqual(p.dispatcher.dispatched(), 10)
    }).pipe(Effect.scoped, Effect.provide(env())))
})

describe("a journal that refuses writes for a while (item 15)", () => {
  it.effect("status reports are appended again once the journal takes writes: tasks end without a restart", () =>
    Effect.gen(function*() {
      const base = yield* memoryJournal
      let full = false
      const journal: Journal.Journal["Service"] = {
        ...base,
        append: (stream, events, expected) =>
          full
            ? Effect.fail(new Journal.JournalError({ operation: "append", reason: "database or disk is full" }))
            : base.append(stream, events, expected)
      }
      let runs = 0
      const Work = TaskType.makeUnsafe({
        name: "work",
        payload: Job,
        handler: (j) => Effect.andThen(Effect.sleep("50 millis"), Effect.sync(() => (++runs, j.n)))
      })
      yield* Effect.gen(function*() {
        const p = yield* Pipeline.make({ types: [Work], reconciler: { interval: "100 millis", grace: "100 millis" } })
        const tickets = yield* p.frontDesk.submitAll(Work, [{ n: 1 }, { n: 2 }, { n: 3 }])
        yield* settle()
        full = true
        // Submissions while full get the error (nothing acknowledged); the running tasks finish.
        const refused = yield* Effect.flip(p.frontDesk.submit(Work, { n: 4 }))
        assert.strictEqual(refused._tag, "JournalError")
        for (let i = 0; i < 20; i++) yield* Effect.andThen(settle(), TestClock.adjust("100 millis"))
        assert.notStrictEqual((yield* p.status.get(tickets[0]!)).status, "succeeded", "nothing final while the journal refuses")
        full = false
        for (let i = 0; i < 30; i++) yield* Effect.andThen(settle(), TestClock.adjust("100 millis"))
        const finals = yield* Effect.forEach(tickets, (t) => p.status.get(t))
        assert.deepStrictEqual(finals.map((f) => f.status), ["succeeded", "succeeded", "succeeded"])
        assert.strictEqual(runs, 3, "each handler ran once")
        assert.strictEqual((yield* p.frontDesk.submit(Work, { n: 5 })).status, "accepted")
      }).pipe(Effect.scoped, Effect.provide(env(journal)))
    }))
})

describe("a submitter that gives up (HTTP client gone)", () => {
  it.effect("a submission interrupted before its append is withdrawn: nothing recorded, nothing run", () =>
    Effect.gen(function*() {
      let runs = 0
      const Work = TaskType.makeUnsafe({ name: "work", payload: Job, handler: () => Effect.sync(() => ++runs) })
      const p = yield* Pipeline.make({ types: [Work], commitInterval: "1 second", reconciler: false })
      yield* p.frontDesk.submit(Work, { n: 1 }) // the first append: the next waits out the interval
      const gone = yield* p.frontDesk.submit(Work, { n: 2 }).pipe(Effect.forkChild)
      const kept = yield* p.frontDesk.submit(Work, { n: 3 }).pipe(Effect.forkChild)
      yield* settle()
      yield* Fiber.interrupt(gone)
      yield* TestClock.adjust("2 seconds")
      const ticket = yield* Fiber.join(kept)
      yield* p.status.awaitFinal(ticket)
      const journal = yield* Journal.Journal
      const accepted = (yield* journal.readStream("mailroom-tasks")).filter((e) => e.type === "TasksAccepted")
      const payloads = accepted.flatMap((e) => (e.data as { tasks: Array<{ payload: { n: number } }> }).tasks.map((t) => t.payload.n))
      assert.deepStrictEqual(payloads, [1, 3])
      assert.strictEqual(runs, 2)
    }).pipe(Effect.scoped, Effect.provide(env())))
})
