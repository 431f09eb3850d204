import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Schema } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import { PgClient } from "@effect/sql-pg"
import { SqlJournal } from "@mailroom/persistence"
import { Scheduler } from "@mailroom/scheduler"
import { Idempotency, Pipeline, TaskType } from "@mailroom/tasks"

const pgUrl = process.env.MAILROOM_PG_URL
if (!pgUrl) console.log("Postgres tests skipped: set MAILROOM_PG_URL=postgres://postgres@127.0.0.1:5432/test to run them")

const suffix = `${process.pid}_${Date.now() % 100000}`
const table = `mailroom_tasks_test_${suffix}`
const guardTable = `mailroom_tasks_guard_${suffix}`

const Pg = () => PgClient.layer({ url: Redacted.make(pgUrl ?? ""), maxConnections: 4 })

describe.skipIf(!pgUrl)("Pipeline on PostgreSQL", () => {
  it.live("runs tasks with the journal and the idempotency guard on PostgreSQL, and recovers on restart", () =>
    Effect.gen(function*() {
      const Job = Schema.Struct({ n: Schema.Number })
      const Slow = TaskType.makeUnsafe({ name: "job", payload: Job, handler: () => Effect.never, timeout: "1 hour" })
      const Apply = TaskType.makeUnsafe({
        name: "job",
        payload: Job,
        handler: (job, ctx) =>
          Effect.gen(function*() {
            const sql = yield* SqlClient
            yield* sql.unsafe(`INSERT INTO ${table}_effects (task_id, n) VALUES ($1, $2)`, [ctx.taskId, job.n])
            return job.n * 2
          }).pipe(Effect.orDie)
      })
      const live = Layer.mergeAll(SqlJournal.layer({ table }), Idempotency.layerSql({ table: guardTable }), Scheduler.layer())
        .pipe(Layer.provideMerge(Pg()))
      const tickets = yield* Effect.gen(function*() {
        const sql = yield* SqlClient
        yield* sql.unsafe(`CREATE TABLE ${table}_effects (task_id TEXT NOT NULL, n INTEGER NOT NULL)`)
        const p = yield* Pipeline.make({ types: [Slow] })
        return yield* p.frontDesk.submitAll(Slow, Array.from({ length: 20 }, (_, n) => ({ n })))
      }).pipe(Effect.scoped, Effect.provide(live))
      const result = yield* Effect.gen(function*() {
        const p = yield* Pipeline.make({ types: [Apply] })
        assert.strictEqual(p.recovered, 20)
        const finals = yield* Effect.forEach(tickets, (t) => p.status.awaitFinal(t))
        const sql = yield* SqlClient
        const rows = yield* sql.unsafe<{ c: unknown }>(`SELECT COUNT(*) AS c FROM ${table}_effects`)
        return { finals, effects: Number(rows[0]!.c) }
      }).pipe(Effect.scoped, Effect.provide(live))
      assert.deepStrictEqual(result.finals.map((f) => f.status), tickets.map(() => "succeeded"))
      assert.deepStrictEqual(result.finals.map((f) => f.output), tickets.map((_, n) => n * 2))
      assert.strictEqual(result.effects, 20)
    }).pipe(
      Effect.ensuring(
        Effect.gen(function*() {
          const sql = yield* SqlClient
          for (const t of [table, `${table}_effects`, guardTable]) yield* sql.unsafe(`DROP TABLE IF EXISTS ${t}`)
          yield* sql.unsafe(`DROP SEQUENCE IF EXISTS ${table}_position_seq`)
        }).pipe(Effect.provide(Pg()), Effect.scoped, Effect.orDie)
      )
    ), 30_000)
})
