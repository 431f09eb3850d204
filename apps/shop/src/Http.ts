/**
 * The HTTP front desk: the server built from the API declaration (`Api.ts`) with
 * `HttpApiBuilder`, so the routes and `GET /openapi.json` are the same thing.
 *
 * - `POST /orders` → `202` + ticket + `Location`; `200` with the original ticket for a known
 *   `Idempotency-Key`; `422` for the key reused with another order; `429` + `Retry-After` from
 *   admission control of `@mailroom/tasks`; `400` naming the field; `413` (16 KiB, checked
 *   before and while reading); `415` unless `application/json`; `403` from another origin;
 *   `503` + `Retry-After` when the request's admission budget runs out.
 * - `GET /tickets/:id` → the ticket (public: the id is the capability); `GET /events` →
 *   aggregate figures only; `GET /` → the dashboard; `GET /openapi.json`.
 * - Admin (bearer token, compared in constant time over SHA-256 digests): `GET /tickets`,
 *   `GET /metrics`, `GET /admin/state`, `GET /admin/events`, `POST /admin/load`. Without a
 *   configured token they always answer `401`.
 * - Any other method on a known path: `405` + `Allow`; any other path: `404`; both JSON.
 *
 * Overload. Node accepts connections as fast as its event loop lets it, and a request that
 * sat in a queue looks fresh to a handler: a client that gave up long ago still got its order
 * recorded. So (`nodeServer`, `FrontDeskLimits`):
 * - every request has an admission budget (2 s; a client may ask for less with `Prefer:
 *   wait=N`, RFC 7240, e.g. the time it will still wait) counted from when Node parsed its
 *   headers; a request that has spent it before the desk takes it answers `503` + `Retry-After`
 *   and is not recorded;
 * - at most `maxInFlight` (64) order submissions run at once; the others wait, in order, at
 *   the gate, for at most their remaining budget less the time recording an order takes lately
 *   (`503 busy` after that): the queue is where the deadline sees it, not inside the desk;
 * - a request whose client hung up while it waited is never submitted;
 * - at most `maxConnections` (1024) connections are open (Node closes the next ones at once),
 *   the listen backlog is Node's 511, and slow clients are cut by `headersTimeout` (10 s) and
 *   `requestTimeout` (30 s), so the kernel and the sockets cannot hold minutes of work.
 *
 * What the server cannot see: time a request spent before Node parsed it (in the client's own
 * queue, in a connect retry, in the kernel). `Prefer: wait=N` with the client's remaining time
 * covers the client's side.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer, Redacted, Schedule, Stream } from "effect"
import * as ByteSize from "effect/ByteSize"
import { HttpIncomingMessage, HttpRouter, HttpServerError, HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiBuilder, HttpApiMiddleware, HttpApiSchema } from "effect/http-api"
import { PrometheusMetrics } from "effect/observability"
import { createHash, timingSafeEqual } from "node:crypto"
import { createServer, type IncomingMessage } from "node:http"
import * as Api from "./Api.js"
import * as Dashboard from "./Dashboard.js"
import * as Desk from "./Desk.js"
import { Monitor } from "./Monitor.js"
import { describeIssue } from "./Order.js"

/** The admin token from configuration; `undefined` disables the admin endpoints (always 401). */
export class AdminToken extends Context.Service<AdminToken, Redacted.Redacted<string> | undefined>()("@mailroom/shop/AdminToken") {}

/** What the admin endpoints may change at run time. */
export class LoadControl extends Context.Service<LoadControl, {
  readonly peak: () => number
  readonly setPeak: (rate: number) => void
}>()("@mailroom/shop/LoadControl") {}

/** Largest accepted request body. */
export const maxBodyBytes = 16 * 1024

/** Admission limits of the front desk. */
export interface Limits {
  /** How long a request may wait, from when Node parsed its headers, before the desk takes it (ms). */
  readonly budgetMs: number
  /** Order submissions running at once; the next ones wait for a slot within their budget. */
  readonly maxInFlight: number
}

/**
 * The defaults: a 2 s budget, 64 submissions in flight. Few slots keep the time a request
 * spends inside the desk short (the desk's throughput does not grow with more of them: the
 * journal commits in groups either way), so requests wait at the gate, where the deadline
 * sees them, and not inside the desk, where it cannot.
 */
export const defaultLimits: Limits = { budgetMs: 2000, maxInFlight: 64 }

/** The admission limits in force (`defaultLimits` unless provided). */
export const FrontDeskLimits = Context.Reference<Limits>("@mailroom/shop/Http/FrontDeskLimits", { defaultValue: () => defaultLimits })

