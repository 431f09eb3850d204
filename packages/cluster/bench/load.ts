/**
 * The load process of the cluster bench (run by `run.ts` on the TypeScript sources):
 *
 *   load.ts setup <schema> | drop <schema> | dropstale
 *   load.ts <local | cluster | inprocess> <ask | seq | tell | persisted>
 *
 * `local` spawns the bench actors on an `ActorSystem` in this process (the baseline);
 * `cluster` is a client-only process of the cluster the runners form; `inprocess` is a runner
 * that also sends (no network between client and entity). Prints `@@RESULT {json}`.
 *
 * Figures: `ask` (BENCH_CONCURRENCY callers, round trips/s and latency), `seq` (one caller:
 * the per-message cost), `tell` and `persisted` (BENCH_CONCURRENCY senders of volatile or
 * persisted tells for BENCH_SECONDS; the figure is messages handled per second, from the
 * first send until every entity has counted every message). Each also reports the CPU time
 * this process spent per message (`clientCpuMicrosPerMessage`, `process.cpuUsage`).
 */
import { PgClient } from "@effect/sql-pg"
import { ActorSystem } from "@mailroom/core"
import { Effect, Fiber, Layer, Redacted } from "effect"
// The modules themselves, not the index: a runner loads only what it runs.
import * as Runner from "../src/Runner.js"
import * as ShardedActor from "../src/ShardedActor.js"
import { Add, AddDurable, Bench, behavior, Count, Ping } from "./entities.js"

const [mode, figure] = process.argv.slice(2) as [string, string]
const url = process.env["MAILROOM_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/test"
const seconds = Number(process.env["BENCH_SECONDS"] ?? "3")
const warmup = Number(process.env["BENCH_WARMUP"] ?? "1")
const concurrency = figure === "seq" ? 1 : Number(process.env["BENCH_CONCURRENCY"] ?? "32")
const entities = Number(process.env["BENCH_ENTITIES"] ?? "128")
const ids = Array.from({ length: entities }, (_, i) => `bench-${i}`)

interface Target {
  readonly ask: (id: number, n: number) => Effect.Effect<number>
  readonly tell: (id: number, n: number, durable: boolean) => Effect.Effect<void>
  readonly count: (id: number) => Effect.Effect<number>
}

const localTarget = Effect.gen(function*() {
  const refs = yield* Effect.forEach(ids, () => ActorSystem.spawn(behavior))
  return {
    ask: (id, n) => Effect.orDie(refs[id]!.ask(new Ping({ n }))),
    tell: (id, n, durable) => Effect.orDie(refs[id]!.tell(durable ? new AddDurable({ n }) : new Add({ n }))),
    count: (id) => Effect.orDie(refs[id]!.ask(new Count()))
  } satisfies Target
})

const clusterTarget = Effect.gen(function*() {
  const clientFor = yield* ShardedActor.client(Bench)
  const refs = yield* Effect.forEach(ids, (id) => clientFor(id))
  return {
    ask: (id, n) => Effect.orDie(refs[id]!.ask(new Ping({ n }), { timeout: "30 seconds" })),
    tell: (id, n, durable) => Effect.orDie(refs[id]!.tell(durable ? new AddDurable({ n }) : new Add({ n }))),
    count: (id) => Effect.orDie(refs[id]!.ask(new Count(), { timeout: "30 seconds" }))
  } satisfies Target
})

const percentile = (sorted: ReadonlyArray<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN

const measureAsk = (target: Target) =>
  Effect.gen(function*() {
    const latencies: Array<number> = []
    // Read by the callers between calls: a field, so the loops see the driver's changes.
    const clock: { phase: "warmup" | "measure" | "done" } = { phase: "warmup" }
    let count = 0
    const caller = (i: number) =>
      Effect.gen(function*() {
        let k = i
        while (clock.phase !== "done") {
          const started = performance.now()
          yield* target.ask(k % entities, k)
          if (clock.phase === "measure") {
            latencies.push(performance.now() - started)
            count++
          }
          k += concurrency
        }
      })
    const fibers = yield* Effect.forEach(Array.from({ length: concurrency }, (_, i) => i), (i) => Effect.forkChild(caller(i)))
    yield* Effect.sleep(warmup * 1000)
    clock.phase = "measure"
    const started = performance.now()
    const cpu = process.cpuUsage()
    yield* Effect.sleep(seconds * 1000)
    clock.phase = "done"
    const elapsed = (performance.now() - started) / 1000
    const used = process.cpuUsage(cpu)
    for (const fiber of fibers) yield* Fiber.join(fiber)
    latencies.sort((a, b) => a - b)
    return {
      value: count / elapsed,
      unit: "round trips/s",
      p50Micros: percentile(latencies, 0.5) * 1000,
      p99Micros: percentile(latencies, 0.99) * 1000,
      calls: count,
      clientCpuMicrosPerMessage: (used.user + used.system) / count,
      concurrency
    }
  })

const totalCount = (target: Target) =>
  Effect.map(
    Effect.forEach(ids, (_, id) => target.count(id), { concurrency: 16 }),
    (counts) => counts.reduce((a, b) => a + b, 0)
  )

const measureTell = (target: Target, durable: boolean) =>
  Effect.gen(function*() {
    // Warm-up: activate every entity (and the routes to it) before the clock starts.
    yield* Effect.forEach(ids, (_, id) => target.tell(id, 0, durable), { concurrency: 16, discard: true })
    const before = yield* totalCount(target)
    const control = { sending: true }
    let sent = 0
    const sender = (i: number) =>
      Effect.gen(function*() {
        let k = i
        while (control.sending) {
          yield* target.tell(k % entities, k, durable)
          sent++
          k += concurrency
        }
      })
    const started = performance.now()
    const cpu = process.cpuUsage()
    const fibers = yield* Effect.forEach(Array.from({ length: concurrency }, (_, i) => i), (i) => Effect.forkChild(sender(i)))
    yield* Effect.sleep(seconds * 1000)
    control.sending = false
    for (const fiber of fibers) yield* Fiber.join(fiber)
    const sentFor = (performance.now() - started) / 1000
    let handled = (yield* totalCount(target)) - before
    while (handled < sent) {
      yield* Effect.sleep(20)
      handled = (yield* totalCount(target)) - before
    }
    const elapsed = (performance.now() - started) / 1000
    const used = process.cpuUsage(cpu)
    return {
      value: sent / elapsed,
      clientCpuMicrosPerMessage: (used.user + used.system) / sent,
      unit: "messages handled/s",
      acceptedPerSec: sent / sentFor,
      messages: sent,
      drainSeconds: elapsed - sentFor,
      concurrency
    }
  })

const measure = (target: Target): Effect.Effect<Record<string, unknown>> => {
  switch (figure) {
    case "ask":
    case "seq":
      return measureAsk(target)
    case "tell":
      return measureTell(target, false)
    case "persisted":
      return measureTell(target, true)
    default:
      return Effect.die(new Error(`unknown figure ${figure}`))
  }
}

const admin = PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })
const schemaArg = process.argv[3] ?? ""
const safeSchema = /^[a-z_][a-z0-9_]*$/.test(schemaArg) ? schemaArg : "invalid_schema_name"

