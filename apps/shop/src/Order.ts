/**
 * The shop's domain at the front desk: an order (customer + lines), the ticket a customer gets
 * back at once, and the error bodies the HTTP front desk answers. These Schemas validate request
 * bodies AND generate the OpenAPI document (see `Api.ts`), so the two cannot drift apart.
 */
import { Result, Schema, SchemaIssue } from "effect"
import * as Catalog from "./Catalog.js"

/**
 * A stock-keeping unit as stored: lower-case letters, digits and dashes, 1..32 characters. The
 * request logs hold orders accepted before the catalog check, so what is read back from them
 * is checked only for this shape (see `CatalogSku` for what a new order may name).
 */
export const Sku = Schema.String.check(
  Schema.isPattern(/^[a-z0-9][a-z0-9-]{0,31}$/, { message: "a sku is 1..32 characters of a-z, 0-9 and -" })
)

/** A sku of the catalog (`Catalog.skus`): what a new order may name. */
export const CatalogSku = Schema.String.check(
  Schema.makeFilter(
    (sku: string) => Catalog.has(sku) || `unknown sku ${JSON.stringify(sku)}: the catalog has ${Catalog.skus.join(", ")}`,
    {
      expected: `one of the catalog's skus (${Catalog.skus.join(", ")})`,
      toJsonSchema: () => ({ enum: [...Catalog.skus] })
    }
  )
)

// A name: letters (any script, with their combining marks), digits, spaces and a little
// punctuation, starting with a letter or digit and not ending in a space. Nothing that acts on a
// terminal or hides: no control characters (C0, DEL, C1), no lone surrogates, no format
// characters (bidi overrides, zero-width), no line separators.
const customerPattern = /^[\p{L}\p{N}][\p{L}\p{M}\p{N} .,'’&@_+()/-]*$/u

const describeCustomer = (name: string): true | string => {
  if (name.length === 0) return "the customer name is empty"
  if (name.length > 64) return `the customer name is ${name.length} characters long; at most 64 are allowed`
  if (customerPattern.test(name) && !name.endsWith(" ")) return true
  let i = 0
  for (const c of name) {
    const allowed = i === 0 ? /^[\p{L}\p{N}]$/u : /^[\p{L}\p{M}\p{N} .,'’&@_+()/-]$/u
    if (!allowed.test(c)) {
      const code = c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")
      return `character U+${code} at position ${i} is not allowed in a customer name${i === 0 ? " (it must start with a letter or digit)" : ""}`
    }
    i += c.length
  }
  return "a customer name does not end with a space"
}

/**
 * Who orders: 1..64 characters of letters (any script), digits, spaces and `. , ' ’ & @ _ + ( ) / -`,
 * starting with a letter or digit, not ending with a space.
 */
export const Customer = Schema.String.check(
  Schema.makeFilter(describeCustomer, {
    expected: "a customer name: 1..64 letters, digits, spaces and . , ' ’ & @ _ + ( ) / -, starting with a letter or digit",
    toJsonSchema: () => ({ minLength: 1, maxLength: 64, pattern: customerPattern.source })
  })
)

/** One line of an order: how many units of which catalog item. */
export const OrderLine = Schema.Struct({
  sku: CatalogSku,
  qty: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 99 }))
})
export type OrderLine = typeof OrderLine.Type

/**
 * An order as a customer submits it (the body of `POST /orders`). Multi-item orders are split
 * into one pick per line. Decoded strictly: a field the schema does not declare is an error
 * (`additionalProperties: false` in the OpenAPI document), see `strict`.
 */
export const Order = Schema.Struct({
  customer: Customer,
  lines: Schema.Array(OrderLine).check(Schema.isMinLength(1), Schema.isMaxLength(20))
})
export type Order = typeof Order.Type

/** How request bodies are decoded: every issue, and undeclared fields are issues. */
export const strict = { errors: "all", onExcessProperty: "error" } as const

/** An order line as stored in the request log (see `Sku`). */
export const StoredLine = Schema.Struct({
  sku: Sku,
  qty: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 99 }))
})

/** Who submitted an order: the HTTP API or the built-in load generator. */
export const Source = Schema.Literals(["api", "load"])
export type Source = typeof Source.Type

/**
 * The payload of an `order` task in the request log: the order as submitted plus where it came
 * from (so the dashboard can list the API's tickets apart, also after a restart).
 */
export const PlacedOrder = Schema.Struct({
  customer: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(64)),
  lines: Schema.Array(StoredLine).check(Schema.isMinLength(1), Schema.isMaxLength(20)),
  source: Source
})
export type PlacedOrder = typeof PlacedOrder.Type

/**
 * Where a ticket is in its life: the status of its `order` task in the pipeline
 * (`retrying` after a failed attempt, while the retry schedule allows another one; `waiting`
 * while the task waits for tasks it spawned).
 */
export const TicketStatus = Schema.Literals(["accepted", "dispatched", "running", "waiting", "retrying", "succeeded", "failed"])
export type TicketStatus = typeof TicketStatus.Type

/** What a customer holds: the ticket id and the current status of the order. */
export const Ticket = Schema.Struct({
  id: Schema.String,
  status: TicketStatus,
  customer: Schema.String,
  lines: Schema.Array(StoredLine),
  /** Milliseconds since the epoch. */
  acceptedAt: Schema.Number,
  updatedAt: Schema.Number,
  /** Who submitted it: the HTTP API or the built-in load generator. */
  source: Source,
  error: Schema.optional(Schema.String)
})
export type Ticket = typeof Ticket.Type

/** What was wrong with a request: which field (a JSON path such as `lines[0].sku`) and why. */
export interface Problem {
  readonly error: "InvalidBody"
  readonly field?: string
  readonly message: string
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

const identifier = /^[A-Za-z_$][\w$]*$/

/** A schema issue path as a JSON path: `lines[0].sku`, `["odd key"]`. */
export const fieldOf = (path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined): string => {
  let out = ""
  for (const segment of path ?? []) {
    const key = typeof segment === "object" && segment !== null ? segment.key : segment
    if (typeof key === "number") out += `[${key}]`
    else {
      const name = String(key)
      out += identifier.test(name) ? (out === "" ? name : `.${name}`) : `[${JSON.stringify(name.slice(0, 64))}]`
    }
  }
  return out
}

/** Describes a schema failure: the first bad field and every issue. */
export const describeIssue = (issue: SchemaIssue.Issue): { readonly field: string; readonly message: string } => {
  const issues = formatter(issue).issues
  const field = fieldOf(issues[0]?.path)
  const message = issues.map((i) => `${fieldOf(i.path) || "(body)"}: ${i.message}`).join("; ")
  return { field, message }
}

const decodeStrict = Schema.decodeUnknownResult(Order)

/** Decodes an order from JSON-parsed input (strictly); on failure answers a `Problem` naming the first bad field. */
export const decodeOrder = (input: unknown): Result.Result<Order, Problem> => {
  const result = decodeStrict(input, strict)
  if (Result.isSuccess(result)) return Result.succeed(result.success)
  const { field, message } = describeIssue(result.failure.issue)
  return Result.fail(field === "" ? { error: "InvalidBody", message } : { error: "InvalidBody", field, message })
}
