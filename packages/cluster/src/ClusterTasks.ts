/**
 * The task pipeline of `@mailroom/tasks` on several runner processes, sharing one PostgreSQL
 * request log: the log is **partitioned**, each partition owned by exactly one runner at a time.
 *
 * - Partition `i` has its own journal stream (`<stream>/p<i>`) and runs a whole pipeline — front
 *   desk, index, dispatcher, the runner's scheduler lanes, worker pools, reconciler, snapshots —
 *   as an effect/cluster **singleton** named `<name>.p<i>`: sharding starts it on the runner that
 *   owns that name's shard, and when the shard moves (a rebalance, a runner that died) the
 *   pipeline closes there and starts on the new owner, which recovers the partition's unfinished
 *   tasks from its stream (and snapshot).
 * - Submissions and status queries from any process are RPCs to the entity `<name>.p<i>` of the
 *   entity type `Tasks.<name>` — the same shard, so the same runner as the singleton.
 * - The request log is **fenced**: every append carries the stream version the pipeline last
 *   wrote, so an owner that lost its shard without noticing (a long pause) cannot append once the
 *   new owner has (`LogOwnershipLost`): each status, acceptance and dispatch is recorded by one
 *   owner. Handlers behind `Idempotency.layerSql` on the same database apply their effects once
 *   even when a dead owner's run and the new owner's overlap.
 * - **Routing.** A task goes to the partition of its merge key (tasks that merge meet in one
 *   scheduler), else of its idempotency key (a key is unique cluster-wide: all its submissions
 *   reach one index), else round-robin; `partitionBy: "tenant"` routes by tenant instead (a
 *   tenant's rate limit is then exact cluster-wide). Ticket ids carry their partition (`p<i>.`).
 * - **Admission cluster-wide.** Each partition publishes its backlog to a board table every
 *   `boardInterval`; its high-water mark counts the others' (at most that stale).
 *
 * Why partitions and not `SELECT … FOR UPDATE SKIP LOCKED` leases: see `DESIGN-tasks.md`.
 */
import { Context, Deferred, Duration, Effect, Exit, Layer, Option, Schedule, Schema } from "effect"
import { Entity, EntityId, Sharding, ShardingConfig, Singleton } from "effect/cluster"
import { Rpc } from "effect/rpc"
import { SqlClient } from "effect/sql"
import type { Scope } from "effect"
import { Ddl, Journal } from "@mailroom/persistence"
import type { Scheduler } from "@mailroom/scheduler"
import { Pipeline, TaskError, type TaskType, type Ticket } from "@mailroom/tasks"
import { InvalidClusterConfig } from "./ShardedError.js"

/** The partition's pipeline is not running here right now (its shard is moving): try again. */
export class PartitionUnavailable extends Schema.TaggedError<PartitionUnavailable>()("PartitionUnavailable", {
  partition: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `task partition ${this.partition} is unavailable (${this.reason}); retry (with an idempotency key, a retry is safe)`
  }
}

/** Every failure of a submission through the cluster. */
export const SubmitError = Schema.Union([
  TaskError.InvalidPayload,
  TaskError.PayloadTooLarge,
  TaskError.UnknownTaskType,
  TaskError.Overloaded,
  TaskError.IdempotencyConflict,
  TaskError.PipelineClosed,
  TaskError.LogOwnershipLost,
  Journal.WrongExpectedVersion,
  Journal.EventIdConflict,
  Journal.InvalidAppend,
  Journal.StorageFull,
  Journal.JournalError,
  PartitionUnavailable
])
export type SubmitError = typeof SubmitError.Type

/** Every failure of a status query through the cluster. */
export const StatusError = Schema.Union([
  TaskError.TicketNotFound,
  TaskError.CorruptLog,
  Journal.CorruptEvent,
  Journal.JournalGap,
  Journal.JournalError,
  PartitionUnavailable
])
export type StatusError = typeof StatusError.Type

const TicketSchema = Schema.Struct({
  id: Schema.String,
  taskType: Schema.String,
  status: Schema.Literal("accepted"),
  acceptedAt: Schema.Number,
  duplicate: Schema.Boolean
})

const StatusKind = Schema.Literals(["accepted", "dispatched", "running", "retrying", "waiting", "succeeded", "failed", "compensated"])

