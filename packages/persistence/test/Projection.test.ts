import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Layer } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import { Journal, Projection, SqlJournal } from "../src/index.js"
import { pgLayer, pgUrl, sqliteLayer, uniqueTable } from "./support/backends.js"

/** The read model: account balances, with how many events built each (to see exactly-once). */
const balancesProjection = (table: string, options: { poison?: { on: boolean } } = {}) => {
  const seen: Array<number> = []
  const projection = Projection.make({
    name: `balances-${table}`,
    handle: (events) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient
        for (const event of events) {
          const data = event.data as { cents: number; poison?: boolean }
          if (data.poison === true && options.poison?.on === true) {
            return yield* Effect.fail(new Error(`poisoned event at ${event.position}`))
          }
          yield* sql.unsafe(
            sql.onDialectOrElse({
              pg: () => `INSERT INTO ${table} (account, cents, events) VALUES ($1, $2, 1) ON CONFLICT (account) DO UPDATE SET cents = ${table}.cents + $2, events = ${table}.events + 1`,
              orElse: () => `INSERT INTO ${table} (account, cents, events) VALUES (?, ?, 1) ON CONFLICT (account) DO UPDATE SET cents = cents + excluded.cents, events = events + 1`
            }),
            [event.stream, data.cents]
          )
          seen.push(event.position)
        }
      }),
    reset: Effect.flatMap(SqlClient, (sql) => Effect.asVoid(sql.unsafe(`DELETE FROM ${table}`)))
  })
  return { projection, seen }
}

const readModel = (table: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    const rows = yield* sql.unsafe<{ account: string; cents: unknown; events: unknown }>(
      `SELECT account, cents, events FROM ${table} ORDER BY account`
    )
    return Object.fromEntries(rows.map((r) => [r.account, { cents: Number(r.cents), events: Number(r.events) }]))
  })

const deposit = (id: string, cents: number, extra: object = {}): Journal.EventData => ({
  id,
  type: "Deposited",
  schemaVersion: 1,
  data: { cents, ...extra }
})

const backends = [
  { name: "sqlite", skip: false, client: () => sqliteLayer() },
  { name: "postgres", skip: pgUrl === undefined, client: pgLayer }
]

