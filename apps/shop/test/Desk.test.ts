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

describe("Desk", () => {
  it.live("answers a ticket at once and bundles orders for the same item into one warehouse job", () =>
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
      // 120 order lines on 2 skus: the scheduler folded most of them into few jobs.
      assert.isAbove(f.warehouse.combined, 60)
      assert.isBelow(f.jobs, 60)
    }).pipe(Effect.provide(deskLayer(fast))))

  it.live("splits a multi-item order into one line per item and finishes it when every line is picked", () =>
    Effect.gen(function*() {
      const desk = yield* Desk.Desk
      const { ticket } = yield* desk.submit(order("ada", ["tea", 2], ["mug", 1], ["kettle", 1]), { source: "api" })
      const [done] = yield* settle(desk, [ticket.id])
      assert.strictEqual(done?.status, "succeeded")
      assert.strictEqual(desk.figures().warehouse.submitted, 3)
      assert.strictEqual(desk.figures().jobs, 3)
    }).pipe(Effect.provide(deskLayer(fast))))

  it.live("an Idempotency-Key returns the original ticket; reusing it for another order is refused", () =>
    Effect.gen(function*() {
      const desk = yield* Desk.Desk
      const first = yield* desk.submit(order("bob", ["tea", 1]), { source: "api", idempotencyKey: "k-1" })
      const again = yield* desk.submit(order("bob", ["tea", 1]), { source: "api", idempotencyKey: "k-1" })
      assert.strictEqual(again.ticket.id, first.ticket.id)
      assert.isTrue(again.duplicate)
      assert.strictEqual(desk.figures().accepted, 1)
      const conflict = yield* Effect.flip(desk.submit(order("bob", ["tea", 2]), { source: "api", idempotencyKey: "k-1" }))
      assert.strictEqual(conflict._tag, "IdempotencyConflict")
    }).pipe(Effect.provide(deskLayer(fast))))

  it.live("past the high-water mark it answers Overloaded with a retry-after instead of accepting", () =>
    Effect.gen(function*() {
      const desk = yield* Desk.Desk
      for (let i = 0; i < 5; i++) yield* desk.submit(order(`c${i}`, ["tea", 1]), { source: "load" })
      const refused = yield* Effect.flip(desk.submit(order("late", ["tea", 1]), { source: "load" }))
      assert.strictEqual(refused._tag, "Overloaded")
      if (refused._tag === "Overloaded") {
        assert.strictEqual(refused.backlog, 5)
        assert.isAtLeast(refused.retryAfterSeconds, 1)
      }
      assert.strictEqual(desk.figures().accepted, 5)
      assert.strictEqual(desk.figures().throttled, 1)
    }).pipe(Effect.provide(deskLayer({ ...fast, highWater: 5, timing: { setupMs: 2000, perUnitMs: 0 } }))))

  it.live("orders accepted and not finished when the shop stops are finished by the next run", () => {
    const dir = mkdtempSync(join(tmpdir(), "mailroom-shop-"))
    const slow = { ...fast, timing: { setupMs: 60_000, perUnitMs: 0 } }
    return Effect.gen(function*() {
      const ids = yield* Effect.gen(function*() {
        const desk = yield* Desk.Desk
        const answers = yield* Effect.forEach(["tea", "mug", "tea"], (sku, i) => desk.submit(order(`c${i}`, [sku, 1]), { source: "api" }))
        yield* Effect.sleep(50)
        return answers.map((a) => a.ticket.id)
      }).pipe(Effect.provide(deskLayer(slow, Shop.journalLayer(dir))))
      // second run: same data folder, fast warehouse
      yield* Effect.gen(function*() {
        const desk = yield* Desk.Desk
        assert.strictEqual(desk.figures().recovered, 3)
        const done = yield* settle(desk, ids)
        assert.deepStrictEqual(done.map((t) => t?.status), ["succeeded", "succeeded", "succeeded"])
      }).pipe(Effect.provide(deskLayer(fast, Shop.journalLayer(dir))))
      // third run: nothing left to recover, statuses are read back from the journal
      yield* Effect.gen(function*() {
        const desk = yield* Desk.Desk
        assert.strictEqual(desk.figures().recovered, 0)
        const t = yield* desk.status(ids[0]!)
        assert.strictEqual(t?.status, "succeeded")
      }).pipe(Effect.provide(deskLayer(fast, Shop.journalLayer(dir))))
    }).pipe(Effect.ensuring(Effect.sync(() => rmSync(dir, { recursive: true, force: true }))))
  })
})
