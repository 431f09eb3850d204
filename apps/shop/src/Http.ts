/**
 * The HTTP front desk, on `effect/http` served by `@effect/platform-node`.
 *
 * - `POST /orders` → `202 Accepted` with the ticket and a `Location: /tickets/<id>` to poll;
 *   `Idempotency-Key` returns the original ticket for a retried request; `429` with
 *   `Retry-After` past the backlog's high-water mark or when the customer is over its rate
 *   limit (admission control of `@mailroom/tasks`); bodies are size-limited (16 KiB, `413`)
 *   and decoded with the `Order` Schema (`400` naming the field).
 * - `GET /tickets/:id`, `GET /tickets` → status.
 * - `GET /openapi.json` → generated from the same Schemas (`Api.ts`).
 * - `GET /events` → server-sent events with the live snapshot; `GET /` → the dashboard.
 * - `GET /metrics` (Prometheus text via `effect/observability/PrometheusMetrics`),
 *   `GET /admin/state`, `POST /admin/load` need `Authorization: Bearer <token>`, the token
 *   coming from configuration (`MAILROOM_ADMIN_TOKEN` or `--admin-token`); without a
 *   configured token they always answer `401`.
 */
import { Context, Effect, Layer, Redacted, Schedule, Stream } from "effect"
import { HttpIncomingMessage, HttpRouter, HttpServerResponse } from "effect/http"
import type { HttpServerRequest } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import { timingSafeEqual } from "node:crypto"
import { openApi } from "./Api.js"
import * as Dashboard from "./Dashboard.js"
import { Desk } from "./Desk.js"
import { Monitor } from "./Monitor.js"
import { decodeOrder } from "./Order.js"

/** The admin token from configuration; `undefined` disables the admin endpoints (always 401). */
export class AdminToken extends Context.Service<AdminToken, Redacted.Redacted<string> | undefined>()("@mailroom/shop/AdminToken") {}

/** What the admin endpoints may change at run time. */
export class LoadControl extends Context.Service<LoadControl, {
  readonly peak: () => number
  readonly setPeak: (rate: number) => void
}>()("@mailroom/shop/LoadControl") {}

/** Largest accepted request body. */
export const maxBodyBytes = 16 * 1024

const json = (status: number, body: unknown, headers?: Record<string, string>) =>
  HttpServerResponse.jsonUnsafe(body, headers === undefined ? { status } : { status, headers })

const problem = (status: number, error: string, message: string, field?: string) =>
  json(status, field === undefined ? { error, message } : { error, field, message })

const readJson = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function*() {
    const declared = Number(request.headers["content-length"] ?? "0")
    if (declared > maxBodyBytes) {
      return { _tag: "Problem" as const, response: problem(413, "BodyTooLarge", `request body is ${declared} bytes; the limit is ${maxBodyBytes}`) }
    }
    const text = yield* request.text.pipe(
      Effect.provideService(HttpIncomingMessage.MaxBodySize, maxBodyBytes as any),
      Effect.result
    )
    if (text._tag === "Failure") {
      const tooLarge = text.failure.reason._tag === "RequestParseError" && text.failure.reason.reason === "BodyTooLarge"
      return {
        _tag: "Problem" as const,
        response: tooLarge
          ? problem(413, "BodyTooLarge", `request body exceeds the limit of ${maxBodyBytes} bytes`)
          : problem(400, "UnreadableBody", "the request body could not be read")
      }
    }
    try {
      return { _tag: "Json" as const, value: JSON.parse(text.success) as unknown }
    } catch (e) {
      return { _tag: "Problem" as const, response: problem(400, "InvalidJson", `the body is not JSON: ${e instanceof Error ? e.message : String(e)}`) }
    }
  })

const bearer = (request: HttpServerRequest.HttpServerRequest): string | undefined => {
  const h = request.headers["authorization"]
  return h !== undefined && h.startsWith("Bearer ") ? h.slice(7) : undefined
}