// ---------------------------------------------------------------------------------------------
// The Node server: arrival times, bounded connections, timeouts.
// ---------------------------------------------------------------------------------------------

/** How the Node server is set up (see the module comment). */
export interface ServerOptions {
  readonly port: number
  readonly host: string
  /** Open connections at most; Node closes the next ones at once (default 1024). */
  readonly maxConnections: number
  /**
   * The listen backlog: connections the kernel holds before Node accepts them (default 511,
   * Node's: each holds one request, so about a second of work at the shop's rate; shorter
   * makes the kernel drop connection attempts in bursts, and clients retry them 1 s, 3 s, … later).
   */
  readonly backlog: number
  /** Time to receive the request headers (default 10 s). */
  readonly headersTimeoutMs: number
  /** Time to receive the whole request (default 30 s). */
  readonly requestTimeoutMs: number
}

const serverDefaults = { maxConnections: 1024, backlog: 511, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 }

// When Node parsed each request's headers (`performance.now()`, monotonic).
const arrivals = new WeakMap<object, number>()

/** The `HttpServer` on Node with the overload settings above (and Node's HTTP services). */
export const nodeServer = (options: Pick<ServerOptions, "port" | "host"> & Partial<ServerOptions>) => {
  const o = { ...serverDefaults, ...options }
  return NodeHttpServer.layer(() => {
    const server = createServer({
      headersTimeout: o.headersTimeoutMs,
      requestTimeout: o.requestTimeoutMs,
      connectionsCheckingInterval: 1000
    })
    server.maxConnections = o.maxConnections
    // Registered before the server's own handler, so it runs first for every request.
    server.on("request", (request: IncomingMessage) => void arrivals.set(request, performance.now()))
    return server
  }, { port: o.port, host: o.host, backlog: o.backlog, gracefulShutdownTimeout: "1 second" })
}

/** Whether the client closed its side of the connection (it will not read an answer). */
const clientGone = (request: HttpServerRequest.HttpServerRequest): boolean => {
  const socket = (request.source as Partial<IncomingMessage> | undefined)?.socket
  return socket !== undefined && socket !== null && (socket.destroyed || socket.readableEnded)
}

const arrivalOf = (request: HttpServerRequest.HttpServerRequest): number => {
  const source = request.source
  return (typeof source === "object" && source !== null ? arrivals.get(source) : undefined) ?? performance.now()
}

/** `Prefer: wait=N` (RFC 7240): the seconds a client will wait; malformed preferences are ignored. */
export const preferredWaitMs = (prefer: string | undefined): number | undefined => {
  if (prefer === undefined) return undefined
  for (const token of prefer.split(",")) {
    const m = /^\s*wait\s*=\s*"?(\d{1,6}(?:\.\d{1,3})?)"?\s*(?:;.*)?$/i.exec(token)
    if (m !== null) return Number(m[1]) * 1000
  }
  return undefined
}

/**
 * A FIFO gate of `limit` slots. `enter(waitMs)` answers `true` with a slot (the caller must
 * `leave`), or `false` when none freed up within `waitMs`. A waiter that is interrupted (its
 * client hung up) leaves the queue and never gets a slot.
 */
export const makeGate = (limit: number) => {
  let active = 0
  const queue: Array<{ grant: () => void; timer: ReturnType<typeof setTimeout> | undefined }> = []
  const remove = (w: (typeof queue)[number]) => {
    const i = queue.indexOf(w)
    if (i >= 0) queue.splice(i, 1)
    if (w.timer !== undefined) clearTimeout(w.timer)
  }
  const enter = (waitMs: number): Effect.Effect<boolean> =>
    Effect.callback<boolean>((resume) => {
      if (active < limit && queue.length === 0) {
        active++
        return resume(Effect.succeed(true))
      }
      if (waitMs <= 0) return resume(Effect.succeed(false))
      const waiter: (typeof queue)[number] = {
        grant: () => resume(Effect.succeed(true)),
        timer: undefined
      }
      waiter.timer = setTimeout(() => {
        remove(waiter)
        resume(Effect.succeed(false))
      }, waitMs)
      queue.push(waiter)
      return Effect.sync(() => remove(waiter))
    })
  const leave = Effect.sync(() => {
    const next = queue.shift()
    if (next === undefined) active--
    else {
      // the slot passes straight to the next waiter (`active` unchanged)
      if (next.timer !== undefined) clearTimeout(next.timer)
      next.grant()
    }
  })
  return {
    enter,
    leave,
    active: () => active,
    waiting: () => queue.length
  }
}

