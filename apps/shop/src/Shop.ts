/**
 * The shop, wired: journal (SQLite file under the data folder, or memory), scheduler, front
 * desk (the order and warehouse pipelines of `@mailroom/tasks`, with their reconcilers and the
 * warehouse's autoscaler), catalog, load generator, monitor and the HTTP server.
 *
 * `Shop.layer(config)` provides `Desk`, `Monitor` and `LoadControl`; `Shop.serve(config)` adds
 * the HTTP server on `config.port` (0 = an ephemeral port; read it from `HttpServer`).
 */
import { Cause, Context, Effect, Layer } from "effect"
import { HttpRouter } from "effect/http"
import { DataFolder, Journal, Snapshot, SqlJournal, SqliteClient } from "@mailroom/persistence"
import { Runner } from "@mailroom/cluster"
import { Scheduler } from "@mailroom/scheduler"
import { join } from "node:path"
import * as Catalog from "./Catalog.js"
import * as ClusteredDesk from "./ClusteredDesk.js"
import * as Desk from "./Desk.js"
import * as Http from "./Http.js"
import * as LoadGenerator from "./LoadGenerator.js"
import * as Monitor from "./Monitor.js"

/** Everything the shop needs to know to run. */
export interface Config {
  /** Folder of the SQLite journal (`shop.db`), created if missing; `undefined` keeps the journal in memory. */
  readonly dataDir: string | undefined
  /** Peak orders per second of the load generator; 0 disables it. */
  readonly rate: number
  /** Length of one load wave in seconds (calm → rush → flood → lull). */
  readonly period: number
  readonly desk: Desk.Options
  readonly adminToken: string | undefined
  readonly port: number
  readonly host?: string | undefined
  /** Sampling interval of the monitor (ms). */
  readonly sampleMs?: number | undefined
  /**
   * One process of a clustered shop: the orders' request log is partitioned over the processes
   * on PostgreSQL (`@mailroom/cluster`); `dataDir` is not used.
   */
  readonly cluster?: Cluster | undefined
}

/** Where a clustered shop process finds the others. */
export interface Cluster {
  readonly pgUrl: string
  /** This process's runner port (the other processes reach it there). */
  readonly runnerPort: number
  /** Partitions of the request log, the same on every process. */
  readonly partitions: number
  /** Tables of the cluster (runners, shards, messages) start with this. */
  readonly prefix?: string | undefined
  /** The PostgreSQL schema of every table (it must exist); default: the connection's search_path. */
  readonly schema?: string | undefined
}

/** The desk of a clustered process: a runner on PostgreSQL, the journal and snapshots there. */
const clusteredDesk = (config: Config, cluster: Cluster): Layer.Layer<Desk.Desk | Scheduler.Scheduler, Desk.DeskError> => {
  const runner = Runner.layerPg({
    url: cluster.pgUrl,
    port: cluster.runnerPort,
    host: "127.0.0.1",
    prefix: cluster.prefix ?? "mailroom_shop_cluster",
    schema: cluster.schema,
    // One shard per partition: the runners share the shards, so the partitions, evenly.
    shardsPerGroup: cluster.partitions,
    sharding: {
      shardLockRefreshInterval: "1 second",
      shardLockExpiration: "5 seconds",
      refreshAssignmentsInterval: "1 second",
      runnerHealthCheckInterval: "1 second"
    } as never
  })
  const storage = Layer.mergeAll(SqlJournal.layer(), Snapshot.layerSql(), Layer.orDie(Scheduler.layer({ maxBatch: 512 }))).pipe(
    Layer.provideMerge(runner)
  )
  return ClusteredDesk.layer({ ...config.desk, partitions: cluster.partitions }).pipe(
    Layer.provideMerge(storage),
    Layer.catchCause((cause) => {
      const error = Cause.findErrorOption(cause)
      const reason = error._tag === "Some" && typeof error.value === "object" && error.value !== null && "message" in error.value
        ? String((error.value as { message: unknown }).message)
        : Cause.pretty(cause).split("\n")[0]!
      return Layer.effectContext(Effect.fail(new Desk.DeskError({ operation: "start", reason: `cluster on ${cluster.pgUrl}: ${reason}` })))
    })
  )
}

