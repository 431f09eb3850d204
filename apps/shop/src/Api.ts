/**
 * The shop's HTTP API, declared once with `effect/http-api`: the server is built from this
 * declaration (`Http.ts`, `HttpApiBuilder`) and `GET /openapi.json` is generated from it, so
 * the two cannot drift. Every answer a route can give is declared here: the success bodies with
 * their headers (`Location` on 202, `Retry-After` on 429 and 503), the error bodies with their
 * statuses, the middlewares that add errors to the routes they guard (admission, validation,
 * writes) and the bearer scheme of the admin routes.
 *
 * What is public (see the README): the dashboard, `/openapi.json`, `/events` (aggregate
 * figures only: no customer, ticket or order line), `POST /orders` (not cross-origin) and
 * `GET /tickets/:id` (whoever holds a ticket id, which is unguessable, may read it). Everything
 * that shows other customers' data or changes the shop needs the admin token.
 */
import { Context, Schema } from "effect"
import {
  HttpApi,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  HttpApiSecurity,
  OpenApi
} from "effect/http-api"
import { Order, strict, Ticket } from "./Order.js"

// ---------------------------------------------------------------------------------------------
// Error bodies. Each is `{ error, message, ... }` with `error` naming the kind; the class is
// what handlers fail with, the annotation its status.
// ---------------------------------------------------------------------------------------------

/** `400`: the request names a bad field (`field` is a JSON path such as `lines[0].sku`, or a header or path parameter). */
export class InvalidRequest extends Schema.Error<InvalidRequest>("InvalidRequest")({
  error: Schema.Literals(["InvalidBody", "InvalidJson", "InvalidHeader", "InvalidPath"]),
  field: Schema.optional(Schema.String),
  message: Schema.String
}, { httpApiStatus: 400, description: "The request is invalid: `field` names what was wrong (a JSON path such as `lines[0].sku`, a header or a path parameter)." }) {}

const UnauthorizedBody = Schema.Struct({ error: Schema.Literal("Unauthorized"), message: Schema.String })

/** `401`: the admin token is missing or wrong, or admin routes are disabled (no token configured). */
export class Unauthorized extends Schema.Error<Unauthorized>("Unauthorized")({
  message: Schema.String
}) {}

/** The 401 answer: the body and `WWW-Authenticate: Bearer` (RFC 6750). */
export const UnauthorizedResponse = Unauthorized.pipe(
  HttpApiSchema.encodeToWithHeaders({
    body: UnauthorizedBody.pipe(HttpApiSchema.status(401)).annotate({ description: "Send `Authorization: Bearer <admin token>` (the token the shop was started with)." }),
    headers: { "www-authenticate": Schema.String }
  }, {
    decode: ({ body }) => new Unauthorized({ message: body.message }),
    encode: (e) => ({ body: { error: "Unauthorized" as const, message: e.message }, headers: { "www-authenticate": "Bearer" } })
  })
)

/** `403`: a write from another origin (a page on another site cannot place orders or change the shop). */
export class CrossOriginRefused extends Schema.Error<CrossOriginRefused>("CrossOriginRefused")({
  error: Schema.tag("CrossOriginRefused"),
  message: Schema.String
}, { httpApiStatus: 403, description: "A write sent by a page of another origin (`Origin` or `Sec-Fetch-Site` say so)." }) {}

/** `404`: no ticket with that id was ever accepted (or it is older than the tickets kept). */
export class TicketNotFound extends Schema.Error<TicketNotFound>("TicketNotFound")({
  error: Schema.tag("TicketNotFound"),
  field: Schema.tag("id"),
  message: Schema.String
}, { httpApiStatus: 404, description: "No such ticket." }) {}

/** `404` on any path the API does not have. */
export class NotFound extends Schema.Error<NotFound>("NotFound")({
  error: Schema.tag("NotFound"),
  message: Schema.String
}, { httpApiStatus: 404 }) {}

/** `405` on a path the API has, with a method it does not answer there (`Allow` lists those it does). */
export class MethodNotAllowed extends Schema.Error<MethodNotAllowed>("MethodNotAllowed")({
  error: Schema.tag("MethodNotAllowed"),
  message: Schema.String,
  allow: Schema.Array(Schema.String)
}, { httpApiStatus: 405 }) {}

