/**
 * A runner is one process of the cluster: it owns a share of the shards (and hosts the
 * entities whose ids fall in them), talks to the other runners over TCP sockets, and keeps
 * the cluster's state in PostgreSQL — which runners are alive and which shard each one holds
 * (`SqlRunnerStorage`, with PostgreSQL advisory locks as the shard locks) and the persisted
 * messages and their replies (`SqlMessageStorage`). A client-only process sends to entities
 * without owning shards.
 *
 * Every runner of one cluster must use the same table `prefix` and `shardsPerGroup`.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Runner, ShardedActor } from "@mailroom/cluster"
 *
 * const Live = ShardedActor.layer(Account).pipe(
 *   Layer.provideMerge(Runner.layerPg({ url: process.env.DATABASE_URL!, port: 34431 }))
 * )
 * Layer.launch(Live).pipe(NodeRuntime.runMain)
 * ```
 */
import { NodeClusterSocket, NodeCrypto } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import {
  type MessageStorage,
  RunnerAddress,
  RunnerHealth,
  Runners,
  type Sharding,
  ShardingConfig,
  SocketRunner,
  SqlMessageStorage,
  SqlRunnerStorage
} from "effect/cluster"
import { RpcSerialization } from "effect/rpc"
import type { SocketServer } from "effect/socket"
import type { SqlClient, SqlError } from "effect/sql"
import { InvalidClusterConfig } from "./ShardedError.js"

/** Options of `layer`. */
export interface Options {
  /** The host other runners reach this one at (default "localhost"). */
  readonly host?: string | undefined
  /** The TCP port of this runner (required unless `clientOnly`). */
  readonly port?: number | undefined
  /** Listen on this host instead of `host` (e.g. "0.0.0.0" in a container). */
  readonly listenHost?: string | undefined
  /**
   * Prefix of the cluster's tables (`<prefix>_runners`, `<prefix>_locks`, `<prefix>_messages`,
   * `<prefix>_replies`, ...) and of its advisory lock namespace. Default `"mailroom_cluster"`.
   */
  readonly prefix?: string | undefined
  /** Send to entities without owning shards (no port, no socket server). */
  readonly clientOnly?: boolean | undefined
  /** Shards per shard group, the same on every runner (default 300). */
  readonly shardsPerGroup?: number | undefined
  /**
   * How fast a dead runner's shards move: how often the health singleton pings the runners
   * (`runnerHealthCheckInterval`, default 1 minute in effect/cluster, 5 s here), how often
   * each runner re-reads the assignments (`refreshAssignmentsInterval`, 3 s), and how long
   * a runner that stopped refreshing keeps its registration (`shardLockExpiration`, 35 s).
   * Any other `ShardingConfig` field can be set here too.
   */
  readonly sharding?: Partial<ShardingConfig.ShardingConfig["Service"]> | undefined
}

/** The services a runner provides. */
export type Services = Sharding.Sharding | Runners.Runners | MessageStorage.MessageStorage | ShardingConfig.ShardingConfig

const PREFIX = /^[a-z_][a-z0-9_]*$/

/** A layer that fails to build with `error`. */
const failed = <A>(error: InvalidClusterConfig): Layer.Layer<A, InvalidClusterConfig> =>
  Layer.unwrap(Effect.fail(error) as Effect.Effect<Layer.Layer<A>, InvalidClusterConfig>)

const invalid = <A>(option: string, value: unknown, expected: string) =>
  failed<A>(new InvalidClusterConfig({ option, value: String(value), expected }))

const bad = (option: string, value: unknown, expected: string) =>
  new InvalidClusterConfig({ option, value: String(value), expected })

