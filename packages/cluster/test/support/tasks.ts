/**
 * The partitioned pipeline the cluster task tests and the bench run: one task type, `apply`,
 * whose effect is a row in `task_effects` written through the SQL idempotency guard's
 * transaction (so once per task, whichever process runs it) plus a per-runner counter.
 *
 * Exports `layer` for `runner.ts` (CLUSTER_ENTITIES=./tasks.ts): the partitions on a runner, with
 * the journal, snapshots and the guard on the runner's PostgreSQL pool.
 */
import { Effect, Layer, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { Snapshot, SqlJournal } from "@mailroom/persistence"
import { Scheduler } from "@mailroom/scheduler"
import { Idempotency, TaskType } from "@mailroom/tasks"
import { ClusterTasks } from "../../src/index.js"

/** Tasks run by this process (a runner's share). */
export const counters = { runs: 0 }

export const Apply = TaskType.makeUnsafe({
  name: "apply",
  payload: Schema.Struct({ n: Schema.Number, work: Schema.optional(Schema.Number) }),
  concurrency: 16,
  batch: 8,
  timeout: "10 seconds",
  handler: (job, ctx) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      if (job.work !== undefined && job.work > 0) yield* Effect.sleep(job.work)
      // The effect: one row per application (no unique key: a second application would show).
      yield* sql`INSERT INTO task_effects (task_id, n, runner) VALUES (${ctx.taskId}, ${job.n}, ${process.pid})`
      counters.runs++
      return job.n
    }).pipe(Effect.orDie)
})

export const partitions = Number(process.env["CLUSTER_TASK_PARTITIONS"] ?? "8")

export const Tasks = ClusterTasks.make({
  name: "work",
  partitions,
  boardInterval: "300 millis",
  pipeline: {
    types: [Apply],
    autoscaler: false,
    reconciler: { interval: "500 millis", grace: "500 millis" },
    admission: { highWater: 1_000_000 }
  }
})

export const createTables = (sql: SqlClient.SqlClient) =>
  sql.unsafe(`CREATE TABLE IF NOT EXISTS task_effects (task_id TEXT NOT NULL, n INTEGER NOT NULL, runner INTEGER NOT NULL)`)

/** Storage of the partitions (journal, snapshots, guard) and the runner's scheduler, on its `SqlClient`. */
const storage = Layer.mergeAll(
  SqlJournal.layer(),
  Snapshot.layerSql(),
  Layer.orDie(Idempotency.layerSql()),
  Layer.orDie(Scheduler.layer())
)

/** The partitions on a runner (for `runner.ts`). */
export const layer = ClusterTasks.layer(Tasks).pipe(Layer.provide(storage), Layer.orDie)
