/**
 * The partitioned task pipeline on three runner processes sharing one PostgreSQL request log:
 * work is submitted to every partition, one runner is SIGKILLed mid-load. Its partitions must
 * move to the two others (which recover the unfinished tasks from their streams), every
 * accepted ticket must end `succeeded`, and no task's effect may be applied twice (the effects
 * table has no unique key: a second application would show).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { SqlClient } from "effect/sql"
import { ClusterTasks, Runner } from "../src/index.js"
import { killAll, type RunnerProcess, start } from "./support/launcher.js"
import { fastFailover as sharding, until } from "./support/wait.js"
import { adminLayer, dropStaleSchemas, freePort, pgUrl, skipMessage, testSchema } from "./support/pg.js"
import { Apply, createTables, partitions, Tasks } from "./support/tasks.js"

if (pgUrl === undefined) console.log(skipMessage)

const SHARDS = 30
const TASKS = 1200
const CLIENTS = 12

interface Stats {
  readonly partitions: ReadonlyArray<number>
  readonly runs: number
}

const statsOf = (p: RunnerProcess): Stats => {
  const line = p.last("STATS ")
  return line === undefined ? { partitions: [], runs: 0 } : JSON.parse(line.slice(6)) as Stats
}

describe.skipIf(pgUrl === undefined)("the task pipeline on three runner processes", () => {
  it.live("SIGKILL one mid-load: its partitions move, every accepted ticket succeeds, no effect applied twice", () =>
    Effect.gen(function*() {
      yield* dropStaleSchemas
      const { schema, prefix, url } = yield* testSchema
      const runners: Array<RunnerProcess> = []
      yield* Effect.addFinalizer(() => Effect.promise(() => killAll(runners)))
      const client = Runner.layerPg({ url, schema, prefix, clientOnly: true, shardsPerGroup: SHARDS, sharding: sharding as never })
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* createTables(sql)
        const ports = yield* Effect.promise(() => Promise.all([freePort(), freePort(), freePort()]))
        for (const [i, port] of ports.entries()) {
          runners.push(start({
            name: `runner-${i}`,
            script: new URL("./support/taskRunner.ts", import.meta.url).pathname,
            env: {
              MAILROOM_PG_URL: url,
              CLUSTER_SCHEMA: schema,
              CLUSTER_PREFIX: prefix,
              CLUSTER_PORT: String(port),
              CLUSTER_SHARDS: String(SHARDS),
              CLUSTER_SHARDING: JSON.stringify(sharding),
              CLUSTER_TASK_PARTITIONS: String(partitions)
            }
          }))
        }
        yield* Effect.promise(() => Promise.all(runners.map((r) => r.waitFor("READY", 40_000))))
        const seen = () => runners.map((r) => `${r.name}: [${statsOf(r).partitions.join(",")}] runs ${statsOf(r).runs}`).join("; ")
        yield* until("every partition runs on one of the runners", 40_000, () => {
          const all = runners.flatMap((r) => statsOf(r).partitions)
          return all.length === partitions && new Set(all).size === partitions && runners.every((r) => statsOf(r).partitions.length > 0)
        }, seen)
        const before = runners.map((r) => statsOf(r).partitions.length)

        const tasks = yield* ClusterTasks.client(Tasks)
        // Clients submit with idempotency keys: a submission that hits a moving partition is
        // sent again with the same key, so it is accepted once whatever happened to the first.
        const acked = new Map<number, string>()
        let retried = 0
        const submitOne = (n: number): Effect.Effect<void> =>
          Effect.gen(function*() {
            for (let attempt = 0; ; attempt++) {
              const exit = yield* Effect.exit(tasks.submit(Apply, { n, work: 5 }, { key: `job-${n}` }))
              if (Exit.isSuccess(exit)) {
                acked.set(n, exit.value.id)
                return
              }
              retried++
              if (attempt > 200) return yield* Effect.die(new Error(`job ${n} not accepted: ${String(exit.cause)}`))
              yield* Effect.sleep(100)
            }
          })
        const victim = runners[1]!
        let next = 0
        const load = Effect.forEach(Array.from({ length: CLIENTS }, (_, c) => c), () =>
          Effect.gen(function*() {
            while (next < TASKS) {
              yield* submitOne(next++)
              yield* Effect.sleep(2)
            }
          }), { concurrency: "unbounded", discard: true })
        const killer = Effect.gen(function*() {
          yield* until("a third of the load is accepted and the victim is running tasks", 60_000, () =>
            acked.size >= TASKS / 3 && statsOf(victim).runs > 0, seen)
          const at = { accepted: acked.size, victimRuns: statsOf(victim).runs, victimPartitions: statsOf(victim).partitions }
          victim.kill("SIGKILL")
          return at
        })
        const started = performance.now()
        const [, kill] = yield* Effect.all([load, killer], { concurrency: "unbounded" })
        expect(acked.size).toBe(TASKS)
        expect((yield* Effect.promise(() => victim.exited)).signal).toBe("SIGKILL")

        // Its partitions move: the survivors run all of them between them.
        const survivors = runners.filter((r) => r !== victim)
        yield* until("the survivors run every partition", 40_000, () => {
          const all = survivors.flatMap((r) => statsOf(r).partitions)
          return new Set(all).size === partitions
        }, seen)

        // Every accepted ticket ends succeeded (asked of the partition owners).
        const statusOf = () =>
          Effect.forEach([...acked.values()], (id) => Effect.map(Effect.exit(tasks.status(id)), (e) => Exit.isSuccess(e) ? e.value.status : "unavailable"), {
            concurrency: 16
          })
        yield* until("every accepted ticket succeeded", 60_000, async () => {
          const statuses = await Effect.runPromise(statusOf())
          return statuses.every((s) => s === "succeeded")
        }, async () => {
          const statuses = await Effect.runPromise(statusOf())
          const counts: Record<string, number> = {}
          for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1
          return JSON.stringify(counts)
        })
        const elapsed = Math.round(performance.now() - started)

        const [effects] = yield* sql<{ n: number; distinct_n: number }>`
          SELECT count(*)::int AS n, count(DISTINCT task_id)::int AS distinct_n FROM task_effects`
        const byRunner = yield* sql<{ runner: number; n: number }>`SELECT runner, count(*)::int AS n FROM task_effects GROUP BY runner ORDER BY runner`
        // Every accepted task applied exactly once, nothing else applied.
        expect(effects!.distinct_n).toBe(TASKS)
        expect(effects!.n).toBe(TASKS)
        const ids = yield* sql<{ task_id: string }>`SELECT task_id FROM task_effects`
        expect(new Set(ids.map((r) => r.task_id))).toEqual(new Set(acked.values()))
        // The victim did part of the work before it died, the survivors the rest.
        expect(byRunner.length).toBe(3)
        expect(kill.victimRuns).toBeGreaterThan(0)
        // The board shows every partition on a survivor.
        const board = yield* sql<{ partition: number; runner: string }>`SELECT partition, runner FROM mailroom_task_board ORDER BY partition`
        const survivorPorts = survivors.map((r) => r.last("READY ")!.slice(6))
        yield* until("the board shows every partition on a survivor", 10_000, async () => {
          const rows = await Effect.runPromise(sql<{ runner: string }>`SELECT runner FROM mailroom_task_board`)
          return rows.length === partitions && rows.every((r) => survivorPorts.some((p) => r.runner.endsWith(`:${p}`)))
        })
        console.log(
          `multi-process tasks: ${TASKS} tickets, ${partitions} partitions on 3 runners (${before.join("/")}); killed ${victim.name} ` +
            `after ${kill.accepted} accepted (it ran partitions ${kill.victimPartitions.join(",")} and ${kill.victimRuns} handlers); ` +
            `${retried} submissions retried while partitions moved; applied by runner ` +
            `${byRunner.map((r) => `${r.runner}:${r.n}`).join(" ")}; all succeeded ${elapsed} ms after the load started (board: ${board.length} rows)`
        )
      }).pipe(Effect.provide(client))
    }).pipe(Effect.scoped, Effect.provide(adminLayer())), { timeout: 180_000 })
})
