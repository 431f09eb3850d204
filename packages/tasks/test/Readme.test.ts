/**
 * The README's examples, verbatim apart from assertions (which replace its `console.log`s) and
 * the definitions a fragment leaves to the reader (the warehouse), so they cannot rot.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Schedule, Schema } from "effect"
import { Snapshot, SqlJournal, SqliteClient } from "@mailroom/persistence"
import { Scheduler } from "@mailroom/scheduler"
import { Pipeline, TaskType } from "@mailroom/tasks"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

describe("README", () => {
  it.live("the first example: a combine task type on SQLite with snapshots", () => {
    const dir = mkdtempSync(join(tmpdir(), "mailroom-tasks-readme-"))
    const filename = join(dir, "tasks.db")
    const Order = Schema.Struct({ product: Schema.String, qty: Schema.Number })

    // "Orders for the same product become one package" is configuration: a merge kind.
    const Pack = TaskType.makeUnsafe({
      name: "pack",
      payload: Order,
      merge: TaskType.combine({
        key: (o: typeof Order.Type) => o.product,
        fold: (os) => ({ product: os[0]!.product, qty: os.reduce((n, o) => n + o.qty, 0) })
      }),
      handler: (o) => Effect.succeed(`package of ${o.qty} × ${o.product}`),
      retry: Schedule.exponential("100 millis").pipe(Schedule.upTo({ times: 5 })),
      timeout: "10 seconds",
      concurrency: { min: 1, max: 8, initial: 2 }
    })

    const program = Effect.gen(function*() {
      const tasks = yield* Pipeline.make({ types: [Pack], admission: { highWater: 10_000 } })
      const ticket = yield* tasks.frontDesk.submit(Pack, { product: "tea", qty: 2 }, { key: "order-1" })
      assert.strictEqual(ticket.status, "accepted")
      const done = yield* tasks.status.awaitFinal(ticket)
      assert.strictEqual(done.status, "succeeded")
      assert.strictEqual(done.output, "package of 2 × tea")
    })

    // The request log and the snapshots of its index in one SQLite file (snapshots keep start-up short).
    const Storage = Layer.mergeAll(SqlJournal.layer(), Snapshot.layerSql()).pipe(
      Layer.provide(SqliteClient.layer({ filename }))
    )
    const Live = Layer.mergeAll(Storage, Scheduler.layer())

    return program.pipe(
      Effect.scoped,
      Effect.provide(Live),
      // A second start loads the snapshot taken at close: nothing left to replay.
      Effect.andThen(
        Effect.gen(function*() {
          const tasks = yield* Pipeline.make({ types: [Pack] })
          assert.strictEqual(tasks.replayed, 0)
          assert.strictEqual(tasks.backlog.snapshot().completions, 1)
        }).pipe(Effect.scoped, Effect.provide(Live))
      ),
      Effect.ensuring(Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    )
  })

  it.live("the flow example: an order spawns its picks and waits for them", () =>
    Effect.gen(function*() {
      const picked: Array<string> = []
      const warehouse = { pick: (line: { readonly sku: string; readonly qty: number }) => Effect.sync(() => void picked.push(line.sku)) }
      const Line = Schema.Struct({ sku: Schema.String, qty: Schema.Number })
      const Pick = TaskType.makeUnsafe({ name: "pick", payload: Line, handler: (line) => warehouse.pick(line) })
      const PlaceOrder = TaskType.makeUnsafe({
        name: "order",
        payload: Schema.Struct({ lines: Schema.Array(Line) }),
        // One pick per line, recorded before `spawn` answers; an order run again finds its picks.
        handler: (order, ctx) => Effect.map(ctx.spawn(Pick, order.lines), (picks) => ({ picks: picks.length })),
        children: "fail" // the order fails if a pick fails for good ("fail-fast", "ignore")
      })
      const tasks = yield* Pipeline.make({ types: [PlaceOrder, Pick] })
      const ticket = yield* tasks.frontDesk.submit(PlaceOrder, { lines: [{ sku: "tea", qty: 1 }, { sku: "mug", qty: 2 }] })
      const done = yield* tasks.status.awaitFinal(ticket)
      assert.strictEqual(done.status, "succeeded")
      assert.deepStrictEqual(done.output, { picks: 2 })
      assert.deepStrictEqual(picked.sort(), ["mug", "tea"])
    }).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(
      SqlJournal.layer().pipe(Layer.provide(SqliteClient.layer({ filename: ":memory:" }))),
      Scheduler.layer()
    ))))
})
