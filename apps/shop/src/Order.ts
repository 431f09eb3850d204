/**
 * The shop's domain at the front desk: an order (customer + lines), the ticket a customer gets
 * back at once, and the error bodies the HTTP front desk answers. These Schemas validate request
 * bodies AND generate the OpenAPI document (see `Api.ts`), so the two cannot drift apart.
 */
import { Result, Schema, SchemaIssue } from "effect"

/** A stock-keeping unit: lower-case letters, digits and dashes, 1..32 characters. */
export const Sku = Schema.String.check(
  Schema.isPattern(/^[a-z0-9][a-z0-9-]{0,31}$/, { message: "a sku is 1..32 characters of a-z, 0-9 and -" })
)

/** One line of an order: how many units of which item. */
export const OrderLine = Schema.Struct({
  sku: Sku,
  qty: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 99 }))
})
export type OrderLine = typeof OrderLine.Type

/** An order as a customer submits it. Multi-item orders are split into one pick per line. */
export const Order = Schema.Struct({
  customer: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(64)),
  lines: Schema.Array(OrderLine).check(Schema.isMinLength(1), Schema.isMaxLength(20))
})
export type Order = typeof Order.Type

/** Who submitted an order: the HTTP API or the built-in load generator. */
export const Source = Schema.Literals(["api", "load"])
export type Source = typeof Source.Type

/**
 * The payload of an `order` task in the request log: the order as submitted plus where it came
 * from (so the dashboard can list the API's tickets apart, also after a restart).
 */
export const PlacedOrder = Schema.Struct({
  ...Order.fields,
  source: Source
})
export type PlacedOrder = typeof PlacedOrder.Type

/**
 * Where a ticket is in its life: the status of its `order` task in the pipeline
 * (`retrying` after a failed attempt, while the retry schedule allows another one).
 */
export const TicketStatus = Schema.Literals(["accepted", "dispatched", "running", "retrying", "succeeded", "failed"])
export type TicketStatus = typeof TicketStatus.Type

/** What a customer holds: the ticket id and the current status of the order. */
export const Ticket = Schema.Struct({
  id: Schema.String,
  status: TicketStatus,
  customer: Schema.String,
  lines: Schema.Array(OrderLine),
  /** Milliseconds since the epoch. */
  acceptedAt: Schema.Number,
  updatedAt: Schema.Number,
  /** Who submitted it: the HTTP API or the built-in load generator. */
  source: Source,
  error: Schema.optional(Schema.String)
})
export type Ticket = typeof Ticket.Type

/** The answer to an accepted order (`202 Accepted`). */
export const Accepted = Schema.Struct({
  ticket: Ticket,
  /** Where to poll the ticket's status. */
  location: Schema.String,
  /** True when the Idempotency-Key was seen before: this is the original ticket. */
  duplicate: Schema.Boolean
})

/** A `400` (or `413`, `422`) answer: which field was wrong and why. */
export const Problem = Schema.Struct({
  error: Schema.String,
  field: Schema.optional(Schema.String),
  message: Schema.String
})
export type Problem = typeof Problem.Type

/**
 * A `429` answer: the backlog is past its high-water mark (`reason: "backlog"`) or the customer
 * is over its rate limit (`reason: "tenant-rate"`); retry after `retryAfterSeconds`.
 */
export const OverloadedBody = Schema.Struct({
  error: Schema.Literal("Overloaded"),
  reason: Schema.Literals(["backlog", "tenant-rate"]),
  message: Schema.String,
  retryAfterSeconds: Schema.Number,
  backlog: Schema.Number,
  highWater: Schema.Number
})

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** Decodes an order from JSON-parsed input; on failure answers a `Problem` naming the first bad field. */
export const decodeOrder = (input: unknown): Result.Result<Order, Problem> => {
  const result = Schema.decodeUnknownResult(Order)(input, { errors: "all" })
  if (Result.isSuccess(result)) return Result.succeed(result.success)
  const issues = formatter(result.failure.issue).issues
  const first = issues[0]
  const field = first?.path?.map((p) => (typeof p === "object" && p !== null && "key" in p ? String(p.key) : String(p))).join(".") ?? ""
  const message = issues
    .map((i) => `${(i.path ?? []).map((p) => (typeof p === "object" && p !== null && "key" in p ? String(p.key) : String(p))).join(".") || "(body)"}: ${i.message}`)
    .join("; ")
  return Result.fail(field === "" ? { error: "InvalidBody", message } : { error: "InvalidBody", field, message })
}