const sameSecret = (a: string, b: string) => {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** All the routes; needs `Desk`, `Monitor`, `AdminToken`, `LoadControl`. */
export const routes = HttpRouter.use((router) =>
  Effect.gen(function*() {
    const desk = yield* Desk
    const monitor = yield* Monitor
    const token = yield* AdminToken
    const load = yield* LoadControl

    const authorized = (request: HttpServerRequest.HttpServerRequest) => {
      const given = bearer(request)
      return token !== undefined && given !== undefined && sameSecret(given, Redacted.value(token))
    }
    const unauthorized = problem(
      401,
      "Unauthorized",
      token === undefined
        ? "admin endpoints are disabled: start the shop with MAILROOM_ADMIN_TOKEN or --admin-token"
        : "send Authorization: Bearer <admin token>"
    )
    const admin = (
      handler: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<HttpServerResponse.HttpServerResponse>
    ) =>
    (request: HttpServerRequest.HttpServerRequest) => authorized(request) ? handler(request) : Effect.succeed(unauthorized)

    yield* router.add("GET", "/", HttpServerResponse.text(Dashboard.html, { contentType: "text/html; charset=utf-8" }))
    yield* router.add("GET", "/openapi.json", Effect.sync(() => json(200, openApi())))

    yield* router.add("POST", "/orders", (request) =>
      Effect.gen(function*() {
        const body = yield* readJson(request)
        if (body._tag === "Problem") return body.response
        const order = decodeOrder(body.value)
        if (order._tag === "Failure") return json(400, order.failure)
        const key = request.headers["idempotency-key"]
        if (key !== undefined && (key.length === 0 || key.length > 200)) {
          return problem(400, "InvalidHeader", "Idempotency-Key must be 1..200 characters", "Idempotency-Key")
        }
        return yield* desk.submit(order.success, { idempotencyKey: key, source: "api" }).pipe(
          Effect.match({
            onSuccess: ({ duplicate, ticket }) => {
              const location = `/tickets/${ticket.id}`
              return json(duplicate ? 200 : 202, { ticket, location, duplicate }, { location })
            },
            onFailure: (e) => {
              switch (e._tag) {
                case "Overloaded":
                  return json(429, {
                    error: "Overloaded",
                    reason: e.reason,
                    message: e.message,
                    retryAfterSeconds: e.retryAfterSeconds,
                    backlog: e.backlog,
                    highWater: e.highWater
                  }, { "retry-after": String(e.retryAfterSeconds) })
                case "IdempotencyConflict":
                  return problem(422, "IdempotencyConflict", e.message, "Idempotency-Key")
                case "DeskError":
                  return problem(503, "DeskError", e.message)
              }
            }
          })
        )
      }))

    yield* router.add("GET", "/tickets/:id", Effect.gen(function*() {
      const id = (yield* HttpRouter.params)["id"] ?? ""
      const ticket = yield* desk.status(id).pipe(Effect.result)
      if (ticket._tag === "Failure") return problem(503, "DeskError", ticket.failure.message)
      return ticket.success === undefined
        ? problem(404, "TicketNotFound", `no ticket ${JSON.stringify(id)} was ever accepted`, "id")
        : json(200, ticket.success)
    }))
    yield* router.add("GET", "/tickets", Effect.sync(() => json(200, desk.latest(50))))

    yield* router.add("GET", "/events", Effect.sync(() =>
      HttpServerResponse.stream(
        Stream.fromEffectSchedule(Effect.sync(() => `data: ${JSON.stringify(monitor.snapshot())}\n\n`), Schedule.spaced("500 millis")).pipe(
          Stream.encodeText
        ),
        { contentType: "text/event-stream", headers: { "cache-control": "no-cache", connection: "keep-alive" } }
      )))

    yield* router.add("GET", "/metrics", admin(() =>
      Effect.map(PrometheusMetrics.format(), (text) => HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4" }))))
    yield* router.add("GET", "/admin/state", admin(() => Effect.sync(() => json(200, monitor.snapshot()))))
    yield* router.add("POST", "/admin/load", admin((request) =>
      Effect.gen(function*() {
        const body = yield* readJson(request)
        if (body._tag === "Problem") return body.response
        const rate = (body.value as { rate?: unknown } | null)?.rate
        if (typeof rate !== "number" || !Number.isFinite(rate) || rate < 0 || rate > 100_000) {
          return problem(400, "InvalidBody", `rate must be a number of orders/s in 0..100000, got ${JSON.stringify(rate)}`, "rate")
        }
        load.setPeak(rate)
        return json(200, { rate })
      })))
  })
)

/** The routes as a layer over the given services (for `HttpRouter.serve`). */
export const layer = routes

/** Convenience: the admin token layer. */
export const adminTokenLayer = (token: string | undefined) =>
  Layer.succeed(AdminToken, token === undefined || token === "" ? undefined : Redacted.make(token))
