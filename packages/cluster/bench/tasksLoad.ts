/**
 * One load run of the cluster task bench (started by `bench/tasks.ts`): submits `TASKS` tasks of
 * `Apply` (see `test/support/tasks.ts`: the effect is a row written in the SQL guard's
 * transaction) with `submitAll` batches of `BATCH`, `INFLIGHT` batches at once, and waits until
 * every effect row is there; then `LATENCY` single tasks one after another (submit → final).
 *
 * `single`: a plain `Pipeline` in this process on the same PostgreSQL storage (the baseline).
 * `cluster`: a client-only process; the runners run the partitions.
 * Prints `@@RESULT {...}`.
 */
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Redacted } from "effect"
import { Snapshot, SqlJournal } from "@mailroom/persistence"
import { Scheduler } from "@mailroom/scheduler"
import { Idempotency, Pipeline } from "@mailroom/tasks"
import { ClusterTasks, Runner } from "../src/index.ts"
import { Apply, Tasks } from "../test/support/tasks.ts"

const [mode] = process.argv.slice(2)
const env = (name: string, fallback?: string) => process.env[name] ?? fallback ?? ""
const TASKS = Number(env("TASKS", "20000"))
const BATCH = Number(env("BATCH", "200"))
const INFLIGHT = Number(env("INFLIGHT", "8"))
const LATENCY = Number(env("LATENCY", "50"))

interface Desk {
  readonly submitAll: (payloads: ReadonlyArray<{ n: number }>) => Effect.Effect<unknown, unknown>
  readonly one: (n: number) => Effect.Effect<unknown, unknown>
}

const measure = (desk: Desk) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const count = Effect.map(sql<{ n: number }>`SELECT count(*)::int AS n FROM task_effects`, (r) => r[0]!.n)
    const base = yield* count
    const batches = Math.ceil(TASKS / BATCH)
    const started = performance.now()
    let next = 0
    yield* Effect.forEach(Array.from({ length: INFLIGHT }), () =>
      Effect.gen(function*() {
        while (next < batches) {
          const b = next++
          const size = Math.min(BATCH, TASKS - b * BATCH)
          yield* desk.submitAll(Array.from({ length: size }, (_, k) => ({ n: b * BATCH + k })))
        }
      }), { concurrency: "unbounded", discard: true })
    const submitted = performance.now()
    while ((yield* count) - base < TASKS) yield* Effect.sleep(20)
    const done = performance.now()
    const latencies: Array<number> = []
    for (let i = 0; i < LATENCY; i++) {
      const t0 = performance.now()
      yield* desk.one(1_000_000 + i)
      latencies.push(performance.now() - t0)
    }
    latencies.sort((a, b) => a - b)
    return {
      tasks: TASKS,
      jobsPerSec: Math.round(TASKS / ((done - started) / 1000)),
      submitPerSec: Math.round(TASKS / ((submitted - started) / 1000)),
      latencyP50: latencies[Math.floor(latencies.length / 2)],
      latencyP99: latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))]
    }
  })

const pg = PgClient.layer({
  url: Redacted.make(env("MAILROOM_PG_URL")),
  maxConnections: 8,
  startupParameters: { search_path: env("CLUSTER_SCHEMA") }
})

const program = mode === "single"
  ? Effect.gen(function*() {
    const p = yield* Pipeline.make({ ...Tasks.options.pipeline, stream: "single" })
    return yield* measure({
      submitAll: (payloads) => p.frontDesk.submitAll(Apply, payloads),
      one: (n) => Effect.flatMap(p.frontDesk.submit(Apply, { n }), (t) => p.status.awaitFinal(t))
    })
  }).pipe(
    Effect.scoped,
    Effect.provide(
      Layer.mergeAll(SqlJournal.layer(), Snapshot.layerSql(), Layer.orDie(Idempotency.layerSql()), Layer.orDie(Scheduler.layer()))
        .pipe(Layer.provideMerge(pg))
    )
  )
  : Effect.gen(function*() {
    const tasks = yield* ClusterTasks.client(Tasks)
    return yield* measure({
      submitAll: (payloads) => tasks.submitAll(Apply, payloads),
      one: (n) => Effect.flatMap(tasks.submit(Apply, { n }), (t) => tasks.awaitFinal(t, { poll: "2 millis" }))
    })
  }).pipe(
    Effect.provide(Runner.layerPg({
      url: env("MAILROOM_PG_URL"),
      schema: env("CLUSTER_SCHEMA"),
      prefix: env("CLUSTER_PREFIX"),
      clientOnly: true,
      shardsPerGroup: Number(env("CLUSTER_SHARDS", "60")),
      maxConnections: 4
    }))
  )

Effect.runPromise(program as Effect.Effect<unknown, unknown>).then(
  (result) => {
    process.stdout.write(`@@RESULT ${JSON.stringify(result)}\n`)
    process.exit(0)
  },
  (error) => {
    process.stdout.write(`@@ERROR ${JSON.stringify(String(error))}\n`)
    process.exit(1)
  }
)