/** `413`: the body is larger than `limit` bytes (checked on `Content-Length` before reading, and while reading). */
export class BodyTooLarge extends Schema.Error<BodyTooLarge>("BodyTooLarge")({
  error: Schema.tag("BodyTooLarge"),
  message: Schema.String,
  limit: Schema.Number
}, { httpApiStatus: 413, description: "The body exceeds the limit (16 KiB)." }) {}

/** `415`: the body is not `application/json` (UTF-8). */
export class UnsupportedMediaType extends Schema.Error<UnsupportedMediaType>("UnsupportedMediaType")({
  error: Schema.tag("UnsupportedMediaType"),
  message: Schema.String,
  expected: Schema.Literal("application/json")
}, { httpApiStatus: 415, description: "Send `Content-Type: application/json`." }) {}

/** `422`: the `Idempotency-Key` was already used by this customer for a different order. */
export class IdempotencyConflict extends Schema.Error<IdempotencyConflict>("IdempotencyConflict")({
  error: Schema.tag("IdempotencyConflict"),
  field: Schema.tag("Idempotency-Key"),
  message: Schema.String,
  ticket: Schema.String
}, { httpApiStatus: 422, description: "The Idempotency-Key was used for a different order; use a new key for a new order." }) {}

const OverloadedFields = {
  error: Schema.Literal("Overloaded"),
  reason: Schema.Literals(["backlog", "tenant-rate"]),
  message: Schema.String,
  retryAfterSeconds: Schema.Number,
  backlog: Schema.Number,
  highWater: Schema.Number
}

/**
 * `429`: the backlog is past its high-water mark (`reason: "backlog"`) or the customer is over
 * its rate limit (`reason: "tenant-rate"`); nothing was recorded. Retry after `Retry-After` seconds.
 */
export class Overloaded extends Schema.Error<Overloaded>("Overloaded")({
  ...OverloadedFields,
  error: Schema.tag("Overloaded")
}) {}

/** The 429 answer: the body and `Retry-After`. */
export const OverloadedResponse = Overloaded.pipe(
  HttpApiSchema.encodeToWithHeaders({
    body: Schema.Struct(OverloadedFields).pipe(HttpApiSchema.status(429)).annotate({
      description: "Refused by admission control: past the backlog's high-water mark or the customer's rate limit. Nothing was recorded."
    }),
    headers: { "retry-after": Schema.String }
  }, {
    decode: ({ body }) => new Overloaded(body),
    encode: (e) => ({
      body: { error: "Overloaded" as const, reason: e.reason, message: e.message, retryAfterSeconds: e.retryAfterSeconds, backlog: e.backlog, highWater: e.highWater },
      headers: { "retry-after": String(e.retryAfterSeconds) }
    })
  })
)

const UnavailableFields = {
  error: Schema.Literal("Unavailable"),
  reason: Schema.Literals(["deadline", "busy", "desk"]),
  message: Schema.String,
  retryAfterSeconds: Schema.Number
}

/**
 * `503`: the request's budget ran out before the desk could take it (`deadline`: it waited too
 * long before the shop got to it; `busy`: every admission slot stayed taken for its whole
 * budget), or the desk failed (`desk`). Nothing was recorded. Retry after `Retry-After` seconds.
 */
export class Unavailable extends Schema.Error<Unavailable>("Unavailable")({
  ...UnavailableFields,
  error: Schema.tag("Unavailable")
}) {}

/** The 503 answer: the body and `Retry-After`. */
export const UnavailableResponse = Unavailable.pipe(
  HttpApiSchema.encodeToWithHeaders({
    body: Schema.Struct(UnavailableFields).pipe(HttpApiSchema.status(503)).annotate({
      description: "The request's admission budget (2 s, or less with `Prefer: wait=N`) ran out before the desk could take it, or the desk failed. Nothing was recorded."
    }),
    headers: { "retry-after": Schema.String }
  }, {
    decode: ({ body }) => new Unavailable(body),
    encode: (e) => ({
      body: { error: "Unavailable" as const, reason: e.reason, message: e.message, retryAfterSeconds: e.retryAfterSeconds },
      headers: { "retry-after": String(e.retryAfterSeconds) }
    })
  })
)