// ---------------------------------------------------------------------------------------------
// Middlewares.
// ---------------------------------------------------------------------------------------------

const unavailable = (reason: "deadline" | "busy" | "desk", message: string) =>
  new Api.Unavailable({ reason, message, retryAfterSeconds: 1 })

const late = (budgetMs: number) =>
  unavailable("deadline", `the request used up its admission budget of ${budgetMs} ms before the desk could take it; nothing was recorded`)

const AdmissionLive = Layer.effect(
  Api.Admission,
  Effect.gen(function*() {
    const limits = yield* FrontDeskLimits
    return Api.Admission.of((httpEffect) =>
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const budgetMs = Math.min(limits.budgetMs, preferredWaitMs(request.headers["prefer"]) ?? Infinity)
        const at = arrivalOf(request) + budgetMs
        if (performance.now() > at) return yield* late(budgetMs)
        return yield* Effect.provideService(httpEffect, Api.Deadline, { at, budgetMs })
      })
    )
  })
)

const canonicalHeader: Record<string, string> = { "idempotency-key": "Idempotency-Key", prefer: "Prefer" }

const ValidationLive = HttpApiMiddleware.layerSchemaErrorTransform(Api.Validation, (error) => {
  if (error.kind === "Body" || error.kind === "ResponseHeaders") return Effect.fail(error)
  const { field, message } = describeIssue(error.cause.issue)
  switch (error.kind) {
    case "Params":
      return Effect.fail(new Api.InvalidRequest({ error: "InvalidPath", field, message }))
    case "Headers":
    case "Query": {
      const name = field.replace(/^\["?|"?\]$/g, "")
      return Effect.fail(new Api.InvalidRequest({ error: "InvalidHeader", field: canonicalHeader[name] ?? name, message }))
    }
    case "Payload":
      return Effect.fail(field === "" ? new Api.InvalidRequest({ error: "InvalidBody", message }) : new Api.InvalidRequest({ error: "InvalidBody", field, message }))
  }
})

const sameOrigin = (origin: string, host: string | undefined): boolean => {
  if (host === undefined) return false
  try {
    const url = new URL(origin)
    return (url.protocol === "http:" || url.protocol === "https:") && url.host === host.toLowerCase()
  } catch {
    return false
  }
}

const isJsonUtf8 = (contentType: string | undefined): boolean => {
  if (contentType === undefined) return false
  const [type, ...params] = contentType.split(";")
  if (type!.trim().toLowerCase() !== "application/json") return false
  return params.every((p) => {
    const [name, value] = p.split("=")
    return name!.trim().toLowerCase() !== "charset" || /^"?utf-8"?$/i.test((value ?? "").trim())
  })
}

const WritesLive = Layer.succeed(
  Api.Writes,
  Api.Writes.of((httpEffect) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const site = request.headers["sec-fetch-site"]
      if (site !== undefined && site !== "same-origin" && site !== "none") {
        return yield* new Api.CrossOriginRefused({ message: `writes from another site are refused (Sec-Fetch-Site: ${site})` })
      }
      const origin = request.headers["origin"]
      if (origin !== undefined && !sameOrigin(origin, request.headers["host"])) {
        return yield* new Api.CrossOriginRefused({ message: `writes from another origin are refused (Origin: ${origin.slice(0, 200)})` })
      }
      const contentType = request.headers["content-type"]
      if (!isJsonUtf8(contentType)) {
        return yield* new Api.UnsupportedMediaType({
          expected: "application/json",
          message: `the body must be application/json (UTF-8); got ${contentType === undefined ? "no Content-Type" : `Content-Type: ${contentType.slice(0, 200)}`}`
        })
      }
      const declared = Number(request.headers["content-length"] ?? "0")
      if (declared > maxBodyBytes) {
        return yield* new Api.BodyTooLarge({ limit: maxBodyBytes, message: `the request body is ${declared} bytes; the limit is ${maxBodyBytes}` })
      }
      // Read once with the limit: the text is cached on the request, and the payload decoder
      // reads it from there.
      const text = yield* request.text.pipe(
        Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(maxBodyBytes)),
        Effect.result
      )
      if (text._tag === "Failure") {
        const reason = text.failure.reason
        if (reason._tag === "RequestParseError" && reason.reason === "BodyTooLarge") {
          return yield* new Api.BodyTooLarge({ limit: maxBodyBytes, message: `the request body exceeds the limit of ${maxBodyBytes} bytes` })
        }
        return yield* new Api.InvalidRequest({ error: "InvalidBody", message: "the request body could not be read" })
      }
      try {
        JSON.parse(text.success)
      } catch (e) {
        return yield* new Api.InvalidRequest({ error: "InvalidJson", message: `the body is not JSON: ${e instanceof Error ? e.message : String(e)}` })
      }
      return yield* httpEffect
    })
  )
)