const TaskStatusSchema = Schema.Struct({
  id: Schema.String,
  taskType: Schema.String,
  tenant: Schema.String,
  status: StatusKind,
  attempt: Schema.Number,
  acceptedAt: Schema.Number,
  updatedAt: Schema.Number,
  output: Schema.optional(Schema.Unknown),
  error: Schema.optional(Schema.String),
  parent: Schema.optional(Schema.String),
  children: Schema.optional(Schema.Struct({ total: Schema.Number, pending: Schema.Number, failed: Schema.Number })),
  payload: Schema.optional(Schema.Unknown)
})

const submitFields = {
  taskType: Schema.String,
  tenant: Schema.optional(Schema.String),
  priority: Schema.optional(Schema.Number),
  /** Milliseconds from acceptance. */
  deadline: Schema.optional(Schema.Number)
}

/** The protocol of a partition: submit (one or many) and status. */
const rpcs = [
  Rpc.make("Submit", {
    payload: Schema.Struct({ ...submitFields, payload: Schema.Unknown, key: Schema.optional(Schema.String) }),
    success: TicketSchema,
    error: SubmitError
  }),
  Rpc.make("SubmitAll", {
    payload: Schema.Struct({ ...submitFields, payloads: Schema.Array(Schema.Unknown) }),
    success: Schema.Array(TicketSchema),
    error: SubmitError
  }),
  Rpc.make("Status", {
    payload: Schema.Struct({ ticket: Schema.String, payload: Schema.Boolean }),
    success: TaskStatusSchema,
    error: StatusError
  })
] as const

/** Options of `make`. */
export interface Options<R = never> {
  /** Names the entity type (`Tasks.<name>`) and the singletons (`<name>.p<i>`); default `"tasks"`. */
  readonly name?: string | undefined
  /** Partitions of the request log; fixed for the life of a log (default 16). */
  readonly partitions?: number | undefined
  /**
   * `"work"` (default): by merge key, else idempotency key, else round-robin; `"tenant"`: by
   * tenant (exact per-tenant rates cluster-wide; a tenant's work stays on one runner).
   */
  readonly partitionBy?: "work" | "tenant" | undefined
  /**
   * The pipeline of each partition. `stream` (default `"mailroom-tasks"`) is the prefix of the
   * partitions' streams; `admission.highWater` holds for the whole cluster.
   */
  readonly pipeline: Omit<Pipeline.Options<R>, "idPrefix">
  /** How often each partition publishes its backlog, and each process reads the board (default 1 second). */
  readonly boardInterval?: Duration.Input | undefined
  /** The board's table (default `"mailroom_task_board"`). */
  readonly boardTable?: string | undefined
}

/** A declared partitioned pipeline: pass it to `layer` (runners) and `client` (anyone). */
export interface ClusterTasks<R = never> {
  readonly name: string
  readonly partitions: number
  readonly partitionBy: "work" | "tenant"
  readonly options: Options<R>
  readonly types: ReadonlyMap<string, TaskType.Any>
  readonly entity: Entity.Entity<`Tasks.${string}`, (typeof rpcs)[number]>
  readonly boardInterval: number
  readonly boardTable: string
  /** Set when the options are invalid: `layer` and `client` fail with it. */
  readonly invalid: InvalidClusterConfig | undefined
}

const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,39}$/
const TABLE = /^[a-z_][a-z0-9_]{0,62}$/

/** Declares a partitioned pipeline (checks the options; `layer`/`client` report what is wrong). */
export const make = <R = never>(options: Options<R>): ClusterTasks<R> => {
  const name = options.name ?? "tasks"
  const partitions = options.partitions ?? 16
  const partitionBy = options.partitionBy ?? "work"
  const boardTable = options.boardTable ?? "mailroom_task_board"
  let boardInterval = NaN
  try {
    boardInterval = Duration.toMillis(Duration.fromInputUnsafe(options.boardInterval ?? "1 second"))
  } catch {
    // reported below
  }
  const invalid = typeof name !== "string" || !NAME.test(name)
    ? new InvalidClusterConfig({ option: "name", value: String(name), expected: "a letter, then up to 39 letters, digits, '_' or '-'" })
    : !(Number.isInteger(partitions) && partitions >= 1 && partitions <= 4096)
    ? new InvalidClusterConfig({ option: "partitions", value: String(partitions), expected: "an integer from 1 to 4096" })
    : partitionBy !== "work" && partitionBy !== "tenant"
    ? new InvalidClusterConfig({ option: "partitionBy", value: String(partitionBy), expected: `"work" or "tenant"` })
    : !(boardInterval > 0 && Number.isFinite(boardInterval))
    ? new InvalidClusterConfig({ option: "boardInterval", value: String(options.boardInterval), expected: "a finite duration > 0" })
    : !TABLE.test(boardTable)
    ? new InvalidClusterConfig({ option: "boardTable", value: boardTable, expected: "a lower-case SQL identifier" })
    : undefined
  const types = new Map<string, TaskType.Any>()
  for (const type of options.pipeline.types) types.set(type.name, type)
  return {
    name,
    partitions,
    partitionBy,
    options,
    types,
    entity: Entity.make(`Tasks.${NAME.test(name) ? name : "invalid"}`, rpcs),
    boardInterval,
    boardTable,
    invalid
  }
}