/** The SQLite file of a data folder. */
export const journalFile = (dataDir: string) => join(dataDir, "shop.db")

/** The journal layer for a config: a SQLite file (WAL, synchronous=FULL) or memory. */
export const journalLayer = (dataDir: string | undefined): Layer.Layer<Journal.Journal, Desk.DeskError | Journal.JournalError> => {
  if (dataDir === undefined) return Journal.layerMemory()
  const file = journalFile(dataDir)
  const open = DataFolder.ensure(dataDir).pipe(Effect.mapError((e) => new Desk.DeskError({ operation: "open", reason: e.message })))
  // The client holds the file's writer lock while the shop runs: a second shop on the same data
  // folder fails here with `DatabaseLocked` (naming the file and the running shop's pid). A
  // zero-length shop.db (truncated) fails with `EmptyDatabaseFile` instead of starting empty.
  const sql: Layer.Layer<Journal.Journal, Desk.DeskError> = SqlJournal.layer().pipe(
    Layer.provide(SqliteClient.layer({ filename: file, durability: "full", lock: "exclusive" })),
    Layer.catchCause((cause) => {
      const error = Cause.findErrorOption(cause)
      const reason = error._tag === "Some" && (error.value._tag === "DatabaseLocked" || error.value._tag === "EmptyDatabaseFile")
        ? error.value.message
        : `journal ${file}: ${Cause.pretty(cause).split("\n")[0]}`
      return Layer.effect(Journal.Journal, Effect.fail(new Desk.DeskError({ operation: "open", reason })))
    })
  )
  return Layer.unwrap(Effect.as(open, sql))
}

/** The running shop (everything except HTTP): provides `Desk`, `Monitor` and `LoadControl`. */
export const layer = (config: Config): Layer.Layer<Desk.Desk | Monitor.Monitor | Http.LoadControl, Desk.DeskError | Journal.JournalError> => {
  const desk: Layer.Layer<Desk.Desk | Scheduler.Scheduler, Desk.DeskError | Journal.JournalError> = config.cluster !== undefined
    ? clusteredDesk(config, config.cluster)
    : Desk.layer(config.desk).pipe(
      Layer.provideMerge(Layer.orDie(Scheduler.layer({ maxBatch: 512 }))),
      Layer.provide(journalLayer(config.dataDir))
    )
  const rest = Layer.effectContext(Effect.gen(function*() {
    const desk = yield* Desk.Desk
    const catalog = yield* Catalog.make()
    let peak = config.rate
    const state: LoadGenerator.LoadState = { submitted: 0, accepted: 0, throttled: 0, currentRate: 0, phase: "off", startedAt: Date.now() }
    const control = Http.LoadControl.of({ peak: () => peak, setPeak: (r) => void (peak = r) })
    yield* Effect.forkScoped(LoadGenerator.run({ desk, catalog, peak: () => peak, period: config.period, state }))
    const monitor = yield* Monitor.make({ catalog, load: state, loadRunning: () => peak > 0, interval: config.sampleMs })
    return Context.make(Monitor.Monitor, monitor).pipe(Context.add(Http.LoadControl, control))
  }))
  return Layer.provideMerge(rest, desk)
}

/** The shop with its HTTP server on `config.port` (0 = ephemeral; read the address from `HttpServer`). */
export const serve = (config: Config) =>
  HttpRouter.serve(Http.routes, { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provide(Http.adminTokenLayer(config.adminToken)),
    Layer.provideMerge(layer(config)),
    Layer.provideMerge(Http.nodeServer({ port: config.port, host: config.host ?? "127.0.0.1" }))
  )