// ---------------------------------------------------------------------------------------------
// Middlewares: each adds the errors it can answer to the routes it wraps.
// ---------------------------------------------------------------------------------------------

/** When the request must have been admitted by (a `performance.now()` time), set by `Admission`. */
export class Deadline extends Context.Service<Deadline, { readonly at: number; readonly budgetMs: number }>()("@mailroom/shop/Api/Deadline") {}

/**
 * Every route: a request whose admission budget is already spent when the shop gets to it
 * answers 503 (`Unavailable`, reason `deadline`); the others carry their `Deadline`.
 */
export class Admission extends HttpApiMiddleware.Service<Admission, { provides: Deadline }>()("@mailroom/shop/Api/Admission", {
  error: UnavailableResponse
}) {}

/** Routes with a body, headers or path parameters to decode: a decoding failure is a 400 naming the field. */
export class Validation extends HttpApiMiddleware.Service<Validation>()("@mailroom/shop/Api/Validation", {
  error: InvalidRequest
}) {}

/**
 * Writes (`POST`): refused from another origin (403), unless `application/json` (415), above
 * 16 KiB (413, before and while reading), or not JSON (400) — before anything is decoded.
 */
export class Writes extends HttpApiMiddleware.Service<Writes>()("@mailroom/shop/Api/Writes", {
  error: [CrossOriginRefused, BodyTooLarge, UnsupportedMediaType, InvalidRequest]
}) {}

/** The admin routes: `Authorization: Bearer <admin token>` (from MAILROOM_ADMIN_TOKEN or --admin-token). */
export class AdminAuth extends HttpApiMiddleware.Service<AdminAuth>()("@mailroom/shop/Api/AdminAuth", {
  security: { bearer: HttpApiSecurity.bearer.pipe(HttpApiSecurity.annotate(OpenApi.Description, "The admin token the shop was started with (MAILROOM_ADMIN_TOKEN).")) },
  error: UnauthorizedResponse
}) {}

// ---------------------------------------------------------------------------------------------
// Success bodies.
// ---------------------------------------------------------------------------------------------

const acceptedFields = {
  ticket: Ticket,
  /** Where to poll the ticket's status. */
  location: Schema.String
}

/** The answer to a new order (`202 Accepted`, `Location: /tickets/<id>`). */
export const Accepted = HttpApiSchema.WithHeaders(
  Schema.Struct({ ...acceptedFields, duplicate: Schema.Literal(false) }).pipe(HttpApiSchema.status(202)).annotate({
    description: "Accepted: recorded in the request log; poll the ticket at `Location`."
  }),
  { location: Schema.String }
)

/** The answer to a retried order with a known `Idempotency-Key` (`200`, the original ticket). */
export const Duplicate = HttpApiSchema.WithHeaders(
  Schema.Struct({ ...acceptedFields, duplicate: Schema.Literal(true) }).pipe(HttpApiSchema.status(200)).annotate({
    description: "The Idempotency-Key was seen before with the same order: this is the original ticket."
  }),
  { location: Schema.String }
)

/** Ticket ids as the pipeline writes them (random, base64url); anything else is a 400 naming `id`. */
export const TicketId = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9_.:-]{1,128}$/, { message: "a ticket id is 1..128 characters of A-Z, a-z, 0-9, _ . : -" })
)

/** One point of the dashboard's charts. */
const Sample = Schema.Struct({
  t: Schema.Number,
  arrivals: Schema.Number,
  completions: Schema.Number,
  throttled: Schema.Number,
  backlog: Schema.Number,
  oldestAgeMs: Schema.Number,
  workers: Schema.Number,
  busyWorkers: Schema.Number,
  pendingLines: Schema.Number,
  combined: Schema.Number,
  coalesced: Schema.Number,
  superseded: Schema.Number,
  jobs: Schema.Number,
  orders: Schema.Number,
  catalogQueries: Schema.Number,
  lookups: Schema.Number
})

