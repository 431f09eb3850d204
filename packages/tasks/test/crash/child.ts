/**
 * The process the crash test kills: a task pipeline on one SQLite file (journal, idempotency
 * guard and the tasks' effect, all in the same database). `work` submits tasks and prints
 * `ACK <ticket>` once each is accepted; `drain` restarts the pipeline (recovery) and exits
 * when no task is left unfinished.
 */
import { Effect, Layer, Schema } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import { SqlJournal, SqliteClient } from "@mailroom/persistence"
import { Scheduler } from "@mailroom/scheduler"
import { Idempotency, Pipeline, TaskType } from "@mailroom/tasks"

const [file, mode, seed] = process.argv.slice(2)

const Apply = TaskType.makeUnsafe({
  name: "apply",
  payload: Schema.Struct({ n: Schema.Number }),
  concurrency: 8,
  timeout: "2 seconds",
  handler: (job, ctx) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient
      // The effect: one row per application (no unique key: a second application would show).
      yield* sql`INSERT INTO effects (task_id, n) VALUES (${ctx.taskId}, ${job.n})`
      yield* sql`UPDATE counter SET total = total + 1`
      // Some work, so that kills land while handlers run.
      yield* Effect.sleep(Math.floor(Math.random() * 5))
      return job.n
    }).pipe(Effect.orDie)
})

const program = Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS effects (task_id TEXT NOT NULL, n INTEGER NOT NULL)`
  yield* sql`CREATE TABLE IF NOT EXISTS counter (total INTEGER NOT NULL)`
  const rows = yield* sql<{ c: number }>`SELECT COUNT(*) AS c FROM counter`
  if (rows[0]!.c === 0) yield* sql`INSERT INTO counter VALUES (0)`
  const p = yield* Pipeline.make({ types: [Apply], reconciler: { interval: "200 millis", grace: "200 millis" } })
  process.stdout.write(`RECOVERED ${p.recovered}\n`)
  if (mode === "drain") {
    while (p.backlog.snapshot().depth > 0) yield* Effect.sleep(20)
    process.stdout.write("DRAINED\n")
    return
  }
  let n = Number(seed) * 1_000_000
  // Submitters in parallel, like clients of a front desk; each ACK is printed once durable.
  yield* Effect.forEach([1, 2, 3, 4], () =>
    Effect.forever(Effect.gen(function*() {
      const ticket = yield* p.frontDesk.submit(Apply, { n: n++ })
      process.stdout.write(`ACK ${ticket.id}\n`)
      yield* Effect.sleep(1)
    })), { concurrency: "unbounded", discard: true })
})

const Live = Layer.mergeAll(SqlJournal.layer(), Idempotency.layerSql(), Scheduler.layer()).pipe(
  Layer.provideMerge(SqliteClient.layer({ filename: file!, durability: "normal" }))
)
Effect.runFork(program.pipe(Effect.scoped, Effect.provide(Live), Effect.tapCause((c) => Effect.sync(() => console.error(String(c))))))
  .addObserver(() => process.exit(0))
