/**
 * @mailroom/tasks — the asynchronous task pipeline: front desk and request log, tickets and
 * status, dispatch through the scheduler to worker pools, retries, reconciliation, idempotency,
 * sagas with vouchers, backlog metrics, autoscaling and admission control.
 */
export * as Admission from "./Admission.js"
export * as Autoscaler from "./Autoscaler.js"
export * as Backlog from "./Backlog.js"
export * as Dispatcher from "./Dispatcher.js"
export * as FrontDesk from "./FrontDesk.js"
export * as Idempotency from "./Idempotency.js"
export * as Pipeline from "./Pipeline.js"
export * as Reconciler from "./Reconciler.js"
export * as Saga from "./Saga.js"
export * as Status from "./Status.js"
export * as TaskError from "./TaskError.js"
export * as TaskLog from "./TaskLog.js"
export * as TaskType from "./TaskType.js"
export * as Ticket from "./Ticket.js"
export * as WorkerPool from "./WorkerPool.js"