/**
 * The entity ids (and singleton names) of the partitions, chosen so that no two partitions share
 * a shard while there are shards to spare: `<name>.p<i>`, or `<name>.p<i>.<k>` for the first `k`
 * whose shard is free. Every process computes the same list (same names, same shard function).
 * With as many shards as partitions, each shard holds one partition, so the runners, which
 * share the shards evenly, share the partitions evenly too.
 */
const partitionIds = Effect.fnUntraced(function*(def: ClusterTasks<any>) {
  const sharding = yield* Sharding.Sharding
  const config = yield* Effect.serviceOption(ShardingConfig.ShardingConfig)
  const shards = Option.match(config, { onNone: () => 0, onSome: (c) => c.shardsPerGroup })
  const taken = new Set<string>()
  const ids: Array<string> = []
  for (let i = 0; i < def.partitions; i++) {
    let id = `${def.name}.p${i}`
    const shardOf = (candidate: string) => String(sharding.getShardId(EntityId.make(candidate), "default"))
    for (let k = 1; taken.size < shards && taken.has(shardOf(id)) && k <= 10_000; k++) id = `${def.name}.p${i}.${k}`
    taken.add(shardOf(id))
    ids.push(id)
  }
  return ids
})

/** The partition a ticket belongs to (its id starts with `p<i>.`), or undefined. */
export const partitionOfTicket = (ticket: string): number | undefined => {
  const m = /^p(\d{1,4})\./.exec(ticket)
  return m === null ? undefined : Number(m[1])
}

const hash = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619)
  return h >>> 0
}

// ---------------------------------------------------------------------------- the board

/** One partition's line on the board. */
export interface BoardRow {
  readonly partition: number
  /** The runner that owns the partition now (`host:port`). */
  readonly runner: string
  /** Tasks accepted and not final (children included). */
  readonly depth: number
  /** Root tasks (what the high-water mark counts). */
  readonly roots: number
  /** Tasks final since the partition's pipeline started here. */
  readonly completions: number
  /** Epoch ms of the row. */
  readonly at: number
}

interface Board {
  /** Root tasks of the other partitions, from the last read. */
  readonly elsewhere: (partition: number) => number
  readonly publish: (row: BoardRow) => Effect.Effect<void>
  readonly rows: () => ReadonlyArray<BoardRow>
}

const makeBoard = Effect.fnUntraced(function*(def: ClusterTasks<any>) {
  const sql = yield* SqlClient.SqlClient
  const t = def.boardTable
  yield* Ddl.run(sql, [
    `CREATE TABLE IF NOT EXISTS ${t} (partition INTEGER PRIMARY KEY, runner TEXT NOT NULL, depth INTEGER NOT NULL, ` +
    `roots INTEGER NOT NULL, completions BIGINT NOT NULL, at BIGINT NOT NULL)`
  ]).pipe(Effect.orDie)
  let rows: ReadonlyArray<BoardRow> = []
  let total = 0
  const read = sql.unsafe<{ partition: number; runner: string; depth: number; roots: number; completions: string | number; at: string | number }>(
    `SELECT partition, runner, depth, roots, completions, at FROM ${t} ORDER BY partition`
  ).pipe(
    Effect.map((raw) => {
      const now = Date.now()
      const fresh = raw.map((r): BoardRow => ({
        partition: Number(r.partition),
        runner: r.runner,
        depth: Number(r.depth),
        roots: Number(r.roots),
        completions: Number(r.completions),
        at: Number(r.at)
      }))
      rows = fresh
      // Rows older than five intervals belong to partitions nobody runs now: not counted.
      total = 0
      for (const r of fresh) if (now - r.at <= 5 * def.boardInterval) total += r.roots
    }),
    Effect.catch((e) => Effect.logWarning(`task board ${t}: read failed (${e.message}); admission uses the last read`))
  )
  yield* read
  yield* Effect.forkScoped(Effect.repeat(read, Schedule.spaced(def.boardInterval)))
  const board: Board = {
    elsewhere: (partition) => {
      const own = rows.find((r) => r.partition === partition)
      return Math.max(0, total - (own !== undefined && Date.now() - own.at <= 5 * def.boardInterval ? own.roots : 0))
    },
    publish: (row) =>
      sql.unsafe(
        `INSERT INTO ${t} (partition, runner, depth, roots, completions, at) VALUES ($1, $2, $3, $4, $5, $6) ` +
          `ON CONFLICT (partition) DO UPDATE SET runner = excluded.runner, depth = excluded.depth, roots = excluded.roots, ` +
          `completions = excluded.completions, at = excluded.at`,
        [row.partition, row.runner, row.depth, row.roots, row.completions, row.at]
      ).pipe(Effect.asVoid, Effect.catch((e) => Effect.logWarning(`task board ${t}: publish failed (${e.message})`))),
    rows: () => rows
  }
  return board
})