/** Checks the options; the `ShardingConfig` of this runner, or the option that is wrong. */
export const config = (options: Options): ShardingConfig.ShardingConfig["Service"] | InvalidClusterConfig => {
  const prefix = options.prefix ?? "mailroom_cluster"
  if (typeof prefix !== "string" || !PREFIX.test(prefix) || prefix.length > 40) {
    return bad("prefix", prefix, "lower-case letters, digits and '_', starting with a letter or '_' (at most 40 characters)")
  }
  const host = options.host ?? "localhost"
  if (typeof host !== "string" || host.length === 0) return bad("host", host, "a host name or address")
  const port = options.port
  if (options.clientOnly !== true && !(Number.isInteger(port) && port! > 0 && port! < 65536)) {
    return bad("port", port, "a TCP port between 1 and 65535 (or clientOnly: true)")
  }
  const shardsPerGroup = options.shardsPerGroup ?? options.sharding?.shardsPerGroup ?? 300
  if (!(Number.isInteger(shardsPerGroup) && shardsPerGroup > 0 && shardsPerGroup <= 100_000)) {
    return bad("shardsPerGroup", shardsPerGroup, "a positive integer (the same on every runner)")
  }
  const sharding = options.sharding ?? {}
  for (const key of Object.keys(sharding) as Array<keyof typeof sharding>) {
    const value = sharding[key]
    if (!(key in ShardingConfig.defaults)) {
      return bad(`sharding.${key}`, value, `one of the ShardingConfig fields (${Object.keys(ShardingConfig.defaults).join(", ")})`)
    }
    if (typeof ShardingConfig.defaults[key] === "object" && Duration.isDuration(ShardingConfig.defaults[key])) {
      const d = Duration.fromInput(value as Duration.Input)
      if (d._tag === "None" || Duration.toMillis(d.value) < 0 || !Duration.isFinite(d.value)) {
        return bad(`sharding.${key}`, value, "a finite duration ≥ 0 (e.g. \"2 seconds\")")
      }
    }
  }
  const address = options.clientOnly === true ? Option.none() : Option.some(RunnerAddress.make(host, port!))
  return {
    ...ShardingConfig.defaults,
    runnerHealthCheckInterval: Duration.seconds(5),
    ...sharding,
    shardsPerGroup,
    runnerAddress: address,
    runnerListenAddress: options.listenHost !== undefined && options.clientOnly !== true
      ? Option.some(RunnerAddress.make(options.listenHost, port!))
      : Option.none()
  }
}

/**
 * A runner (or a client-only process) on the `SqlClient` it is given: socket transport between
 * runners, binary RPC serialization, PostgreSQL message and runner storage (tables created on
 * start), runner health by ping.
 */
export const layer = (
  options: Options
): Layer.Layer<Services, InvalidClusterConfig | SocketServer.SocketServerError, SqlClient.SqlClient> => {
  const resolved = config(options)
  if (resolved instanceof InvalidClusterConfig) return failed(resolved)
  const prefix = options.prefix ?? "mailroom_cluster"
  const clientOnly = options.clientOnly === true
  const transport: Layer.Layer<Sharding.Sharding | Runners.Runners, SocketServer.SocketServerError, any> = clientOnly
    ? Layer.provide(SocketRunner.layerClientOnly, NodeClusterSocket.layerClientProtocol)
    : Layer.provide(SocketRunner.layer, [NodeClusterSocket.layerSocketServer, NodeClusterSocket.layerClientProtocol])
  const health = clientOnly
    ? Layer.empty
    : RunnerHealth.layerPing.pipe(Layer.provide(Runners.layerRpc), Layer.provide(NodeClusterSocket.layerClientProtocol))
  return transport.pipe(
    Layer.provide(health),
    Layer.provideMerge(SqlMessageStorage.layerWith({ prefix }).pipe(Layer.provide(NodeCrypto.layerDigest))),
    Layer.provide(Layer.orDie(SqlRunnerStorage.layerWith({ prefix }))),
    Layer.provideMerge(ShardingConfig.layer(resolved)),
    Layer.provide(RpcSerialization.layerSchemaBinary())
  ) as Layer.Layer<Services, InvalidClusterConfig | SocketServer.SocketServerError, SqlClient.SqlClient>
}

/** Options of `layerPg`: the runner's, and the PostgreSQL connection. */
export interface PgOptions extends Options {
  readonly url: string | Redacted.Redacted
  /** Connections in this process's pool (default 10). */
  readonly maxConnections?: number | undefined
  /** Tables live in this schema (it must exist): `search_path` of every connection. */
  readonly schema?: string | undefined
}

/** `layer` on its own PostgreSQL pool (also provided, for the entities' own tables). */
export const layerPg = (
  options: PgOptions
): Layer.Layer<
  Services | PgClient.PgClient | SqlClient.SqlClient,
  InvalidClusterConfig | SocketServer.SocketServerError | SqlError.SqlError
> => {
  if (options.schema !== undefined && !PREFIX.test(options.schema)) {
    return invalid("schema", options.schema, "lower-case letters, digits and '_', starting with a letter or '_'")
  }
  const maxConnections = options.maxConnections ?? 10
  if (!(Number.isInteger(maxConnections) && maxConnections >= 2)) {
    // The shard locks hold one connection for themselves.
    return invalid("maxConnections", maxConnections, "an integer ≥ 2 (the shard locks reserve one connection)")
  }
  const pg = PgClient.layer({
    url: Redacted.isRedacted(options.url) ? options.url : Redacted.make(options.url),
    maxConnections,
    ...(options.schema !== undefined ? { startupParameters: { search_path: options.schema } } : {})
  })
  return layer(options).pipe(Layer.provideMerge(pg))
}
