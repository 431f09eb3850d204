import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Journal } from "@mailroom/persistence"
import { Scheduler } from "@mailroom/scheduler"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Desk from "../src/Desk.js"
import type { Order } from "../src/Order.js"
import * as Shop from "../src/Shop.js"
import type { JobResult } from "../src/Warehouse.js"

const fast: Desk.Options = { highWater: 10_000, minWorkers: 1, maxWorkers: 4, timing: { setupMs: 5, perUnitMs: 0.2 } }

const deskLayer = (options: Desk.Options, journal: Layer.Layer<Journal.Journal, any> = Journal.layerMemory()) =>
  Desk.layer(options).pipe(Layer.provide(journal), Layer.provide(Layer.orDie(Scheduler.layer({ maxBatch: 512 }))))

const order = (customer: string, ...lines: Array<[string, number]>): Order => ({
  customer,
  lines: lines.map(([sku, qty]) => ({ sku, qty }))
})

const settle = (desk: Desk.Desk["Service"], ids: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 400; i++) {
      const tickets = yield* Effect.forEach(ids, (id) => desk.status(id))
      if (tickets.every((t) => t?.status === "succeeded" || t?.status === "failed")) return tickets
      yield* Effect.sleep(25)
    }
    return yield* Effect.die(new Error(`tickets did not finish: ${JSON.stringify(desk.figures())}`))
  })

/** The pick tickets of a finished order (the `order` task's output: its children) and their outcomes. */
const picksOf = (desk: Desk.Desk["Service"], id: string) =>
  Effect.gen(function*() {
    const final = yield* desk.pipelines()[0]!.status.get(id)
    const picks = (final.output as { picks: ReadonlyArray<string> }).picks
    return yield* Effect.forEach(picks, (p) => desk.pipelines()[0]!.status.get(p))
  })