// ---------------------------------------------------------------------------- runners

const submitOptions = (p: { readonly tenant?: string | undefined; readonly priority?: number | undefined; readonly deadline?: number | undefined }) => ({
  ...(p.tenant === undefined ? {} : { tenant: p.tenant }),
  ...(p.priority === undefined ? {} : { priority: p.priority }),
  ...(p.deadline === undefined ? {} : { deadline: p.deadline })
})

/** The pipelines of the partitions this process owns now (for tests, dashboards and metrics). */
export class LocalPartitions extends Context.Service<LocalPartitions, {
  /** Partition → its pipeline, for the partitions running here. */
  readonly running: () => ReadonlyMap<number, Pipeline.Pipeline>
  /** The board: every partition's owner and backlog, as last read. */
  readonly board: () => ReadonlyArray<BoardRow>
}>()("@mailroom/cluster/ClusterTasks/LocalPartitions") {}

/**
 * Runs the partitions on this runner: registers one singleton per partition (started where its
 * shard is) and the partition entity (answers submissions and status queries for the partitions
 * whose shards this runner owns). Needs `Sharding`, the `Journal` (PostgreSQL, shared by all
 * runners), a `Scheduler` (this runner's), the `SqlClient` (the board) and what the handlers
 * need; a `Snapshot.SnapshotStore` and an `Idempotency.Guard` (e.g. `layerSql`) when provided.
 */
export const layer = <R>(
  def: ClusterTasks<R>
): Layer.Layer<
  LocalPartitions,
  InvalidClusterConfig,
  Sharding.Sharding | Journal.Journal | Scheduler.Scheduler | SqlClient.SqlClient | Exclude<R, Scope.Scope>
