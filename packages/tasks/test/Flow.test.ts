/**
 * Parent/child tasks (flows): a handler spawns children durably; the parent waits for them
 * without holding a worker and ends per its type's `children` policy.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Pipeline, TaskType } from "@mailroom/tasks"
import { env, memoryJournal, settle } from "./support.js"

const Line = Schema.Struct({ sku: Schema.String, qty: Schema.Number })
const Order = Schema.Struct({ lines: Schema.Array(Line) })

const run = (rounds = 20) =>
  Effect.gen(function*() {
    for (let i = 0; i < rounds; i++) yield* Effect.andThen(settle(), TestClock.adjust("10 millis"))
  })

describe("flows", () => {
  it.effect("an order spawns picks; it waits for them holding no worker, then succeeds with its output", () =>
    Effect.gen(function*() {
      let picked = 0
      const gate = { release: false }
      const Pick = TaskType.makeUnsafe({
        name: "pick",
        payload: Line,
        handler: (line) =>
          Effect.gen(function*() {
            while (!gate.release) yield* Effect.sleep("10 millis")
            picked += line.qty
          })
      })
      const OrderTask = TaskType.makeUnsafe({
        name: "order",
        payload: Order,
        concurrency: 1,
        handler: (order, ctx) =>
          Effect.map(ctx.spawn(Pick, order.lines), (tickets) => ({ picks: tickets.length }))
      })
      const p = yield* Pipeline.make({ types: [OrderTask, Pick], reconciler: false })
      const a = yield* p.frontDesk.submit(OrderTask, { lines: [{ sku: "tea", qty: 2 }, { sku: "cup", qty: 1 }] })
      const b = yield* p.frontDesk.submit(OrderTask, { lines: [{ sku: "pot", qty: 1 }] })
      yield* run()
      // Both orders ran their handler on the one order worker: the first did not hold it.
      const waitingA = yield* p.status.get(a)
      const waitingB = yield* p.status.get(b)
      assert.strictEqual(waitingA.status, "waiting")
      assert.strictEqual(waitingB.status, "waiting")
      assert.deepStrictEqual(waitingA.children, { total: 2, pending: 2, failed: 0 })
      assert.strictEqual(p.pools.get("order")!.busy(), 0)
      gate.release = true
      yield* run()
      const final = yield* p.status.awaitFinal(a)
      assert.strictEqual(final.status, "succeeded")
      assert.deepStrictEqual(final.output, { picks: 2 })
      assert.deepStrictEqual(final.children, { total: 2, pending: 0, failed: 0 })
      assert.strictEqual((yield* p.status.awaitFinal(b)).status, "succeeded")
      assert.strictEqual(picked, 4)
      // Children are not counted by admission's backlog (roots only).
      assert.strictEqual(p.backlog.snapshot().roots, 0)
    }).pipe(Effect.scoped, Effect.provide(env())))

  it.effect("a parent run again (retry) finds the children of its earlier run instead of spawning twice", () =>
    Effect.gen(function*() {
      let spawnedRuns = 0
      let picks = 0
      const Pick = TaskType.makeUnsafe({ name: "pick", payload: Line, handler: () => Effect.sync(() => ++picks) })
      const OrderTask = TaskType.makeUnsafe({
        name: "order",
        payload: Order,
        retry: Schedule.spaced("10 millis").pipe(Schedule.upTo({ times: 3 })),
        handler: (order, ctx) =>
          Effect.gen(function*() {
            const tickets = yield* ctx.spawn(Pick, order.lines)
            // The first run fails after spawning: the retry spawns the same children again.
            if (++spawnedRuns === 1) return yield* Effect.fail("crashed after spawning")
            return tickets.map((t) => t.duplicate)
          })
      })
      const p = yield* Pipeline.make({ types: [OrderTask, Pick], reconciler: false })
      const t = yield* p.frontDesk.submit(OrderTask, { lines: [{ sku: "tea", qty: 1 }, { sku: "cup", qty: 1 }] })
      yield* run()
      const final = yield* p.status.awaitFinal(t)
      assert.strictEqual(final.status, "succeeded")
      assert.deepStrictEqual(final.output, [true, true])
      assert.strictEqual(final.attempt, 2)
      assert.deepStrictEqual(final.children, { total: 2, pending: 0, failed: 0 })
      assert.strictEqual(picks, 2)
    }).pipe(Effect.scoped, Effect.provide(env())))

  it.effect("policies: a failed child fails the parent (fail), at once (fail-fast), or not at all (ignore)", () =>
    Effect.gen(function*() {
      let slowDone = false
      const Child = TaskType.makeUnsafe({
        name: "child",
        payload: Schema.Struct({ fail: Schema.Boolean, slow: Schema.Boolean }),
        retry: Schedule.recurs(0),
        handler: (c) =>
          c.fail ? Effect.fail("out of stock") : c.slow ? Effect.andThen(Effect.sleep("1 second"), Effect.sync(() => (slowDone = true))) : Effect.void
      })
      const parent = (name: string, children: TaskType.ChildrenPolicy) =>
        TaskType.makeUnsafe({
          name,
          payload: Schema.Struct({}),
          children,
          retry: Schedule.recurs(0),
          handler: (_, ctx) => Effect.asVoid(ctx.spawn(Child, [{ fail: true, slow: false }, { fail: false, slow: true }]))
        })
      const Fail = parent("fail", "fail")
      const FailFast = parent("fail-fast", "fail-fast")
      const Ignore = parent("ignore", "ignore")
      const p = yield* Pipeline.make({ types: [Fail, FailFast, Ignore, Child], reconciler: false })
      const [f, ff, ig] = yield* Effect.all([
        p.frontDesk.submit(Fail, {}),
        p.frontDesk.submit(FailFast, {}),
        p.frontDesk.submit(Ignore, {})
      ])
      yield* run(10)
      assert.isFalse(slowDone)
      const early = yield* p.status.get(ff)
      assert.strictEqual(early.status, "failed")
      assert.match(early.error ?? "", /1 of 2 child tasks did not succeed/)
      assert.strictEqual((yield* p.status.get(f)).status, "waiting")
      yield* run(120)
      assert.isTrue(slowDone)
      const failed = yield* p.status.awaitFinal(f)
      assert.strictEqual(failed.status, "failed")
      assert.deepStrictEqual(failed.children, { total: 2, pending: 0, failed: 1 })
      assert.strictEqual((yield* p.status.awaitFinal(ig)).status, "succeeded")
    }).pipe(Effect.scoped, Effect.provide(env())))

  it.effect("a waiting parent survives a restart: it completes once its children are final", () =>
    Effect.gen(function*() {
      const journal = yield* memoryJournal
      const gate = { block: true }
      const Pick = TaskType.makeUnsafe({
        name: "pick",
        payload: Line,
        timeout: "1 hour",
        handler: () => Effect.gen(function*() {
          while (gate.block) yield* Effect.sleep("10 millis")
        })
      })
      const OrderTask = TaskType.makeUnsafe({
        name: "order",
        payload: Order,
        handler: (order, ctx) => Effect.as(ctx.spawn(Pick, order.lines), "ok")
      })
      const ticket = yield* Effect.gen(function*() {
        const p = yield* Pipeline.make({ types: [OrderTask, Pick], reconciler: false })
        const t = yield* p.frontDesk.submit(OrderTask, { lines: [{ sku: "tea", qty: 1 }] })
        yield* run()
        assert.strictEqual((yield* p.status.get(t)).status, "waiting")
        return t
      }).pipe(Effect.scoped, Effect.provide(env(journal)))
      gate.block = false
      const final = yield* Effect.gen(function*() {
        const p = yield* Pipeline.make({ types: [OrderTask, Pick], reconciler: false })
        assert.strictEqual(p.recovered, 2) // the waiting order and its pick
        yield* run()
        return yield* p.status.awaitFinal(ticket)
      }).pipe(Effect.scoped, Effect.provide(env(journal)))
      assert.strictEqual(final.status, "succeeded")
      assert.strictEqual(final.output, "ok")
    }))

  it.effect("spawn refuses a bad child payload with a typed error naming it, and a merged run", () =>
    Effect.gen(function*() {
      const Pick = TaskType.makeUnsafe({ name: "pick", payload: Line, handler: () => Effect.void })
      const errors: Array<string> = []
      const OrderTask = TaskType.makeUnsafe({
        name: "order",
        payload: Order,
        retry: Schedule.recurs(0),
        handler: (_, ctx) =>
          Effect.tapError(ctx.spawn(Pick, [{ sku: "tea", qty: 1 }, { sku: "cup", qty: "two" as unknown as number }]), (e) =>
            Effect.sync(() => errors.push(e._tag === "InvalidPayload" ? `${e._tag} ${e.field}` : e._tag)))
      })
      const Merged = TaskType.makeUnsafe({
        name: "merged",
        payload: Schema.Struct({ k: Schema.String }),
        merge: TaskType.coalesce((m: { readonly k: string }) => m.k),
        concurrency: 1,
        retry: Schedule.recurs(0),
        handler: (_, ctx) => Effect.tapError(ctx.spawn(Pick, [{ sku: "x", qty: 1 }]), (e) => Effect.sync(() => errors.push(e._tag)))
      })
      const p = yield* Pipeline.make({ types: [OrderTask, Pick, Merged], reconciler: false })
      const t = yield* p.frontDesk.submit(OrderTask, { lines: [] })
      yield* Effect.all([p.frontDesk.submit(Merged, { k: "a" }), p.frontDesk.submit(Merged, { k: "a" }), p.frontDesk.submit(Merged, { k: "a" })])
      yield* run()
      assert.strictEqual((yield* p.status.awaitFinal(t)).status, "failed")
      assert.include(errors, "InvalidPayload payloads[1].qty")
      assert.include(errors, "InvalidSpawn")
      assert.strictEqual(p.backlog.snapshot().depth, 0, "nothing half-spawned")
    }).pipe(Effect.scoped, Effect.provide(env())))
})

describe("status with payload", () => {
  it.effect("answers the payload of live tasks from memory and of final ones from the log", () =>
    Effect.gen(function*() {
      const gate = { block: true }
      const Work = TaskType.makeUnsafe({
        name: "work",
        payload: Schema.Struct({ n: Schema.Number, when: Schema.Date }),
        handler: (w) => Effect.gen(function*() {
          while (gate.block && w.n === 2) yield* Effect.sleep("10 millis")
          return w.n * 10
        })
      })
      const p = yield* Pipeline.make({ types: [Work], reconciler: false, retainFinal: 10 })
      const one = yield* p.frontDesk.submit(Work, { n: 1, when: new Date(0) })
      const two = yield* p.frontDesk.submit(Work, { n: 2, when: new Date(1000) })
      yield* run()
      const final = yield* p.status.get(one, { payload: true })
      assert.strictEqual(final.status, "succeeded")
      assert.strictEqual(final.output, 10)
      assert.deepStrictEqual(final.payload, { n: 1, when: new Date(0) }) // decoded with the type's Schema
      const live = yield* p.status.get(two, { payload: true })
      assert.strictEqual(live.status, "running")
      assert.deepStrictEqual(live.payload, { n: 2, when: new Date(1000) })
      assert.isUndefined((yield* p.status.get(two)).payload, "only when asked")
      gate.block = false
    }).pipe(Effect.scoped, Effect.provide(env())))
})

describe("payloads through the log", () => {
  it.effect("a payload Schema whose encoded side is not JSON (Schema.Date) survives a restart", () =>
    Effect.gen(function*() {
      const journal = yield* memoryJournal
      const seen: Array<unknown> = []
      const gate = { block: true }
      const Remind = TaskType.makeUnsafe({
        name: "remind",
        payload: Schema.Struct({ at: Schema.Date }),
        timeout: "1 hour",
        handler: (r) => Effect.gen(function*() {
          while (gate.block) yield* Effect.sleep("10 millis")
          seen.push(r.at)
        })
      })
      yield* Effect.gen(function*() {
        const p = yield* Pipeline.make({ types: [Remind], reconciler: false })
        yield* p.frontDesk.submit(Remind, { at: new Date(86_400_000) })
        yield* run(3)
      }).pipe(Effect.scoped, Effect.provide(env(journal)))
      gate.block = false
      yield* Effect.gen(function*() {
        const p = yield* Pipeline.make({ types: [Remind], reconciler: false })
        yield* run(3)
        assert.strictEqual(p.backlog.snapshot().depth, 0)
      }).pipe(Effect.scoped, Effect.provide(env(journal)))
      assert.deepStrictEqual(seen, [new Date(86_400_000)])
    }))
})