for (const backend of backends) {
  describe.skipIf(backend.skip)(`Projection (${backend.name})`, () => {
    const setup = () => {
      const events = uniqueTable("ev")
      const model = uniqueTable("rm")
      const layer = Layer.mergeAll(SqlJournal.layer({ table: events, pollInterval: 20 }), Projection.layerSql({ table: uniqueTable("cp") }))
        .pipe(Layer.provideMerge(backend.client()))
      const init = Effect.flatMap(SqlClient, (sql) =>
        sql.unsafe(`CREATE TABLE ${model} (account TEXT PRIMARY KEY, cents BIGINT NOT NULL, events INTEGER NOT NULL)`))
      return { events, model, layer, init }
    }

    it.live("builds a read model, stores the checkpoint with it, and resumes exactly", () => {
      const { init, layer, model } = setup()
      return Effect.gen(function*() {
        yield* init
        const journal = yield* Journal.Journal
        const checkpoints = yield* Projection.Checkpoints
        const poison = { on: true }
        const { projection, seen } = balancesProjection(model, { poison })
        yield* journal.append("acc-a", [deposit("a1", 100), deposit("a2", 50)], 0)
        yield* journal.append("acc-b", [deposit("b1", 7)], 0)
        expect(yield* Projection.catchUp(projection, { batchSize: 2 })).toBe(3)
        expect(yield* readModel(model)).toEqual({ "acc-a": { cents: 150, events: 2 }, "acc-b": { cents: 7, events: 1 } })
        expect(yield* checkpoints.load(projection.name)).toBe(3)

        // A page fails half-way: neither its output nor its checkpoint is kept.
        yield* journal.append("acc-a", [deposit("a3", 1), deposit("a4", 1, { poison: true })], 2)
        yield* journal.append("acc-c", [deposit("c1", 9)], 0)
        const failed = yield* Effect.exit(Projection.catchUp(projection, { batchSize: 2 }))
        expect(Exit.isFailure(failed)).toBe(true)
        expect(yield* checkpoints.load(projection.name)).toBe(3)
        expect((yield* readModel(model))["acc-a"]).toEqual({ cents: 150, events: 2 })

        // Fixed: it resumes after the last committed page; every event applied exactly once.
        poison.on = false
        expect(yield* Projection.catchUp(projection, { batchSize: 2 })).toBe(6)
        expect(yield* readModel(model)).toEqual({
          "acc-a": { cents: 152, events: 4 },
          "acc-b": { cents: 7, events: 1 },
          "acc-c": { cents: 9, events: 1 }
        })
        expect(yield* Projection.catchUp(projection)).toBe(6)

        // Rebuild from zero after the read model was damaged.
        const sql = yield* SqlClient
        yield* sql.unsafe(`UPDATE ${model} SET cents = 0`)
        seen.length = 0
        expect(yield* Projection.rebuild(projection)).toBe(6)
        expect(seen).toEqual([1, 2, 3, 4, 5, 6])
        expect((yield* readModel(model))["acc-a"]).toEqual({ cents: 152, events: 4 })
      }).pipe(Effect.provide(layer))
    })

    it.live("two runners of one projection never apply an event twice", () => {
      const { init, layer, model } = setup()
      return Effect.gen(function*() {
        yield* init
        const journal = yield* Journal.Journal
        for (let i = 0; i < 20; i++) yield* journal.append(`acc-${i % 3}`, [deposit(`e${i}`, i)], "any")
        const { projection } = balancesProjection(model)
        yield* Effect.all(
          [0, 1, 2].map(() => Effect.exit(Projection.catchUp(projection, { batchSize: 3 }))),
          { concurrency: "unbounded" }
        )
        yield* Projection.catchUp(projection, { batchSize: 3 })
        const rm = yield* readModel(model)
        expect(Object.values(rm).reduce((n, r) => n + r.events, 0)).toBe(20)
        expect(Object.values(rm).reduce((n, r) => n + r.cents, 0)).toBe(190)
      }).pipe(Effect.provide(layer))
    })

    it.live("run follows new events as they are committed", () => {
      const { init, layer, model } = setup()
      return Effect.gen(function*() {
        yield* init
        const journal = yield* Journal.Journal
        const checkpoints = yield* Projection.Checkpoints
        const { projection } = balancesProjection(model)
        const runner = yield* Effect.forkChild(Projection.run(projection))
        yield* journal.append("acc-a", [deposit("a1", 5)], 0)
        yield* journal.append("acc-a", [deposit("a2", 6)], 1)
        let position = 0
        for (let i = 0; i < 200 && position < 2; i++) {
          yield* Effect.sleep(10)
          position = yield* checkpoints.load(projection.name)
        }
        expect(position).toBe(2)
        expect((yield* readModel(model))["acc-a"]).toEqual({ cents: 11, events: 2 })
        yield* Fiber.interrupt(runner)
      }).pipe(Effect.provide(layer))
    })

    if (backend.name === "postgres") {
      for (const outcome of ["commit", "rollback"] as const) {
        it.live(`never skips a lower position that commits after a higher one (${outcome})`, () => {
          const { events, init, layer, model } = setup()
          return Effect.gen(function*() {
            yield* init
            const sql = yield* SqlClient
            const journal = yield* Journal.Journal
            const checkpoints = yield* Projection.Checkpoints
            const { projection, seen } = balancesProjection(model)
            // Writer A (another process, say) takes position 1 and stays in flight.
            const taken = yield* Deferred.make<number>()
            const gate = yield* Deferred.make<boolean>()
            const writerA = yield* Effect.forkChild(Effect.exit(sql.withTransaction(Effect.gen(function*() {
              yield* sql.unsafe(`SELECT pg_current_xact_id()::text AS x`)
              const rows = yield* sql.unsafe<{ p: unknown }>(`SELECT nextval('${events}_position_seq') AS p`)
              const p = Number(rows[0]!.p)
              yield* sql.unsafe(
                `INSERT INTO ${events} (position, stream, version, event_id, type, schema_version, data) VALUES ($1, 'acc-a', 1, 'a1', 'Deposited', 1, '{"cents":5}')`,
                [p]
              )
              yield* Deferred.succeed(taken, p)
              if (!(yield* Deferred.await(gate))) return yield* Effect.fail("roll back")
            }))))
            const lower = yield* Deferred.await(taken)
            // Writer B commits a higher position first.
            const b = yield* journal.append("acc-b", [deposit("b1", 7)], 0)
            expect(b.positions[0]).toBeGreaterThan(lower)
            const runner = yield* Effect.forkChild(Projection.catchUp(projection))
            yield* Effect.sleep(400)
            // While A is in flight the projection must not move past the hole.
            expect(yield* checkpoints.load(projection.name)).toBe(0)
            expect(seen).toEqual([])
            yield* Deferred.succeed(gate, outcome === "commit")
            yield* Fiber.join(writerA)
            const final = yield* Fiber.join(runner)
            expect(final).toBe(b.positions[0])
            if (outcome === "commit") {
              expect(seen).toEqual([lower, b.positions[0]])
              expect(yield* readModel(model)).toEqual({ "acc-a": { cents: 5, events: 1 }, "acc-b": { cents: 7, events: 1 } })
            } else {
              expect(seen).toEqual([b.positions[0]])
              expect(yield* readModel(model)).toEqual({ "acc-b": { cents: 7, events: 1 } })
            }
          }).pipe(Effect.provide(layer))
        })
      }
    }
  })
}

describe("Projection (memory checkpoints)", () => {
  it.live("an in-memory read model over the memory journal", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      const totals = new Map<string, number>()
      const projection = Projection.make({
        name: "totals",
        handle: (events) =>
          Effect.sync(() => {
            for (const e of events) totals.set(e.stream, (totals.get(e.stream) ?? 0) + (e.data as { cents: number }).cents)
          }),
        reset: Effect.sync(() => totals.clear())
      })
      yield* journal.append("x", [deposit("1", 2), deposit("2", 3)], 0)
      expect(yield* Projection.catchUp(projection)).toBe(2)
      yield* journal.append("y", [deposit("3", 4)], 0)
      expect(yield* Projection.catchUp(projection)).toBe(3)
      expect(Object.fromEntries(totals)).toEqual({ x: 5, y: 4 })
      expect(yield* Projection.rebuild(projection)).toBe(3)
      expect(Object.fromEntries(totals)).toEqual({ x: 5, y: 4 })
    }).pipe(Effect.provide(Layer.mergeAll(Journal.layerMemory(), Projection.layerMemory))))
})