const digest = (secret: string) => createHash("sha256").update(secret, "utf8").digest()

/** Compares a given token with the configured one in time independent of both (fixed-length digests). */
export const sameToken = (given: string, expected: string): boolean => timingSafeEqual(digest(given), digest(expected))

const AdminAuthLive = Layer.effect(
  Api.AdminAuth,
  Effect.gen(function*() {
    const token = yield* AdminToken
    const expected = token === undefined ? undefined : digest(Redacted.value(token))
    const refused = new Api.Unauthorized({
      message: expected === undefined
        ? "admin endpoints are disabled: start the shop with MAILROOM_ADMIN_TOKEN set"
        : "send Authorization: Bearer <admin token>"
    })
    return Api.AdminAuth.of({
      bearer: (httpEffect, { credential }) =>
        expected !== undefined && timingSafeEqual(digest(Redacted.value(credential)), expected) ? httpEffect : Effect.fail(refused)
    })
  })
)

// ---------------------------------------------------------------------------------------------
// Handlers.
// ---------------------------------------------------------------------------------------------

const sse = <A>(snapshot: () => A) =>
  HttpServerResponse.stream(
    Stream.fromEffectSchedule(Effect.sync(() => `data: ${JSON.stringify(snapshot())}\n\n`), Schedule.spaced("500 millis")).pipe(Stream.encodeText),
    { contentType: "text/event-stream", headers: { "cache-control": "no-cache" } }
  )

// The desk's refusals as HTTP answers.
const answer = (e: Desk.Overloaded | Desk.IdempotencyConflict | Desk.DeskError | Api.Unavailable) => {
  if (e instanceof Api.Unavailable) return e
  switch (e._tag) {
    case "Overloaded":
      return new Api.Overloaded({ reason: e.reason, message: e.message, retryAfterSeconds: e.retryAfterSeconds, backlog: e.backlog, highWater: e.highWater })
    case "IdempotencyConflict":
      return new Api.IdempotencyConflict({ message: e.message, ticket: e.ticket })
    case "DeskError":
      return unavailable("desk", e.message)
  }
}

const FrontDeskLive = HttpApiBuilder.group(Api.ShopApi, "frontDesk", (handlers) =>
  Effect.gen(function*() {
    const desk = yield* Desk.Desk
    const limits = yield* FrontDeskLimits
    const gate = makeGate(limits.maxInFlight)
    // How long recording an order takes lately (ms, moving average): a request admitted with
    // less budget left than that would most likely be answered after its client gave up.
    let recordingMs = 0
    const timed = <A, E, R>(use: Effect.Effect<A, E, R>) =>
      Effect.suspend(() => {
        const started = performance.now()
        return Effect.ensuring(use, Effect.sync(() => void (recordingMs += 0.1 * (performance.now() - started - recordingMs))))
      })
    // Holds a slot of the gate while `use` runs; waits for one at most until the deadline.
    const admitted = <A, E, R>(
      deadline: Api.Deadline["Service"],
      request: HttpServerRequest.HttpServerRequest,
      use: Effect.Effect<A, E, R>
    ): Effect.Effect<A, E | Api.Unavailable, R> =>
      Effect.uninterruptibleMask((restore) => {
        // the body and its decoding may have used the rest of the budget
        const remaining = deadline.at - performance.now()
        if (remaining <= 0) return Effect.fail(late(deadline.budgetMs))
        // a free slot is taken at once; waiting for one is bounded by the budget left after
        // recording (a desk slower than every budget still gets requests, and its average moves)
        return Effect.flatMap(
          restore(gate.enter(remaining - recordingMs)),
          (entered): Effect.Effect<A, E | Api.Unavailable, R> => {
            if (!entered) {
              return Effect.fail(unavailable(
                "busy",
                `the front desk stayed full (${limits.maxInFlight} orders being recorded) for the request's whole admission budget of ${deadline.budgetMs} ms; nothing was recorded`
              ))
            }
            // Nobody would read the answer: the client hung up while the request waited.
            if (clientGone(request)) return Effect.andThen(gate.leave, Effect.interrupt)
            return Effect.ensuring(restore(timed(use)), gate.leave)
          }
        )
      })
    return handlers
      .handle("submitOrder", ({ headers, payload, request }) =>
        Effect.gen(function*() {
          const deadline = yield* Api.Deadline
          const { duplicate, ticket } = yield* admitted(deadline, request, desk.submit(payload, { idempotencyKey: headers["idempotency-key"], source: "api" })).pipe(
            Effect.mapError(answer)
          )
          const location = `/tickets/${ticket.id}`
          return duplicate
            ? HttpApiSchema.withHeaders({ body: { ticket, location, duplicate: true as const }, headers: { location } })
            : HttpApiSchema.withHeaders({ body: { ticket, location, duplicate: false as const }, headers: { location } })
        }))
      .handle("getTicket", ({ params }) =>
        desk.status(params.id).pipe(
          Effect.mapError((e) => unavailable("desk", e.message)),
          Effect.flatMap((ticket) =>
            ticket === undefined
              ? Effect.fail(new Api.TicketNotFound({ message: `no ticket ${JSON.stringify(params.id)} was ever accepted (or it is older than the tickets kept)` }))
              : Effect.succeed(ticket)
          )
        ))
  }))