const Totals = Schema.Struct({
  accepted: Schema.Number,
  completed: Schema.Number,
  throttled: Schema.Number,
  duplicates: Schema.Number,
  recovered: Schema.Number,
  highWater: Schema.Number,
  minWorkers: Schema.Number,
  maxWorkers: Schema.Number
})

const LoadView = Schema.Struct({ phase: Schema.String, rate: Schema.Number, running: Schema.Boolean })

/** The public snapshot (`/events`): figures only, nothing about any customer, ticket or order. */
const ClusterShare = Schema.Struct({
  runner: Schema.String,
  partitions: Schema.Array(Schema.Number),
  depth: Schema.Number,
  completions: Schema.Number,
  self: Schema.Boolean
})

export const PublicSnapshot = Schema.Struct({
  samples: Schema.Array(Sample),
  load: LoadView,
  totals: Totals,
  /** A clustered shop (`--cluster`): every process's share of the partitions and the work. */
  cluster: Schema.optional(Schema.Array(ClusterShare))
})

/** The full snapshot (`/admin/state`, `/admin/events`): the figures and the latest tickets with their customers. */
export const FullSnapshot = Schema.Struct({
  samples: Schema.Array(Sample),
  latest: Schema.Array(Ticket),
  api: Schema.Array(Ticket),
  load: LoadView,
  totals: Totals,
  cluster: Schema.optional(Schema.Array(ClusterShare))
})

const eventStream = (description: string) =>
  Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/event-stream" })).annotate({ description })

// ---------------------------------------------------------------------------------------------
// The routes.
// ---------------------------------------------------------------------------------------------

/** Placing orders and reading a ticket: public. */
export class FrontDesk extends HttpApiGroup.make("frontDesk")
  .add(
    HttpApiEndpoint.post("submitOrder", "/orders", {
      headers: {
        "idempotency-key": Schema.optional(Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(200, { message: "Idempotency-Key must be 1..200 characters" })))
      },
      payload: Order,
      success: [Accepted, Duplicate],
      error: [IdempotencyConflict, OverloadedResponse]
    }).middleware(Validation).middleware(Writes).annotate(
      OpenApi.Description,
      "Submit an order. Answers 202 at once with a ticket and a Location to poll. An order retried with the same Idempotency-Key answers 200 with the original ticket; the key reused for a different order 422. 429 + Retry-After past the backlog's high-water mark or when the customer is over its rate limit; 503 + Retry-After when the request's admission budget runs out before the desk can take it (`Prefer: wait=N` shortens it); 400 naming the invalid field; 413 above 16 KiB; 415 unless application/json; 403 from another origin."
    ),
    HttpApiEndpoint.get("getTicket", "/tickets/:id", {
      params: { id: TicketId },
      success: Ticket,
      error: TicketNotFound
    }).middleware(Validation).annotate(
      OpenApi.Description,
      "The ticket's current status (the status of the order's task in the pipeline): accepted, dispatched, running, retrying, succeeded or failed. Whoever holds the id (random, 128 bits) may read it."
    )
  )
{}

/** The dashboard, its live aggregate figures and this document: public. */
export class Public extends HttpApiGroup.make("public")
  .add(
    HttpApiEndpoint.get("dashboard", "/", {
      success: Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/html" }))
    }).annotate(OpenApi.Description, "The live dashboard (one page, no external resources)."),
    HttpApiEndpoint.get("openapi", "/openapi.json", {
      success: Schema.Unknown
    }).annotate(OpenApi.Description, "This document."),
    HttpApiEndpoint.get("events", "/events", {
      success: eventStream("Server-sent events: a JSON `PublicSnapshot` every half second (figures only).")
    }).annotate(
      OpenApi.Description,
      "Server-sent events: one JSON snapshot of the live figures every half second — rates, backlog, pool, merges and totals; no customer, ticket or order line (those are on /admin/events)."
    )
  )
{}