> => {
  if (def.invalid !== undefined) return Layer.effect(LocalPartitions, Effect.fail(def.invalid))
  return Layer.effectContext(Effect.gen(function*() {
    const board = yield* makeBoard(def)
    const config = yield* Effect.serviceOption(ShardingConfig.ShardingConfig)
    const runner = Option.match(Option.flatMap(config, (c) => c.runnerAddress), {
      onNone: () => `pid ${process.pid}`,
      onSome: (a) => `${a.host}:${a.port}`
    })
    const running = new Map<number, Pipeline.Pipeline>()
    const waiting = new Map<number, Deferred.Deferred<Pipeline.Pipeline>>()
    const slot = (i: number) => {
      let d = waiting.get(i)
      if (d === undefined) waiting.set(i, d = Deferred.makeUnsafe<Pipeline.Pipeline>())
      return d
    }
    const base = def.options.pipeline
    const stream = base.stream ?? "mailroom-tasks"
    const highWater = base.admission?.highWater

    const runPartition = (i: number) =>
      Effect.gen(function*() {
        const pipeline = yield* Pipeline.make({
          ...base,
          stream: `${stream}/p${i}`,
          idPrefix: `p${i}.`,
          admission: highWater === undefined ? base.admission : { ...base.admission, elsewhere: () => board.elsewhere(i) }
        })
        running.set(i, pipeline)
        Deferred.doneUnsafe(slot(i), Exit.succeed(pipeline))
        yield* Effect.addFinalizer(() =>
          Effect.sync(() => {
            running.delete(i)
            waiting.delete(i)
          })
        )
        yield* Effect.logInfo(`task partition ${i} runs here (${runner}): ${pipeline.recovered} tasks recovered, ${pipeline.replayed} log events replayed`)
        const publish = Effect.suspend(() => {
          const b = pipeline.backlog.snapshot()
          return board.publish({ partition: i, runner, depth: b.depth, roots: b.roots, completions: b.completions, at: Date.now() })
        })
        yield* publish
        yield* Effect.repeat(publish, Schedule.spaced(def.boardInterval))
      }).pipe(
        // A start that fails (the journal unreachable, a corrupt log) is retried: the partition must run somewhere.
        Effect.tapCause((cause) => Effect.logError(`task partition ${i} stopped`, cause)),
        Effect.retry(Schedule.spaced("1 second"))
      )

    const ids = yield* partitionIds(def)
    const indexOf = new Map(ids.map((id, i) => [id, i]))
    for (let i = 0; i < def.partitions; i++) {
      yield* Layer.build(Singleton.make(ids[i]!, runPartition(i)))
    }

    const pipelineOf = (entityId: string) =>
      Effect.suspend(() => {
        const i = indexOf.get(entityId)
        if (i === undefined) {
          return Effect.fail(new PartitionUnavailable({ partition: -1, reason: `no partition ${JSON.stringify(entityId)}` }))
        }
        const ready = running.get(i)
        if (ready !== undefined) return Effect.succeed(ready)
        return Deferred.await(slot(i)).pipe(
          Effect.timeoutOrElse({
            duration: "10 seconds",
            orElse: () => Effect.fail(new PartitionUnavailable({ partition: i, reason: `its pipeline did not start on ${runner} within 10 s` }))
          })
        )
      })

    const typeOf = (name: string) => {
      const type = def.types.get(name)
      return type === undefined ? Effect.fail(new TaskError.UnknownTaskType({ taskType: name })) : Effect.succeed(type)
    }

    yield* Layer.build(def.entity.toLayer(Effect.gen(function*() {
      const address = yield* Entity.CurrentAddress
      const entityId = address.entityId
      return def.entity.of({
        Submit: ({ payload: p }) =>
          Effect.flatMap(Effect.all([pipelineOf(entityId), typeOf(p.taskType)]), ([pipeline, type]) =>
            pipeline.frontDesk.submit(type, p.payload, { ...submitOptions(p), ...(p.key === undefined ? {} : { key: p.key }) })),
        SubmitAll: ({ payload: p }) =>
          Effect.flatMap(Effect.all([pipelineOf(entityId), typeOf(p.taskType)]), ([pipeline, type]) =>
            pipeline.frontDesk.submitAll(type, p.payloads, submitOptions(p))),
        Status: ({ payload: p }) => Effect.flatMap(pipelineOf(entityId), (pipeline) => pipeline.status.get(p.ticket, { payload: p.payload }))
      })
    }), { concurrency: "unbounded", maxIdleTime: "1 hour" }))

    return Context.make(LocalPartitions, { running: () => running, board: () => board.rows() })
  })) as Layer.Layer<LocalPartitions, InvalidClusterConfig, any>
}

// ---------------------------------------------------------------------------- clients

/** The front desk and status of a partitioned pipeline, from any process of the cluster. */
export interface Client {
  /** Routes to the task's partition; answers once the task is durable there. */
  readonly submit: (
    type: TaskType.Any,
    payload: unknown,
    options?: { readonly key?: string | undefined; readonly tenant?: string | undefined; readonly priority?: number | undefined; readonly deadline?: Duration.Input | undefined }
  ) => Effect.Effect<Ticket.Ticket, SubmitError>
  /** Submits many payloads of one type in one append of one partition (all or none). */
  readonly submitAll: (
    type: TaskType.Any,
    payloads: ReadonlyArray<unknown>,
    options?: { readonly tenant?: string | undefined; readonly priority?: number | undefined; readonly deadline?: Duration.Input | undefined }
  ) => Effect.Effect<ReadonlyArray<Ticket.Ticket>, SubmitError>
  /** The status of a ticket (with its payload when asked), from its partition. */
  readonly status: (ticket: Ticket.Ticket | string, options?: { readonly payload?: boolean | undefined }) => Effect.Effect<Ticket.TaskStatus, StatusError>
  /** Polls the status until it is final. */
  readonly awaitFinal: (ticket: Ticket.Ticket | string, options?: { readonly poll?: Duration.Input | undefined }) => Effect.Effect<Ticket.TaskStatus, StatusError>
  /** The partition a submission goes to. */
  readonly partitionOf: (type: TaskType.Any, payload: unknown, options?: { readonly key?: string | undefined; readonly tenant?: string | undefined }) => number
}