const PublicLive = HttpApiBuilder.group(Api.ShopApi, "public", (handlers) =>
  Effect.gen(function*() {
    const monitor = yield* Monitor
    const document = HttpServerResponse.jsonUnsafe(Api.openApi())
    const page = HttpServerResponse.text(Dashboard.html, { contentType: "text/html; charset=utf-8" })
    return handlers
      .handle("dashboard", () => Effect.succeed(page))
      .handle("openapi", () => Effect.succeed(document))
      .handle("events", () => Effect.sync(() => sse(monitor.publicSnapshot)))
  }))

const AdminLive = HttpApiBuilder.group(Api.ShopApi, "admin", (handlers) =>
  Effect.gen(function*() {
    const desk = yield* Desk.Desk
    const monitor = yield* Monitor
    const load = yield* LoadControl
    return handlers
      .handle("latestTickets", () => Effect.sync(() => desk.latest(50)))
      .handle("metrics", () =>
        Effect.map(PrometheusMetrics.format(), (text) => HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4" })))
      .handle("adminState", () => Effect.sync(() => monitor.snapshot()))
      .handle("adminEvents", () => Effect.sync(() => sse(monitor.snapshot)))
      .handle("adminLoad", ({ payload }) =>
        Effect.sync(() => {
          load.setPeak(payload.rate)
          return { rate: payload.rate }
        }))
  }))

// ---------------------------------------------------------------------------------------------
// 404 and 405 on paths the router does not have.
// ---------------------------------------------------------------------------------------------

const known = Api.methodsByPath()

const json = (status: number, body: unknown, headers?: Record<string, string>) =>
  HttpServerResponse.jsonUnsafe(body, headers === undefined ? { status } : { status, headers })

const notRouted = (request: HttpServerRequest.HttpServerRequest) => {
  const path = request.url.split("?")[0] ?? "/"
  const route = known.find((r) => r.pattern.test(path))
  if (route === undefined) {
    return json(404, { error: "NotFound", message: `no such path: ${JSON.stringify(path.slice(0, 200))} (see /openapi.json)` })
  }
  const allow = route.methods.join(", ")
  return json(
    405,
    { error: "MethodNotAllowed", message: `${request.method} is not answered on ${route.path}; it answers ${allow}`, allow: route.methods },
    { allow }
  )
}

const Fallback = HttpRouter.middleware<{ handles: HttpServerError.HttpServerError }>()(
  (httpEffect) =>
    Effect.catch(httpEffect, (e) =>
      HttpServerError.isHttpServerError(e) && e.reason._tag === "RouteNotFound"
        ? Effect.succeed(notRouted(e.reason.request))
        : Effect.fail(e)),
  { global: true }
)

/** All the routes (for `HttpRouter.serve`); needs `Desk`, `Monitor`, `AdminToken`, `LoadControl`. */
export const routes = Layer.mergeAll(
  HttpApiBuilder.layer(Api.ShopApi).pipe(
    Layer.provide([FrontDeskLive, PublicLive, AdminLive]),
    Layer.provide([AdmissionLive, ValidationLive, WritesLive, AdminAuthLive])
  ),
  Fallback
)

/** The routes as a layer over the given services (for `HttpRouter.serve`). */
export const layer = routes

/** Convenience: the admin token layer. */
export const adminTokenLayer = (token: string | undefined) =>
  Layer.succeed(AdminToken, token === undefined || token === "" ? undefined : Redacted.make(token))