/** Other customers' data and the controls: the admin token. */
export class Admin extends HttpApiGroup.make("admin")
  .add(
    HttpApiEndpoint.get("latestTickets", "/tickets", {
      success: Schema.Array(Ticket)
    }).annotate(OpenApi.Description, "The 50 most recent tickets of every customer, newest first."),
    HttpApiEndpoint.get("metrics", "/metrics", {
      success: Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/plain" }))
    }).annotate(OpenApi.Description, "Prometheus text format: mailroom_shop_*, mailroom_tasks_*, mailroom_scheduler_*."),
    HttpApiEndpoint.get("adminState", "/admin/state", {
      success: FullSnapshot
    }).annotate(OpenApi.Description, "The full snapshot: figures, the latest tickets with their customers, load."),
    HttpApiEndpoint.get("adminEvents", "/admin/events", {
      success: eventStream("Server-sent events: a JSON `FullSnapshot` every half second.")
    }).annotate(OpenApi.Description, "Server-sent events with the full snapshot (what the dashboard shows once given the token)."),
    HttpApiEndpoint.post("adminLoad", "/admin/load", {
      payload: Schema.Struct({ rate: Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 100_000 })) }),
      success: Schema.Struct({ rate: Schema.Number })
    }).middleware(Validation).middleware(Writes).annotate(
      OpenApi.Description,
      "Changes the load generator's peak rate (orders/s, 0..100000; 0 pauses it)."
    )
  )
  .middleware(AdminAuth)
{}

const componentResponse = (schema: Schema.Top, description: string, headers?: Record<string, string>) => {
  const document = Schema.toJsonSchemaDocument(schema)
  return {
    description,
    ...(headers === undefined ? {} : {
      headers: Object.fromEntries(Object.entries(headers).map(([name, d]) => [name, { description: d, schema: { type: "string" } }]))
    }),
    content: { "application/json": { schema: { ...document.schema, ...(Object.keys(document.definitions).length > 0 ? { $defs: document.definitions } : {}) } } }
  }
}

/**
 * Answers on any path, not tied to an operation: declared once in `components.responses`,
 * from the same Schemas the server encodes them with.
 */
const anyPath = (spec: Record<string, any>) => ({
  ...spec,
  components: {
    ...spec["components"],
    responses: {
      ...spec["components"]?.["responses"],
      NotFound: componentResponse(NotFound, "Any path not listed here."),
      MethodNotAllowed: componentResponse(MethodNotAllowed, "A listed path with a method it does not answer; `Allow` lists those it does.", {
        allow: "The methods the path answers."
      })
    }
  }
})

/** The whole API. */
export class ShopApi extends HttpApi.make("mailroom-shop")
  .add(FrontDesk)
  .add(Public)
  .add(Admin)
  .middleware(Admission)
  .annotate(HttpApi.PayloadParseOptions, strict)
  .annotate(OpenApi.Transform, anyPath)
  .annotateMerge(OpenApi.annotations({
    title: "Mailroom shop",
    version: "0.1.0",
    description: "Record first, answer fast: orders are accepted with a ticket at once and processed by a bundling, autoscaling warehouse. " +
      "Any other method on a listed path answers 405 with `Allow` and a JSON body (`components.responses.MethodNotAllowed`); any other path 404 with a JSON body (`components.responses.NotFound`). " +
      "Every 4xx and 5xx answer is JSON: `{ error, message, ... }`."
  }))
{}

/** The OpenAPI document, generated from the declaration above. */
export const openApi = () => OpenApi.fromApi(ShopApi)

/** The methods each path answers (HEAD wherever GET is), for `405` and its `Allow`. */
export const methodsByPath = (): ReadonlyArray<{ readonly path: string; readonly pattern: RegExp; readonly methods: ReadonlyArray<string> }> => {
  const byPath = new Map<string, Set<string>>()
  for (const group of Object.values(ShopApi.groups)) {
    for (const endpoint of Object.values(group.endpoints)) {
      const methods = byPath.get(endpoint.path) ?? new Set<string>()
      methods.add(endpoint.method)
      if (endpoint.method === "GET") methods.add("HEAD")
      byPath.set(endpoint.path, methods)
    }
  }
  return [...byPath].map(([path, methods]) => ({
    path,
    pattern: new RegExp(`^${path.split("/").map((s) => s.startsWith(":") ? "[^/]+" : s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("/")}/?$`),
    methods: [...methods]
  }))
}