/** What the transport can fail with: the partition is not reachable now. */
const unavailable = (partition: number) => (e: { readonly _tag: string; readonly message?: string }) =>
  new PartitionUnavailable({ partition, reason: `${e._tag}${e.message ? `: ${e.message}` : ""}` })

const TRANSPORT = new Set(["MailboxFull", "AlreadyProcessingMessage", "PersistenceError", "EntityNotAssignedToRunner", "RpcClientError"])

const transportToUnavailable = <A, E extends { readonly _tag: string }>(partition: number, effect: Effect.Effect<A, E>) =>
  Effect.mapError(effect, (e) => TRANSPORT.has(e._tag) ? unavailable(partition)(e as never) : e)

const millis = (input: Duration.Input | undefined): number | undefined => {
  if (input === undefined) return undefined
  try {
    return Duration.toMillis(Duration.fromInputUnsafe(input))
  } catch {
    return NaN
  }
}

const fields = (type: TaskType.Any, options?: { readonly tenant?: string | undefined; readonly priority?: number | undefined; readonly deadline?: Duration.Input | undefined }) => {
  const deadline = millis(options?.deadline)
  return {
    taskType: String(type?.name),
    ...(options?.tenant === undefined ? {} : { tenant: options.tenant }),
    ...(options?.priority === undefined ? {} : { priority: options.priority }),
    ...(deadline === undefined ? {} : { deadline })
  }
}

/** A client of the partitioned pipeline (on runners and client-only processes alike). */
export const client = <R>(def: ClusterTasks<R>): Effect.Effect<Client, InvalidClusterConfig, Sharding.Sharding> =>
  Effect.gen(function*() {
    if (def.invalid !== undefined) return yield* def.invalid
    const clientFor = yield* def.entity.client
    const ids = yield* partitionIds(def)
    const partitionId = (_: unknown, i: number) => ids[i]!
    let next = Math.floor(Math.random() * def.partitions)
    const partitionOf: Client["partitionOf"] = (type, payload, options) => {
      const tenant = options?.tenant ?? "default"
      if (def.partitionBy === "tenant") return hash(tenant) % def.partitions
      const key = type?.merge?.key
      if (key !== undefined) {
        // Tasks that merge meet in one partition (one scheduler); the key reads the decoded payload.
        const decoded = Schema.decodeUnknownOption(type.payload as Schema.Codec<unknown, unknown>)(payload)
        if (Option.isSome(decoded)) {
          try {
            return hash(`${type.name}\u0001${String(key(decoded.value))}`) % def.partitions
          } catch {
            // fall through
          }
        }
      }
      if (options?.key !== undefined) return hash(`${type?.name}\u0001${tenant}\u0001${options.key}`) % def.partitions
      next = (next + 1) % def.partitions
      return next
    }
    const submit: Client["submit"] = (type, payload, options) =>
      Effect.suspend(() => {
        const i = partitionOf(type, payload, options)
        const request = { ...fields(type, options), payload, ...(options?.key === undefined ? {} : { key: options.key }) }
        return transportToUnavailable(i, clientFor(partitionId(def, i)).Submit(request)) as Effect.Effect<Ticket.Ticket, SubmitError>
      })
    const submitAll: Client["submitAll"] = (type, payloads, options) =>
      Effect.suspend(() => {
        if (payloads.length === 0) return Effect.succeed([])
        const i = partitionOf(type, payloads[0], options)
        return transportToUnavailable(i, clientFor(partitionId(def, i)).SubmitAll({ ...fields(type, options), payloads })) as Effect.Effect<
          ReadonlyArray<Ticket.Ticket>,
          SubmitError
        >
      })
    const status: Client["status"] = (ticket, options) =>
      Effect.suspend(() => {
        const id = typeof ticket === "string" ? ticket : ticket.id
        const i = partitionOfTicket(id)
        if (i === undefined || i >= def.partitions) return Effect.fail(new TaskError.TicketNotFound({ ticket: id }))
        return transportToUnavailable(i, clientFor(partitionId(def, i)).Status({ ticket: id, payload: options?.payload === true })) as Effect.Effect<
          Ticket.TaskStatus,
          StatusError
        >
      })
    const awaitFinal: Client["awaitFinal"] = (ticket, options) => {
      const poll = millis(options?.poll) ?? 100
      return Effect.flatMap(
        Effect.repeat(status(ticket), { until: (s) => s.status === "succeeded" || s.status === "failed" || s.status === "compensated", schedule: Schedule.spaced(poll) }),
        Effect.succeed
      )
    }
    return { submit, submitAll, status, awaitFinal, partitionOf }
  })
