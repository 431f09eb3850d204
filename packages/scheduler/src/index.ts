/**
 * @mailroom/scheduler — merge, combine, order, batch and dispatch work on demand.
 */
export * as ActorTarget from "./ActorTarget.js"
export * as Metrics from "./Metrics.js"
export * as Operation from "./Operation.js"
export * as Policy from "./Policy.js"
export * as Scheduler from "./Scheduler.js"
export * as Target from "./Target.js"
