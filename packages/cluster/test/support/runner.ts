/**
 * A cluster runner process for multi-process tests and benches (started by `launcher.ts`).
 * It runs `Runner.layerPg` plus the `layer` exported by the module named in `CLUSTER_ENTITIES`
 * (a path relative to this file or absolute), then prints:
 *
 * - `READY <port>` once the runner is up;
 * - `STATS {"shards":n,"entities":{...},"cpuMicros":n}` every `CLUSTER_STATS_MS` (default
 *   200 ms): how many shards it owns, `ShardedActor.stats` (its share of the work) and the CPU
 *   time the process used so far.
 *
 * Environment: MAILROOM_PG_URL, CLUSTER_SCHEMA, CLUSTER_PREFIX, CLUSTER_PORT,
 * CLUSTER_SHARDS (shards per group, default 300), CLUSTER_SHARDING (JSON: ShardingConfig
 * overrides), CLUSTER_ENTITIES.
 */
import { Effect, Layer, Schedule } from "effect"
import { ShardId, Sharding } from "effect/cluster"
import type { SqlClient } from "effect/sql"
import { isAbsolute, join } from "node:path"
import { fileURLToPath } from "node:url"
// The modules themselves, not the index: a runner loads only what it runs.
import * as Runner from "../../src/Runner.js"
import * as ShardedActor from "../../src/ShardedActor.js"

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === "") {
    console.error(`runner: ${name} is not set`)
    process.exit(2)
  }
  return value
}

const here = fileURLToPath(new URL(".", import.meta.url))
const entitiesPath = env("CLUSTER_ENTITIES")
const entities = (await import(isAbsolute(entitiesPath) ? entitiesPath : join(here, entitiesPath))) as {
  readonly layer: Layer.Layer<never, unknown, Sharding.Sharding | SqlClient.SqlClient>
}
const port = Number(env("CLUSTER_PORT"))
const shardsPerGroup = Number(process.env["CLUSTER_SHARDS"] ?? "300")
const statsMs = Number(process.env["CLUSTER_STATS_MS"] ?? "200")
const sharding = JSON.parse(process.env["CLUSTER_SHARDING"] ?? "{}") as Record<string, unknown>

const report = Effect.gen(function*() {
  const s = yield* Sharding.Sharding
  let shards = 0
  for (let i = 1; i <= shardsPerGroup; i++) if (s.hasShardId(ShardId.make("default", i))) shards++
  const stats = yield* ShardedActor.stats
  const cpu = process.cpuUsage()
  process.stdout.write(`STATS ${JSON.stringify({ shards, entities: stats, cpuMicros: cpu.user + cpu.system })}\n`)
})

const main = Effect.gen(function*() {
  process.stdout.write(`READY ${port}\n`)
  yield* Effect.repeat(report, Schedule.spaced(statsMs))
})

const Live = entities.layer.pipe(
  Layer.provideMerge(Runner.layerPg({
    url: env("MAILROOM_PG_URL"),
    schema: env("CLUSTER_SCHEMA"),
    prefix: env("CLUSTER_PREFIX"),
    port,
    host: "127.0.0.1",
    shardsPerGroup,
    maxConnections: 6,
    sharding: sharding as never
  }))
)

Effect.runFork(
  main.pipe(
    Effect.provide(Live),
    Effect.tapCause((cause) => Effect.sync(() => console.error(String(cause))))
  )
).addObserver(() => process.exit(1))
process.on("SIGTERM", () => process.exit(0))
