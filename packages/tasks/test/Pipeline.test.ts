import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Schedule, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import { Journal } from "@mailroom/persistence"
import { Pipeline, TaskError, TaskLog, TaskType } from "@mailroom/tasks"
import { env, memoryJournal, settle } from "./support.js"

const Email = Schema.Struct({ to: Schema.String, body: Schema.String, priority: Schema.Number })

const makeEmail = (handler: TaskType.TaskType<typeof Email.Type, string>["handler"], options: Partial<TaskType.Options<typeof Email.Type, string, unknown, never>> = {}) =>
  TaskType.makeUnsafe({ name: "email", payload: Email, handler, maxPayloadBytes: 1000, ...options })

const ok = { to: "a@example.com", body: "hi", priority: 1 }

/** A task as an older `TasksAccepted` event stored it. */
const loggedTask = (id: string, priority: number) => ({ id, type: "email", tenant: "default", payload: { ...ok, priority }, at: 1 })

describe("FrontDesk", () => {
  it.effect("accepts, dispatches, runs and reports success", () =>
    Effect.gen(function*() {
      const Send = makeEmail((e) => Effect.succeed(`sent to ${e.to}`))
      const p = yield* Pipeline.make({ types: [Send] })
      const ticket = yield* p.frontDesk.submit(Send, ok)
      assert.strictEqual(ticket.status, "accepted")
      assert.isFalse(ticket.duplicate)
      const seen = yield* p.status.changes(ticket).pipe(Stream.map((s) => s.status), Stream.runCollect, Effect.forkChild)
      const final = yield* p.status.awaitFinal(ticket)
      assert.strictEqual(final.status, "succeeded")
      assert.strictEqual(final.output, "sent to a@example.com")
      assert.strictEqual(final.attempt, 1)
      const statuses = yield* Fiber.join(seen)
      assert.deepStrictEqual(statuses.slice(-1), ["succeeded"])
      assert.strictEqual((yield* p.status.get(ticket.id)).status, "succeeded")
    }).pipe(Effect.scoped, Effect.provide(env())))

  it.effect("records the transitions as events in the journal", () =>
    Effect.gen(function*() {
      const Send = makeEmail(() => Effect.succeed("ok"))
      const p = yield* Pipeline.make({ types: [Send], stream: "log" })
      const ticket = yield* p.frontDesk.submit(Send, ok)
      yield* p.status.awaitFinal(ticket)
      yield* settle()
      const journal = yield* Journal.Journal
      const events = yield* journal.readStream("log")
      assert.strictEqual(events[0]!.type, "TasksAccepted")
      // Every report after it, in order, whatever events the writer's batches cut them into.
      const reports = events.slice(1).flatMap((e) => {
        assert.strictEqual(e.type, "TasksProgressed")
        return (e.data as { facts: ReadonlyArray<ReadonlyArray<unknown>> }).facts
      })
      assert.deepStrictEqual(reports.map((f) => [f[0], f[1], f[2]]), [
        ["dispatched", ticket.id, 1],
        ["running", ticket.id, 1],
        ["succeeded", ticket.id, 1]
      ])
    }).pipe(Effect.scoped, Effect.provide(env())))

  it.effect("commitInterval: submissions within the interval share one log append", () =>
    Effect.gen(function*() {
      const Send = makeEmail(() => Effect.succeed("ok"))
      const p = yield* Pipeline.make({ types: [Send], stream: "log", commitInterval: "50 millis", reconciler: false })
      const journal = yield* Journal.Journal
      const first = yield* Effect.forkChild(p.frontDesk.submit(Send, ok))
      yield* settle()
      yield* Fiber.join(first)
      const rest = yield* Effect.forkChild(Effect.forEach([2, 3, 4, 5], (priority) => p.frontDesk.submit(Send, { ...ok, priority }), { concurrency: "unbounded" }))
      yield* settle()
      assert.strictEqual((yield* journal.readStream("log")).filter((e) => e.type === "TasksAccepted").length, 1)
      yield* TestClock.adjust("50 millis")
      const tickets = yield* Fiber.join(rest)
      assert.strictEqual(tickets.length, 4)
      const accepted = (yield* journal.readStream("log")).filter((e) => e.type === "TasksAccepted")
      assert.strictEqual(accepted.length, 2)
      assert.strictEqual((accepted[1]!.data as { tasks: Array<unknown> }).tasks.length, 4)
    }).pipe(Effect.scoped, Effect.provide(env())))

  it.effect("bad input: typed error naming the field, nothing recorded", () =>
    Effect.gen(function*() {
      let runs = 0
      const Send = makeEmail(() => Effect.sync(() => String(runs++)))
      const p = yield* Pipeline.make({ types: [Send], stream: "log" })
      const wrongType = yield* Effect.flip(p.frontDesk.submit(Send, { ...ok, priority: "high" }))
      assert.strictEqual(wrongType._tag, "InvalidPayload")
      assert.strictEqual(wrongType._tag === "InvalidPayload" && wrongType.field, "payload.priority")
      const missing = yield* Effect.flip(p.frontDesk.submit(Send, { to: "x", priority: 1 }))
      assert.strictEqual(missing._tag === "InvalidPayload" && missing.field, "payload.body")
      const notObject = yield* Effect.flip(p.frontDesk.submit(Send, 42))
      assert.strictEqual(notObject._tag, "InvalidPayload")
      const big = yield* Effect.flip(p.frontDesk.submit(Send, { ...ok, body: "x".repeat(2000) }))
      assert.strictEqual(big._tag, "PayloadTooLarge")
      assert.isTrue(big._tag === "PayloadTooLarge" && big.bytes > 1000 && big.limit === 1000)
      const batch = yield* Effect.flip(p.frontDesk.submitAll(Send, [ok, { ...ok, to: 7 }]))
      assert.strictEqual(batch._tag === "InvalidPayload" && batch.field, "payloads[1].to")
      const other = TaskType.makeUnsafe({ name: "other", payload: Email, handler: () => Effect.void })
      assert.strictEqual((yield* Effect.flip(p.frontDesk.submit(other, ok)))._tag, "UnknownTaskType")
      yield* settle()
      const journal = yield* Journal.Journal
      assert.strictEqual((yield* journal.readAll()).length, 0)
      assert.strictEqual(runs, 0)
    }).pipe(Effect.scoped, Effect.provide(env())))

  it.effect("an idempotency key answers the original ticket and creates no second task", () =>
    Effect.gen(function*() {
      let runs = 0
      const Send = makeEmail(() => Effect.sync(() => String(++runs)))
      const p = yield* Pipeline.make({ types: [Send] })
      const [a, b] = yield* Effect.all([
        p.frontDesk.submit(Send, ok, { key: "k1" }),
        p.frontDesk.submit(Send, ok, { key: "k1" })
      ], { concurrency: "unbounded" })
      assert.strictEqual(a.id, b.id)
      assert.isTrue(b.duplicate)
      yield* p.status.awaitFinal(a)
      const c = yield* p.frontDesk.submit(Send, ok, { key: "k1" })
      assert.strictEqual(c.id, a.id)
      assert.isTrue(c.duplicate)
      // The same key with another payload is another request: a typed conflict, nothing recorded.
      const changed = yield* Effect.flip(p.frontDesk.submit(Send, { ...ok, body: "changed" }, { key: "k1" }))
      assert.strictEqual(changed._tag, "IdempotencyConflict")
      yield* settle()
      assert.strictEqual(runs, 1)
    }).pipe(Effect.scoped, Effect.provide(env())))
})

