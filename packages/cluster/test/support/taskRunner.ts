/**
 * A runner process of the partitioned task pipeline (`tasks.ts`), for the multi-process test and
 * the bench: `Runner.layerPg` plus the partitions. Prints `READY <port>`, then every
 * `CLUSTER_STATS_MS` (default 200 ms) `STATS {"partitions":[...],"runs":n}`: the partitions it
 * runs now and how many handler runs it did.
 *
 * Environment: MAILROOM_PG_URL, CLUSTER_SCHEMA, CLUSTER_PREFIX, CLUSTER_PORT, CLUSTER_SHARDS,
 * CLUSTER_SHARDING (JSON), CLUSTER_TASK_PARTITIONS.
 */
import { Effect, Layer, Schedule } from "effect"
import { ClusterTasks, Runner } from "../../src/index.js"
import { counters, layer } from "./tasks.ts"

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === "") {
    console.error(`task runner: ${name} is not set`)
    process.exit(2)
  }
  return value
}

const port = Number(env("CLUSTER_PORT"))
const statsMs = Number(process.env["CLUSTER_STATS_MS"] ?? "200")

const report = Effect.gen(function*() {
  const local = yield* ClusterTasks.LocalPartitions
  const partitions = [...local.running().keys()].sort((a, b) => a - b)
  process.stdout.write(`STATS ${JSON.stringify({ partitions, runs: counters.runs })}\n`)
})

const main = Effect.gen(function*() {
  process.stdout.write(`READY ${port}\n`)
  yield* Effect.repeat(report, Schedule.spaced(statsMs))
})

const Live = layer.pipe(
  Layer.provideMerge(Runner.layerPg({
    url: env("MAILROOM_PG_URL"),
    schema: env("CLUSTER_SCHEMA"),
    prefix: env("CLUSTER_PREFIX"),
    port,
    host: "127.0.0.1",
    shardsPerGroup: Number(process.env["CLUSTER_SHARDS"] ?? "300"),
    maxConnections: 8,
    sharding: JSON.parse(process.env["CLUSTER_SHARDING"] ?? "{}") as never
  }))
)

Effect.runFork(
  main.pipe(Effect.provide(Live), Effect.tapCause((cause) => Effect.sync(() => console.error(String(cause)))))
).addObserver(() => process.exit(1))
process.on("SIGTERM", () => process.exit(0))
