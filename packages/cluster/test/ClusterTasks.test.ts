/**
 * The partitioned task pipeline on PostgreSQL with one runner and a client in one process:
 * submissions are routed to their partition, idempotency keys hold across partitions' routing,
 * statuses are answered by the owner, the board carries every partition's backlog.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { ClusterTasks, Runner } from "../src/index.js"
import { adminLayer, dropStaleSchemas, freePort, pgUrl, skipMessage, testSchema, type TestSchema } from "./support/pg.js"
import { Apply, createTables, layer as partitions, Tasks } from "./support/tasks.js"

if (pgUrl === undefined) console.log(skipMessage)

const sharding = { entityMessagePollInterval: "200 millis", refreshAssignmentsInterval: "300 millis" } as const

const runnerLayer = (schema: TestSchema, port: number) =>
  partitions.pipe(Layer.provideMerge(Runner.layerPg({ ...schema, port, host: "127.0.0.1", shardsPerGroup: 12, maxConnections: 6, sharding })))

const inSchema = <A, E>(use: (schema: TestSchema) => Effect.Effect<A, E, any>) =>
  Effect.gen(function*() {
    yield* dropStaleSchemas
    const schema = yield* testSchema
    const sql = yield* SqlClient.SqlClient
    yield* sql.unsafe(`SET search_path TO "${schema.schema}"`)
    yield* createTables(sql)
    return yield* use(schema)
  }).pipe(Effect.scoped, Effect.provide(adminLayer())) as Effect.Effect<A, E>

describe.skipIf(pgUrl === undefined)("ClusterTasks on PostgreSQL", () => {
  it.live("routes submissions to partitions, answers statuses from their owners, keeps keys unique", () =>
    inSchema((schema) =>
      Effect.gen(function*() {
        const tasks = yield* ClusterTasks.client(Tasks)
        const tickets = yield* Effect.forEach(Array.from({ length: 40 }, (_, n) => n), (n) => tasks.submit(Apply, { n }), { concurrency: 8 })
        // Round-robin: the tasks spread over the partitions, each ticket naming its own.
        const used = new Set(tickets.map((t) => ClusterTasks.partitionOfTicket(t.id)))
        expect(used.size).toBe(Tasks.partitions)
        const finals = yield* Effect.forEach(tickets, (t) => tasks.awaitFinal(t, { poll: "50 millis" }), { concurrency: 8 })
        expect(finals.map((f) => f.status)).toEqual(tickets.map(() => "succeeded"))
        expect(finals.map((f) => f.output)).toEqual(tickets.map((_, n) => n))
        // An idempotency key reaches one partition from anywhere: the original ticket, once.
        const a = yield* tasks.submit(Apply, { n: 100 }, { key: "k-1", tenant: "t" })
        const b = yield* tasks.submit(Apply, { n: 100 }, { key: "k-1", tenant: "t" })
        expect(b.id).toBe(a.id)
        expect(b.duplicate).toBe(true)
        const conflict = yield* Effect.flip(tasks.submit(Apply, { n: 101 }, { key: "k-1", tenant: "t" }))
        expect(conflict._tag).toBe("IdempotencyConflict")
        // Typed errors come back across the hop.
        const bad = yield* Effect.flip(tasks.submit(Apply, { n: "x" }))
        expect(bad._tag).toBe("InvalidPayload")
        const withPayload = yield* tasks.status(a, { payload: true })
        expect(withPayload.payload).toEqual({ n: 100 })
        const missing = yield* Effect.flip(tasks.status("p0.nope"))
        expect(missing._tag).toBe("TicketNotFound")
        yield* tasks.awaitFinal(a)
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql.unsafe<{ n: string; d: string }>(`SELECT COUNT(*) AS n, COUNT(DISTINCT task_id) AS d FROM task_effects`)
        expect([Number(rows[0]!.n), Number(rows[0]!.d)]).toEqual([41, 41])
        const board = yield* sql.unsafe<{ partition: number }>(`SELECT partition FROM mailroom_task_board ORDER BY partition`)
        expect(board.length).toBe(Tasks.partitions)
      }).pipe(Effect.provide(Layer.unwrap(Effect.map(Effect.promise(freePort), (port) => runnerLayer(schema, port)))))
    ), 60_000)
})
