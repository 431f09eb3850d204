/**
 * The scheduler's metrics, as `effect` `Metric`s. Every series carries a `target` attribute
 * (the target's name); `waitTime` also carries `kind`. Counters are updated once per dispatch
 * or submission burst rather than per operation, so they cost little on the hot path.
 */
import { Metric } from "effect"

/** Submissions accepted. */
export const submitted = Metric.counter("mailroom_scheduler_submitted", {
  description: "operations submitted to the scheduler",
  incremental: true
})
/** Merged operations dispatched to a target. */
export const dispatched = Metric.counter("mailroom_scheduler_dispatched", {
  description: "merged operations dispatched to targets",
  incremental: true
})
/** Reads that joined a pending or in-flight identical read. */
export const coalesced = Metric.counter("mailroom_scheduler_coalesced", {
  description: "reads that shared another read's execution",
  incremental: true
})
/** Writes replaced by a later write on the same key before dispatch. */
export const superseded = Metric.counter("mailroom_scheduler_superseded", {
  description: "writes superseded by a later write",
  incremental: true
})
/** Submissions folded into an existing combine operation. */
export const combined = Metric.counter("mailroom_scheduler_combined", {
  description: "operations folded into another by a combiner",
  incremental: true
})
/** Operations dropped before dispatch because every submitter left. */
export const dropped = Metric.counter("mailroom_scheduler_dropped", {
  description: "operations dropped because all their submitters left",
  incremental: true
})
/** Submissions refused with `Overloaded`. */
export const overloaded = Metric.counter("mailroom_scheduler_overloaded", {
  description: "submissions refused because the pending set was full",
  incremental: true
})
/** Operations per dispatched batch. */
export const batchSize = Metric.histogram("mailroom_scheduler_batch_size", {
  description: "merged operations per dispatched batch",
  boundaries: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
})
/** Pending submissions (not yet dispatched). */
export const depth = Metric.gauge("mailroom_scheduler_depth", {
  description: "submissions pending in the scheduler"
})
/**
 * Waiting time per kind: for each dispatched batch and each kind in it, the longest time (ms)
 * one of its operations waited from first submission to dispatch. One observation per batch
 * and kind, not per operation, to keep the hot path cheap.
 */
export const waitTime = Metric.histogram("mailroom_scheduler_wait_ms", {
  description: "longest wait from submission to dispatch in a batch, per kind (ms)",
  boundaries: [0, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000]
})
