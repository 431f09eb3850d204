/** Mailroom's task pipeline on SQLite (or PostgreSQL): the benchmark's subject. */
import { Effect, Layer, Redacted, Schema } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { PgClient } from "@effect/sql-pg"
import { SqlJournal, SqliteClient } from "@mailroom/persistence"
import { Scheduler } from "@mailroom/scheduler"
import { Pipeline, TaskType } from "@mailroom/tasks"
import { measure, type RunResult, type Workload } from "./harness.ts"

export const run = async (options: Workload & {
  readonly backend: "sqlite" | "pg"
  /**
   * Tasks a worker takes per pull (TaskType `batch`): the worker runs them one after another,
   * so at most `concurrency` handlers run at once and `concurrency × batch` tasks are claimed
   * (Graphile Worker's local queue plays the same part, pg-boss's `batchSize` too).
   */
  readonly batch: number
  readonly pgUrl?: string | undefined
}): Promise<RunResult> => {
  let processed = 0
  const Noop = TaskType.makeUnsafe({
    name: "noop",
    payload: Schema.Struct({ i: Schema.Number }),
    handler: () =>
      Effect.sync(() => {
        processed++
      }),
    concurrency: options.concurrency,
    batch: options.batch
  })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mailroom-tasks-bench-"))
  const table = "mailroom_bench_tasks"
  const storage = options.backend === "sqlite"
    ? SqlJournal.layer({ table }).pipe(Layer.provide(SqliteClient.layer({ filename: path.join(dir, "tasks.db"), durability: "full" })))
    : SqlJournal.layer({ table }).pipe(Layer.provide(PgClient.layer({ url: Redacted.make(options.pgUrl!), maxConnections: 4 })))
  const dropPg = options.backend === "pg"
    ? Effect.gen(function*() {
      const sql = yield* PgClient.PgClient
      yield* sql.unsafe(`DROP TABLE IF EXISTS ${table}`)
      yield* sql.unsafe(`DROP SEQUENCE IF EXISTS ${table}_position_seq`)
    }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(options.pgUrl!), maxConnections: 1 })), Effect.scoped)
    : Effect.void
  await Effect.runPromise(dropPg)
  try {
    return await Effect.runPromise(
      Effect.gen(function*() {
        const p = yield* Pipeline.make({
          types: [Noop],
          autoscaler: false,
          commitInterval: Number(process.env.MAILROOM_BENCH_COMMIT_INTERVAL ?? 0)
        })
        const m = yield* Effect.promise(() =>
          measure(options, {
            bulk: async (chunk) => {
              await Effect.runPromise(p.frontDesk.submitAll(Noop, chunk))
            },
            single: async (payload) => {
              await Effect.runPromise(p.frontDesk.submit(Noop, payload))
            },
            processed: () => p.backlog.snapshot().completions
          })
        )
        return {
          system: `${options.backend === "sqlite" ? "Mailroom (SQLite)" : "Mailroom (PostgreSQL)"}${options.batch === 1 ? ", batch 1" : ""}`,
          jobs: options.jobs,
          concurrency: options.concurrency,
          durability: options.backend === "sqlite"
            ? "SQLite WAL, synchronous=FULL: every ticket answered after its group commit is fsynced"
            : "PostgreSQL synchronous_commit=on: every ticket answered after its commit",
          api: `FrontDesk.submitAll (1,000 per call) / submit; ${options.concurrency} workers taking up to ${options.batch} task(s) per pull ` +
            `(at most ${options.concurrency * options.batch} claimed); statuses dispatched/running/succeeded journaled per task`,
          ...m,
          processed
        } satisfies RunResult
      }).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(storage, Scheduler.layer())))
    )
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
    await Effect.runPromise(dropPg)
  }
}
