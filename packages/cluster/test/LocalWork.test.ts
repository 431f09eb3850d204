/**
 * The scheduler in front of a runner's local work: sharded actors on one runner submit their
 * expensive work (here: stock reservations, one database round trip per batch) to a lane of
 * the runner's `@mailroom/scheduler`, so work from many entities on the same key is combined
 * into one dispatch instead of one call per message. The same code as the README's example.
 */
import { describe, expect, it } from "@effect/vitest"
import { Actor, Message } from "@mailroom/core"
import { Operation, Scheduler, Target } from "@mailroom/scheduler"
import { Context, Effect, Layer, Schema } from "effect"
import { TestRunner } from "effect/cluster"
import { ShardedActor } from "../src/index.js"

/** The runner-local lane of the stock store: reservations per SKU, combined while they wait. */
class StockLane extends Context.Service<StockLane, Scheduler.Lane<string, number, number, never>>()("test/StockLane") {}

const store = { stock: new Map<string, number>([["apple", 1000]]), calls: 0 }

const StockLaneLive = Layer.effect(
  StockLane,
  Scheduler.attach(Target.make<string, number, number>({
    name: "stock",
    capacity: 1, // one round trip to the store at a time
    handle: (batch) =>
      Effect.as(Effect.sleep(20), undefined).pipe(Effect.map(() => {
        store.calls++
        return batch.map((work) => {
          const left = (store.stock.get(work.key) ?? 0) - work.input
          store.stock.set(work.key, left)
          return left
        })
      }))
  }))
)

/** Sum the quantities; every reservation of the batch learns the stock left after it. */
const reservations = Operation.combiner<number, number>(
  (quantities) => quantities.reduce((a, b) => a + b, 0),
  (left, quantities) => quantities.map(() => left)
)

class Reserve extends Message.Request<Reserve>()("Reserve", { sku: Schema.String, qty: Schema.Number }, {
  success: Schema.Number
}) {}

const Order = ShardedActor.entity(
  "Order",
  Actor.behavior(Actor.protocol(Reserve), {
    initial: () => 0,
    receive: (reserved, msg, ctx) =>
      Effect.gen(function*() {
        const lane = yield* StockLane
        const left = yield* Effect.orDie(lane.submit(Operation.combine(msg.sku, msg.qty, reservations)))
        ctx.reply(msg, left)
        return reserved + msg.qty
      })
  })
)

const Live = ShardedActor.layer(Order).pipe(
  Layer.provideMerge(TestRunner.layer),
  Layer.provideMerge(StockLaneLive),
  Layer.provide(Scheduler.layer())
)

describe("the scheduler in front of a runner's local work", () => {
  it.live("reservations from many entities on one key are combined into few store calls", () =>
    Effect.gen(function*() {
      const orders = yield* Effect.forEach(Array.from({ length: 60 }, (_, i) => `order-${i}`), (id) => ShardedActor.ref(Order, id))
      const left = yield* Effect.forEach(orders, (order) => order.ask(new Reserve({ sku: "apple", qty: 2 })), {
        concurrency: "unbounded"
      })
      const lane = yield* StockLane
      const stats = lane.stats()
      expect(store.stock.get("apple")).toBe(1000 - 120) // every reservation applied once
      expect(Math.min(...left)).toBe(880)
      expect(stats.submitted).toBe(60)
      expect(stats.combined).toBeGreaterThan(0)
      expect(store.calls).toBeLessThan(60) // combined: fewer round trips than messages
      console.log(`60 reservations from 60 entities: ${store.calls} store calls, ${stats.combined} combined`)
    }).pipe(Effect.provide(Live)))
})
