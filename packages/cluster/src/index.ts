/**
 * @mailroom/cluster — Mailroom actors as sharded entities, and the task pipeline partitioned across
 * runner processes, on Effect's cluster engine over PostgreSQL.
 */
export * as ClusterTasks from "./ClusterTasks.js"
export * as Runner from "./Runner.js"
export * as ShardedActor from "./ShardedActor.js"
export * as ShardedError from "./ShardedError.js"
export { DeliveryFailed, InvalidClusterConfig, InvalidEntityId } from "./ShardedError.js"
