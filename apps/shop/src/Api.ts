/**
 * The shop's HTTP API described with `effect/http-api` from the very Schemas the front desk
 * decodes with (`Order.ts`). The routes themselves are plain `HttpRouter` routes (`Http.ts`),
 * because the front desk needs control the declarative builder does not give directly (a
 * `Location` header on 202, `Retry-After` on 429, a body size limit before parsing); this
 * module exists so the OpenAPI document is generated, not hand-written.
 */
import { Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { Accepted, Order, OverloadedBody, Problem, Ticket } from "./Order.js"

const Unauthorized = Problem.pipe(HttpApiSchema.status(401))

/** The front desk endpoints. */
export class FrontDesk extends HttpApiGroup.make("frontDesk")
  .add(
    HttpApiEndpoint.post("submitOrder", "/orders", {
      headers: { "idempotency-key": Schema.optional(Schema.String) },
      payload: Order,
      success: Accepted.pipe(HttpApiSchema.status(202)),
      error: [Problem.pipe(HttpApiSchema.status(400)), OverloadedBody.pipe(HttpApiSchema.status(429))]
    }).annotate(OpenApi.Description, "Submit an order. Answers 202 at once with a ticket and a Location to poll; 429 with Retry-After past the backlog's high-water mark or when the customer is over its rate limit; 400 naming the invalid field; 413 above 16 KiB; 422 when an Idempotency-Key is reused for a different order."),
    HttpApiEndpoint.get("getTicket", "/tickets/:id", {
      params: { id: Schema.String },
      success: Ticket,
      error: Problem.pipe(HttpApiSchema.status(404))
    }).annotate(OpenApi.Description, "The ticket's current status (the status of the order's task in the pipeline): accepted, dispatched, running, retrying, succeeded or failed."),
    HttpApiEndpoint.get("latestTickets", "/tickets", {
      success: Schema.Array(Ticket)
    }).annotate(OpenApi.Description, "The most recent tickets, newest first.")
  )
{}

/** Live figures and the admin endpoints (bearer token from MAILROOM_ADMIN_TOKEN or --admin-token). */
export class Figures extends HttpApiGroup.make("figures")
  .add(
    HttpApiEndpoint.get("events", "/events", {
      success: Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/event-stream" }))
    }).annotate(OpenApi.Description, "Server-sent events: one JSON snapshot of the live figures every half second."),
    HttpApiEndpoint.get("metrics", "/metrics", {
      success: Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/plain" })),
      error: Unauthorized
    }).annotate(OpenApi.Description, "Prometheus text format. Requires `Authorization: Bearer <admin token>`."),
    HttpApiEndpoint.get("adminState", "/admin/state", {
      success: Schema.Unknown,
      error: Unauthorized
    }).annotate(OpenApi.Description, "The full snapshot (figures, tickets, load). Requires the admin token."),
    HttpApiEndpoint.post("adminLoad", "/admin/load", {
      payload: Schema.Struct({ rate: Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 100_000 })) }),
      success: Schema.Struct({ rate: Schema.Number }),
      error: [Problem.pipe(HttpApiSchema.status(400)), Unauthorized]
    }).annotate(OpenApi.Description, "Changes the load generator's peak rate (orders/s; 0 pauses it). Requires the admin token.")
  )
{}

/** The whole API. */
export class ShopApi extends HttpApi.make("mailroom-shop")
  .add(FrontDesk)
  .add(Figures)
  .annotateMerge(OpenApi.annotations({
    title: "Mailroom shop",
    description: "Record first, answer fast: orders are accepted with a ticket at once and processed by a bundling, autoscaling warehouse."
  }))
{}

/** The OpenAPI document, generated from the Schemas above. */
export const openApi = () => OpenApi.fromApi(ShopApi)