describe("WorkerPool", () => {
  it.effect("retries per the type's Schedule, then succeeds", () =>
    Effect.gen(function*() {
      let runs = 0
      const Send = makeEmail(() => Effect.suspend(() => ++runs < 3 ? Effect.fail("smtp down") : Effect.succeed("ok")), {
        retry: Schedule.spaced("1 second").pipe(Schedule.upTo({ times: 5 }))
      })
      const p = yield* Pipeline.make({ types: [Send] })
      const ticket = yield* p.frontDesk.submit(Send, ok)
      yield* settle()
      assert.strictEqual((yield* p.status.get(ticket)).status, "retrying")
      assert.strictEqual((yield* p.status.get(ticket)).error, "smtp down")
      yield* TestClock.adjust("1 second")
      yield* settle()
      yield* TestClock.adjust("1 second")
      const final = yield* p.status.awaitFinal(ticket)
      assert.strictEqual(final.status, "succeeded")
      assert.strictEqual(final.attempt, 3)
      assert.strictEqual(runs, 3)
    }).pipe(Effect.scoped, Effect.provide(env())))

  it.effect("a handler past its timeout fails; retries exhausted → failed", () =>
    Effect.gen(function*() {
      let runs = 0
      const Send = makeEmail(() => Effect.andThen(Effect.sync(() => runs++), Effect.never), {
        timeout: "5 seconds",
        retry: Schedule.spaced("1 second").pipe(Schedule.upTo({ times: 1 }))
      })
      const p = yield* Pipeline.make({ types: [Send], reconciler: false })
      const ticket = yield* p.frontDesk.submit(Send, ok)
      yield* settle()
      yield* TestClock.adjust("5 seconds")
      yield* settle()
      assert.strictEqual((yield* p.status.get(ticket)).status, "retrying")
      yield* TestClock.adjust("1 second")
      yield* settle()
      yield* TestClock.adjust("5 seconds")
      const final = yield* p.status.awaitFinal(ticket)
      assert.strictEqual(final.status, "failed")
      assert.match(final.error ?? "", /did not finish within 5000 ms/)
      assert.strictEqual(runs, 2)
    }).pipe(Effect.scoped, Effect.provide(env())))

  it.effect("combine: orders for the same product become one package", () =>
    Effect.gen(function*() {
      const Order = Schema.Struct({ product: Schema.String, qty: Schema.Number })
      const packages: Array<{ product: string; qty: number; tasks: number }> = []
      const Pack = TaskType.makeUnsafe({
        name: "pack",
        payload: Order,
        merge: TaskType.combine({
          key: (o: typeof Order.Type) => o.product,
          fold: (os) => ({ product: os[0]!.product, qty: os.reduce((n, o) => n + o.qty, 0) })
        }),
        concurrency: 1,
        handler: (o, ctx) =>
          Effect.andThen(Effect.sleep("1 second"), Effect.sync(() => {
            packages.push({ ...o, tasks: ctx.taskIds.length })
            return `package of ${o.qty}`
          }))
      })
      const p = yield* Pipeline.make({ types: [Pack], autoscaler: false })
      const first = yield* p.frontDesk.submit(Pack, { product: "tea", qty: 1 })
      yield* settle()
      const rest = yield* Effect.forEach([2, 3, 4], (qty) => p.frontDesk.submit(Pack, { product: "tea", qty }))
      const coffee = yield* p.frontDesk.submit(Pack, { product: "coffee", qty: 5 })
      yield* settle()
      yield* TestClock.adjust("1 second")
      yield* settle()
      yield* TestClock.adjust("1 second")
      yield* settle()
      yield* TestClock.adjust("1 second")
      const finals = yield* Effect.forEach([first, ...rest, coffee], (t) => p.status.awaitFinal(t))
      assert.deepStrictEqual(finals.map((f) => f.status), ["succeeded", "succeeded", "succeeded", "succeeded", "succeeded"])
      assert.deepStrictEqual(packages, [
        { product: "tea", qty: 1, tasks: 1 },
        { product: "tea", qty: 9, tasks: 3 },
        { product: "coffee", qty: 5, tasks: 1 }
      ])
      assert.strictEqual(finals[2]!.output, "package of 9")
    }).pipe(Effect.scoped, Effect.provide(env())))

  it.effect("a pool smaller than its maximum leaves the waiting work in the scheduler, where it still merges", () =>
    Effect.gen(function*() {
      const Order = Schema.Struct({ product: Schema.String, qty: Schema.Number })
      const packed: Array<string> = []
      const Pack = TaskType.makeUnsafe({
        name: "pack",
        payload: Order,
        merge: TaskType.combine({
          key: (o: typeof Order.Type) => o.product,
          fold: (os) => ({ product: os[0]!.product, qty: os.reduce((n, o) => n + o.qty, 0) })
        }),
        concurrency: { min: 1, max: 8, initial: 1 },
        handler: (o) => Effect.andThen(Effect.sleep("1 second"), Effect.sync(() => packed.push(`${o.qty} ${o.product}`)))
      })
      const p = yield* Pipeline.make({ types: [Pack], autoscaler: false })
      const pool = p.pools.get("pack")!
      // One at a time: each task reaches the scheduler before the next arrives.
      const tickets = yield* Effect.forEach(["tea", "mug", "jam", "tea", "mug", "jam"], (product) =>
        Effect.tap(p.frontDesk.submit(Pack, { product, qty: 1 }), () => settle()))
      // One worker: one package in progress; the rest wait (merged per product) in the scheduler.
      assert.strictEqual(pool.busy(), 1)
      assert.strictEqual(p.dispatcher.lanes().get("pack")!.inflightBatches, 1)
      yield* pool.resize(3)
      yield* settle()
      assert.strictEqual(pool.busy(), 3)
      yield* TestClock.adjust("1 second")
      yield* settle()
      yield* TestClock.adjust("1 second")
      const finals = yield* Effect.forEach(tickets, (t) => p.status.awaitFinal(t))
      assert.isTrue(finals.every((f) => f.status === "succeeded"))
      // Mugs and jams waited together and went out as one package each (with 8 credits offered
      // to 1 worker, each task would have left the scheduler alone: six packages).
      assert.deepStrictEqual([...packed].sort(), ["1 tea", "1 tea", "2 jam", "2 mug"])
      assert.strictEqual(packed[0], "1 tea")
    }).pipe(Effect.scoped, Effect.provide(env())))
})

