/**
 * The desk of one process of a clustered shop (`mailroom-shop --cluster`, `npm run
 * shop:cluster`): the orders' request log is partitioned over the processes on PostgreSQL
 * (`@mailroom/cluster` `ClusterTasks`); this process runs the partitions whose shards it owns,
 * and its desk submits to any partition. The desk itself is `Desk`'s, over this backend.
 */
import { Context, Effect, Layer, Option } from "effect"
import type { Scope } from "effect"
import { type Sharding, ShardingConfig } from "effect/cluster"
import type { SqlClient } from "effect/sql"
import { ClusterTasks } from "@mailroom/cluster"
import type { Journal } from "@mailroom/persistence"
import type { Scheduler } from "@mailroom/scheduler"
import type { Ticket as TaskTicket } from "@mailroom/tasks"
import { type Backend, Desk, DeskError, type Options, over, pipelineOptions, taskTypes } from "./Desk.js"
import type * as Warehouse from "./Warehouse.js"

const startError = (e: { readonly message: string }) => new DeskError({ operation: "start", reason: e.message })

/**
 * The desk of one process of a clustered shop (`--cluster`): the orders' request log is
 * partitioned over the processes (`@mailroom/cluster` `ClusterTasks`, on PostgreSQL); this
 * process runs the partitions whose shards it owns, and its desk submits to any partition.
 * Needs `Sharding` (a runner), the PostgreSQL `Journal` and `SqlClient`, and a `Scheduler`.
 */
export const make: (
  options: Options & { readonly partitions: number }
) => Effect.Effect<
  Desk["Service"],
  DeskError,
  Journal.Journal | Scheduler.Scheduler | Sharding.Sharding | SqlClient.SqlClient | Scope.Scope
> = Effect.fnUntraced(function*(options: Options & { readonly partitions: number }) {
  const counters: Warehouse.Counters = { jobs: 0, units: 0 }
  const types = yield* taskTypes(options, counters)
  const def = ClusterTasks.make({
    name: "shop",
    partitions: options.partitions,
    partitionBy: "tenant",
    boardInterval: "500 millis",
    pipeline: pipelineOptions(options, types)
  })
  const context = yield* Layer.build(ClusterTasks.layer(def)).pipe(Effect.mapError(startError))
  const local = Context.get(context, ClusterTasks.LocalPartitions)
  const client = yield* ClusterTasks.client(def).pipe(Effect.mapError(startError))
  const self = Option.match(Option.flatMap(yield* Effect.serviceOption(ShardingConfig.ShardingConfig), (c) => c.runnerAddress), {
    onNone: () => "",
    onSome: (a) => `${a.host}:${a.port}`
  })
  const localPipeline = (id: string) => {
    const i = ClusterTasks.partitionOfTicket(id)
    return i === undefined ? undefined : local.running().get(i)
  }
  const backend: Backend = {
    submit: (type, payload, opts) => client.submit(type, payload, opts),
    status: (id) =>
      client.status(id, { payload: true }).pipe(
        Effect.map((s): TaskTicket.TaskStatus | undefined => s),
        Effect.catchTag("TicketNotFound", () => Effect.succeed(undefined)),
        Effect.mapError((e) => new DeskError({ operation: "status", reason: e.message }))
      ),
    statusNow: (id) => {
      const pipeline = localPipeline(id)
      if (pipeline === undefined) return undefined
      const exit = Effect.runSyncExit(pipeline.status.get(id))
      return exit._tag === "Success" ? exit.value : undefined
    },
    pipelines: () => [...local.running().values()],
    cluster: () => {
      const byRunner = new Map<string, { partitions: Array<number>; depth: number; completions: number }>()
      const now = Date.now()
      for (const row of local.board()) {
        if (now - row.at > 5_000) continue
        const share = byRunner.get(row.runner) ?? { partitions: [], depth: 0, completions: 0 }
        share.partitions.push(row.partition)
        share.depth += row.depth
        share.completions += row.completions
        byRunner.set(row.runner, share)
      }
      return [...byRunner].sort(([a], [b]) => a.localeCompare(b)).map(([runner, s]) => ({ runner, ...s, self: runner === self }))
    }
  }
  return over(backend, options, types, counters, undefined)
})

/** The clustered desk as a layer (see `make`). */
export const layer = (
  options: Options & { readonly partitions: number }
): Layer.Layer<Desk, DeskError, Journal.Journal | Scheduler.Scheduler | Sharding.Sharding | SqlClient.SqlClient> =>
  Layer.effect(Desk, make(options))
