/**
 * @mailroom/cluster — Mailroom actors as sharded entities on Effect's cluster engine, on PostgreSQL.
 */
export * as Runner from "./Runner.js"
export * as ShardedActor from "./ShardedActor.js"
export * as ShardedError from "./ShardedError.js"
export { DeliveryFailed, InvalidClusterConfig, InvalidEntityId } from "./ShardedError.js"