describe("Desk", () => {
  it.live("answers a ticket at once and bundles orders for the same item into few warehouse jobs", () =>
    Effect.gen(function*() {
      const desk = yield* Desk.Desk
      const answers = yield* Effect.forEach(
        Array.from({ length: 120 }, (_, i) => order(`c${i}`, [i % 3 === 0 ? "tea" : "coffee", 1])),
        (o) => desk.submit(o, { source: "api" }),
        { concurrency: "unbounded" }
      )
      assert.isTrue(answers.every((a) => a.ticket.status === "accepted" && !a.duplicate))
      const done = yield* settle(desk, answers.map((a) => a.ticket.id))
      assert.isTrue(done.every((t) => t?.status === "succeeded"))
      const f = desk.figures()
      assert.strictEqual(f.completed, 120)
      assert.strictEqual(f.warehouse.submitted, 120)
      // 120 picks on 2 skus: the scheduler folded most of them into few jobs.
      assert.isAbove(f.warehouse.combined, 60)
      assert.isBelow(f.jobs, 60)
    }).pipe(Effect.provide(deskLayer(fast))))

  it.live("splits an order with 3 items into 3 pick tasks and finishes it when every pick succeeded", () =>
    Effect.gen(function*() {
      const desk = yield* Desk.Desk
      const { ticket } = yield* desk.submit(order("ada", ["tea", 2], ["mug", 1], ["kettle", 1]), { source: "api" })
      const [done] = yield* settle(desk, [ticket.id])
      assert.strictEqual(done?.status, "succeeded")
      const picks = yield* picksOf(desk, ticket.id)
      assert.strictEqual(picks.length, 3)
      assert.deepStrictEqual(picks.map((p) => [p.taskType, p.status]), [["pick", "succeeded"], ["pick", "succeeded"], ["pick", "succeeded"]])
      assert.deepStrictEqual(picks.map((p) => [(p.output as JobResult).sku, (p.output as JobResult).units]), [["tea", 2], ["mug", 1], ["kettle", 1]])
      assert.strictEqual(new Set(picks.map((p) => p.id)).size, 3)
      assert.strictEqual(desk.figures().warehouse.submitted, 3)
      assert.strictEqual(desk.figures().jobs, 3)
    }).pipe(Effect.provide(deskLayer(fast))))

  it.live("same-item lines of different orders waiting together are combined into one warehouse job", () =>
    Effect.gen(function*() {
      const desk = yield* Desk.Desk
      // The only picker is busy with a kettle while three customers order tea.
      const first = yield* desk.submit(order("ada", ["kettle", 1]), { source: "api" })
      for (let i = 0; i < 100 && desk.figures().busyWorkers === 0; i++) yield* Effect.sleep(5)
      assert.strictEqual(desk.figures().busyWorkers, 1)
      const teas = yield* Effect.forEach(
        [order("bob", ["tea", 1]), order("cy", ["mug", 1], ["tea", 2]), order("dee", ["tea", 1])],
        (o) => desk.submit(o, { source: "api" }),
        { concurrency: "unbounded" }
      )
      const done = yield* settle(desk, [first.ticket.id, ...teas.map((a) => a.ticket.id)])
      assert.isTrue(done.every((t) => t?.status === "succeeded"))
      const teaPicks = yield* Effect.forEach(teas, (a) =>
        Effect.map(picksOf(desk, a.ticket.id), (picks) => picks.find((p) => (p.output as JobResult).sku === "tea")!))
      const jobs = teaPicks.map((p) => p.output as JobResult)
      // One job for the three tea lines: the same job id answered to each, 4 units, 3 lines.
      assert.strictEqual(new Set(jobs.map((j) => j.job)).size, 1)
      assert.deepStrictEqual({ units: jobs[0]!.units, lines: jobs[0]!.lines }, { units: 4, lines: 3 })
      // kettle, mug, tea: three jobs for five picks.
      assert.strictEqual(desk.figures().warehouse.submitted, 5)
      assert.strictEqual(desk.figures().jobs, 3)
      assert.strictEqual(desk.figures().warehouse.combined, 2)
    }).pipe(Effect.provide(deskLayer({ ...fast, minWorkers: 1, maxWorkers: 1, timing: { setupMs: 300, perUnitMs: 0 } }))))

  it.live("an Idempotency-Key returns the original ticket; reusing it for another order is refused", () =>
    Effect.gen(function*() {
      const desk = yield* Desk.Desk
      const first = yield* desk.submit(order("bob", ["tea", 1]), { source: "api", idempotencyKey: "k-1" })
      const [again, concurrent] = yield* Effect.all([
        desk.submit(order("bob", ["tea", 1]), { source: "api", idempotencyKey: "k-1" }),
        desk.submit(order("bob", ["tea", 1]), { source: "api", idempotencyKey: "k-1" })
      ], { concurrency: "unbounded" })
      assert.strictEqual(again.ticket.id, first.ticket.id)
      assert.strictEqual(concurrent.ticket.id, first.ticket.id)
      assert.isTrue(again.duplicate && concurrent.duplicate)
      assert.strictEqual(desk.figures().accepted, 1)
      assert.strictEqual(desk.figures().duplicates, 2)
      const conflict = yield* Effect.flip(desk.submit(order("bob", ["tea", 2]), { source: "api", idempotencyKey: "k-1" }))
      assert.strictEqual(conflict._tag, "IdempotencyConflict")
      yield* settle(desk, [first.ticket.id])
      // Also once the order is done, and with one order only in the request log.
      const later = yield* desk.submit(order("bob", ["tea", 1]), { source: "api", idempotencyKey: "k-1" })
      assert.strictEqual(later.ticket.id, first.ticket.id)
      assert.strictEqual(later.ticket.status, "succeeded")
      // One order and its one pick in the request log.
      assert.strictEqual(desk.pipelines()[0]!.backlog.snapshot().arrivals, 2)
    }).pipe(Effect.provide(deskLayer(fast))))

  it.live("past the high-water mark it answers Overloaded with a retry-after instead of accepting", () =>
    Effect.gen(function*() {
      const desk = yield* Desk.Desk
      for (let i = 0; i < 5; i++) yield* desk.submit(order(`c${i}`, ["tea", 1]), { source: "load" })
      const refused = yield* Effect.flip(desk.submit(order("late", ["tea", 1]), { source: "load" }))
      assert.strictEqual(refused._tag, "Overloaded")
      if (refused._tag === "Overloaded") {
        assert.strictEqual(refused.reason, "backlog")
        assert.strictEqual(refused.backlog, 5)
        assert.isAtLeast(refused.retryAfterSeconds, 1)
      }
      assert.strictEqual(desk.figures().accepted, 5)
      assert.strictEqual(desk.figures().throttled, 1)
      assert.strictEqual(desk.figures().backlog, 5)
    }).pipe(Effect.provide(deskLayer({ ...fast, highWater: 5, timing: { setupMs: 2000, perUnitMs: 0 } }))))

  it.live("a customer over its rate limit gets Overloaded; other customers are still served", () =>
    Effect.gen(function*() {
      const desk = yield* Desk.Desk
      yield* desk.submit(order("Ada Lovelace", ["tea", 1]), { source: "api" })
      yield* desk.submit(order("Ada Lovelace", ["mug", 1]), { source: "api" })
      const refused = yield* Effect.flip(desk.submit(order("Ada Lovelace", ["tea", 1]), { source: "api" }))
      assert.strictEqual(refused._tag, "Overloaded")
      if (refused._tag === "Overloaded") {
        assert.strictEqual(refused.reason, "tenant-rate")
        assert.strictEqual(refused.customer, "Ada Lovelace")
        assert.isAtLeast(refused.retryAfterSeconds, 1)
        assert.include(refused.message, "too fast")
      }
      const other = yield* desk.submit(order("bob", ["tea", 1]), { source: "api" })
      assert.isFalse(other.duplicate)
      assert.deepStrictEqual([desk.figures().accepted, desk.figures().throttled, desk.figures().throttledByTenant], [3, 1, 1])
      // Tenants are per customer: names the pipeline would refuse as tenants still get their own.
      assert.notStrictEqual(Desk.tenantOf("Ada Lovelace"), Desk.tenantOf("Ada_Lovelace"))
      assert.strictEqual(Desk.tenantOf("bob"), "customer:bob")
    }).pipe(Effect.provide(deskLayer({ ...fast, tenantRate: { perSecond: 0.5, burst: 2 } }))))

  it.live("orders accepted and not finished when the shop stops are finished by the next run, each line picked once", () => {
    const dir = mkdtempSync(join(tmpdir(), "mailroom-shop-"))
    const slow = { ...fast, timing: { setupMs: 60_000, perUnitMs: 0 } }
    return Effect.gen(function*() {
      const ids = yield* Effect.gen(function*() {
        const desk = yield* Desk.Desk
        const answers = yield* Effect.forEach(["tea", "mug", "tea"], (sku, i) => desk.submit(order(`c${i}`, [sku, 1], ["spoon", 1]), { source: "api" }))
        for (let i = 0; i < 100 && desk.figures().busyWorkers === 0; i++) yield* Effect.sleep(10)
        assert.strictEqual(desk.figures().busyWorkers, 1)
        return answers.map((a) => a.ticket.id)
      }).pipe(Effect.provide(deskLayer(slow, Shop.journalLayer(dir))))
      // second run: same data folder, fast warehouse
      yield* Effect.gen(function*() {
        const desk = yield* Desk.Desk
        assert.strictEqual(desk.figures().recovered, 3)
        assert.isAtLeast(desk.figures().recoveredPicks, 1)
        const done = yield* settle(desk, ids)
        assert.deepStrictEqual(done.map((t) => t?.status), ["succeeded", "succeeded", "succeeded"])
        assert.deepStrictEqual(done.map((t) => t?.customer), ["c0", "c1", "c2"])
        // Three orders and six lines (six picks) in the request log: nothing was created twice.
        assert.strictEqual(desk.pipelines()[0]!.backlog.snapshot().arrivals, 9)
        for (const id of ids) assert.strictEqual((yield* picksOf(desk, id)).length, 2)
      }).pipe(Effect.provide(deskLayer(fast, Shop.journalLayer(dir))))
      // third run: nothing left to recover, statuses and details are read back from the log
      yield* Effect.gen(function*() {
        const desk = yield* Desk.Desk
        assert.strictEqual(desk.figures().recovered, 0)
        const t = yield* desk.status(ids[0]!)
        assert.strictEqual(t?.status, "succeeded")
        assert.deepStrictEqual(t?.lines, [{ sku: "tea", qty: 1 }, { sku: "spoon", qty: 1 }])
        // The list shows this run's tickets; earlier ones are read from the log by id.
        assert.strictEqual(desk.latest(10, "api").length, 0)
        assert.strictEqual(yield* desk.status("t-never"), undefined)
      }).pipe(Effect.provide(deskLayer(fast, Shop.journalLayer(dir))))
    }).pipe(Effect.ensuring(Effect.sync(() => rmSync(dir, { recursive: true, force: true }))))
  })
})