const cluster = () => ({
  url,
  schema: process.env["CLUSTER_SCHEMA"]!,
  prefix: process.env["CLUSTER_PREFIX"]!,
  shardsPerGroup: Number(process.env["CLUSTER_SHARDS"] ?? "60"),
  maxConnections: 8
})

/** Schemas of bench runs (`mrc_bench_<base36 ms>_<n>`) started more than 30 minutes ago: killed runs. */
const dropStale = Effect.gen(function*() {
  const sql = yield* PgClient.PgClient
  const rows = yield* sql.unsafe<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'mrc\\_bench\\_%'`)
  const dropped: Array<string> = []
  for (const { nspname } of rows) {
    const stamp = /^mrc_bench_([0-9a-z]+)_\d+$/.exec(nspname)?.[1]
    const at = stamp === undefined ? Number.NaN : parseInt(stamp, 36)
    if (Number.isFinite(at) && Date.now() - at > 30 * 60_000) {
      yield* sql.unsafe(`DROP SCHEMA IF EXISTS "${nspname}" CASCADE`)
      dropped.push(nspname)
    }
  }
  return { dropped }
})

const program: Effect.Effect<unknown, unknown> = mode === "setup"
  ? Effect.flatMap(PgClient.PgClient, (sql) => Effect.as(sql.unsafe(`CREATE SCHEMA IF NOT EXISTS "${safeSchema}"`), {})).pipe(
    Effect.provide(admin)
  )
  : mode === "drop"
  ? Effect.flatMap(PgClient.PgClient, (sql) => Effect.as(sql.unsafe(`DROP SCHEMA IF EXISTS "${safeSchema}" CASCADE`), {})).pipe(
    Effect.provide(admin)
  )
  : mode === "dropstale"
  ? dropStale.pipe(Effect.provide(admin))
  : mode === "local"
  ? Effect.flatMap(localTarget, measure).pipe(Effect.provide(ActorSystem.layer()))
  : mode === "cluster"
  ? Effect.flatMap(clusterTarget, measure).pipe(Effect.provide(Runner.layerPg({ ...cluster(), clientOnly: true })))
  : Effect.flatMap(clusterTarget, measure).pipe(
    Effect.provide(ShardedActor.layer(Bench).pipe(
      Layer.provideMerge(Runner.layerPg({ ...cluster(), host: "127.0.0.1", port: Number(process.env["CLUSTER_PORT"]) }))
    ))
  )

Effect.runPromise(Effect.scoped(program) as Effect.Effect<unknown, unknown>).then(
  (result) => {
    process.stdout.write(`@@RESULT ${JSON.stringify(result ?? {})}\n`)
    process.exit(0)
  },
  (error) => {
    process.stdout.write(`@@ERROR ${JSON.stringify(String(error))}\n`)
    process.exit(1)
  }
)