describe("Reconciler and recovery", () => {
  it.effect("a worker finishes but loses its status report: re-dispatched, effect applied once", () =>
    Effect.gen(function*() {
      const applied = new Map<string, number>()
      let lost = 0
      const Send = makeEmail((_, ctx) =>
        Effect.sync(() => {
          applied.set(ctx.taskId, (applied.get(ctx.taskId) ?? 0) + 1)
          return "done"
        }), { timeout: "10 seconds" })
      const p = yield* Pipeline.make({
        types: [Send],
        reconciler: { interval: "1 second", grace: "1 second" },
        loseReport: (_, status) => status === "succeeded" && lost++ < 3
      })
      const tickets = yield* Effect.forEach([1, 2, 3, 4], (priority) => p.frontDesk.submit(Send, { ...ok, priority }))
      yield* settle()
      for (const t of tickets.slice(0, 3)) assert.strictEqual((yield* p.status.get(t)).status, "running")
      yield* TestClock.adjust("12 seconds")
      const finals = yield* Effect.forEach(tickets, (t) => p.status.awaitFinal(t))
      assert.deepStrictEqual(finals.map((f) => f.status), ["succeeded", "succeeded", "succeeded", "succeeded"])
      assert.deepStrictEqual([...applied.values()], [1, 1, 1, 1])
      assert.strictEqual(p.reconciler!.reconciled(), 3)
      assert.strictEqual(finals[0]!.attempt, 2)
      assert.strictEqual(p.guard.size(), 0)
    }).pipe(Effect.scoped, Effect.provide(env())))

  it.effect("tasks accepted but not final are re-dispatched from the log on restart", () =>
    Effect.gen(function*() {
      const journal = yield* memoryJournal
      let runs = 0
      const Slow = makeEmail(() => Effect.andThen(Effect.sync(() => runs++), Effect.never), { timeout: "1 hour" })
      const tickets = yield* Effect.gen(function*() {
        const p = yield* Pipeline.make({ types: [Slow], stream: "log" })
        const ts = yield* Effect.forEach([1, 2, 3], (priority) => p.frontDesk.submit(Slow, { ...ok, priority }))
        yield* settle()
        return ts
      }).pipe(Effect.scoped, Effect.provide(env(journal)))
      assert.strictEqual(runs, 3)
      const Fast = makeEmail(() => Effect.succeed("after restart"))
      yield* Effect.gen(function*() {
        // onAccept sees every task of the log during the replay, with its decoded payload.
        const seen: Array<Pipeline.Accepted> = []
        const p2 = yield* Pipeline.make({ types: [Fast], stream: "log", onAccept: (task) => seen.push(task) })
        assert.deepStrictEqual(seen.map((t) => [t.id, t.replayed, (t.payload as typeof ok).priority]), tickets.map((t, i) => [t.id, true, i + 1]))
        assert.strictEqual(p2.recovered, 3)
        for (const t of tickets) {
          const final = yield* p2.status.awaitFinal(t)
          assert.strictEqual(final.status, "succeeded")
          assert.strictEqual(final.output, "after restart")
          assert.strictEqual(final.attempt, 2)
        }
        const fresh = yield* p2.frontDesk.submit(Fast, ok)
        assert.deepStrictEqual(seen.slice(3).map((t) => [t.id, t.replayed]), [[fresh.id, false]])
      }).pipe(Effect.scoped, Effect.provide(env(journal)))
    }))
  it.effect("a log in the older per-kind event format still replays", () =>
    Effect.gen(function*() {
      const journal = yield* memoryJournal
      yield* journal.append("log", [
        { id: "e1", type: "TasksAccepted", schemaVersion: 1, data: { at: 1, tasks: [loggedTask("t-done", 1), loggedTask("t-failed", 2), loggedTask("t-open", 3)] } },
        { id: "e2", type: "TasksDispatched", schemaVersion: 1, data: { at: 2, tasks: [["t-done", 1], ["t-failed", 1], ["t-open", 1]] } },
        { id: "e3", type: "TasksRunning", schemaVersion: 1, data: { at: 3, tasks: [["t-done", 1], ["t-failed", 1]] } },
        { id: "e4", type: "TasksSucceeded", schemaVersion: 1, data: { at: 4, tasks: [["t-done", 1, "old output"]] } },
        { id: "e5", type: "TasksFailed", schemaVersion: 1, data: { at: 5, tasks: [["t-failed", 1, "boom"]] } }
      ], "any")
      const Send = makeEmail(() => Effect.succeed("new output"))
      yield* Effect.gen(function*() {
        const p = yield* Pipeline.make({ types: [Send], stream: "log" })
        assert.strictEqual(p.recovered, 1)
        const done = yield* p.status.get("t-done")
        assert.deepStrictEqual([done.status, done.output], ["succeeded", "old output"])
        const failed = yield* p.status.get("t-failed")
        assert.deepStrictEqual([failed.status, failed.error], ["failed", "boom"])
        const open = yield* p.status.awaitFinal("t-open")
        assert.deepStrictEqual([open.status, open.output, open.attempt], ["succeeded", "new output", 2])
      }).pipe(Effect.scoped, Effect.provide(env(journal)))
    }))
  it.effect("TaskLog.decode reads the log from outside the pipeline; a bad event is a CorruptLog naming it", () =>
    Effect.gen(function*() {
      const Send = makeEmail((e) => Effect.succeed(`sent to ${e.to}`))
      const p = yield* Pipeline.make({ types: [Send], stream: "log" })
      const ticket = yield* p.frontDesk.submit(Send, ok)
      yield* p.status.awaitFinal(ticket)
      yield* settle()
      const journal = yield* Journal.Journal
      const seen: Array<string> = []
      for (const event of yield* journal.readStream("log")) {
        const decoded = TaskLog.decode(event)
        if (decoded instanceof TaskError.CorruptLog) return assert.fail(decoded.message)
        for (const fact of decoded.facts) {
          if (fact.kind === "accepted") seen.push(...fact.tasks.map((t) => `accepted ${t.id} ${JSON.stringify(t.payload)}`))
          else seen.push(`${fact.kind} ${fact.id}${fact.kind === "succeeded" ? ` ${String(fact.output)}` : ""}`)
        }
      }
      assert.deepStrictEqual(seen, [
        `accepted ${ticket.id} ${JSON.stringify(ok)}`,
        `dispatched ${ticket.id}`,
        `running ${ticket.id}`,
        `succeeded ${ticket.id} sent to a@example.com`
      ])
      const bad = TaskLog.decode({ position: 7, stream: "log", version: 3, id: "x", type: "TasksProgressed", schemaVersion: 1, data: { at: 1, facts: [["exploded", "t-1", 1]] } })
      assert.instanceOf(bad, TaskError.CorruptLog)
      assert.include(bad.message, "7")
      const unknown = TaskLog.decode({ position: 8, stream: "log", version: 4, id: "y", type: "Nope", schemaVersion: 1, data: {} })
      assert.instanceOf(unknown, TaskError.CorruptLog)
    }).pipe(Effect.scoped, Effect.provide(env())))
})
