import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest, HttpServer } from "effect/http"
import * as Shop from "../src/Shop.js"

const config = (overrides: Partial<Shop.Config> = {}): Shop.Config => ({
  dataDir: undefined,
  rate: 0,
  period: 30,
  desk: { highWater: 1000, minWorkers: 1, maxWorkers: 2, timing: { setupMs: 5, perUnitMs: 0.5 } },
  adminToken: "s3cret",
  port: 0,
  sampleMs: 100,
  ...overrides
})

/** Runs `f` against a shop served on 127.0.0.1 at an ephemeral port, with the base URL. */
const withShop = <A, E>(cfg: Shop.Config, f: (base: string) => Effect.Effect<A, E, HttpClient.HttpClient>) =>
  Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const address = server.address
    assert.strictEqual(address._tag, "InetAddressV4")
    const base = address._tag === "InetAddressV4" ? `http://127.0.0.1:${address.port}` : ""
    return yield* f(base)
  }).pipe(Effect.provide(Layer.merge(Shop.serve(cfg), FetchHttpClient.layer)))

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  HttpClient.execute(HttpClientRequest.post(url).pipe(HttpClientRequest.bodyJsonUnsafe(body), HttpClientRequest.setHeaders(headers)))

const order = { customer: "ada", lines: [{ sku: "tea", qty: 2 }, { sku: "mug", qty: 1 }] }

describe("HTTP front desk", () => {
  it.live("POST /orders answers 202 with the ticket and a Location that reaches succeeded", () =>
    withShop(config(), (base) =>
      Effect.gen(function*() {
        const res = yield* post(`${base}/orders`, order)
        assert.strictEqual(res.status, 202)
        const body = (yield* res.json) as any
        assert.strictEqual(body.ticket.status, "accepted")
        const location = res.headers["location"]
        assert.strictEqual(location, `/tickets/${body.ticket.id}`)
        let status = ""
        for (let i = 0; i < 100 && status !== "succeeded"; i++) {
          const t = yield* HttpClient.get(`${base}${location}`)
          assert.strictEqual(t.status, 200)
          status = ((yield* t.json) as any).status
          if (status !== "succeeded") yield* Effect.sleep(20)
        }
        assert.strictEqual(status, "succeeded")
        const missing = yield* HttpClient.get(`${base}/tickets/t-nope`)
        assert.strictEqual(missing.status, 404)
      })))

  it.live("Idempotency-Key: the retry gets the original ticket; another order with the key gets 422", () =>
    withShop(config(), (base) =>
      Effect.gen(function*() {
        const a = yield* post(`${base}/orders`, order, { "idempotency-key": "abc" })
        const b = yield* post(`${base}/orders`, order, { "idempotency-key": "abc" })
        assert.strictEqual(a.status, 202)
        assert.strictEqual(b.status, 200)
        const [ja, jb] = [(yield* a.json) as any, (yield* b.json) as any]
        assert.strictEqual(jb.ticket.id, ja.ticket.id)
        assert.isTrue(jb.duplicate)
        const c = yield* post(`${base}/orders`, { ...order, customer: "eve" }, { "idempotency-key": "abc" })
        assert.strictEqual(c.status, 422)
        assert.strictEqual(((yield* c.json) as any).field, "Idempotency-Key")
      })))

  it.live("bad bodies get 400 naming the field, oversized ones 413, and nothing is accepted", () =>
    withShop(config(), (base) =>
      Effect.gen(function*() {
        const wrongType = yield* post(`${base}/orders`, { customer: "ada", lines: [{ sku: "tea", qty: "2" }] })
        assert.strictEqual(wrongType.status, 400)
        assert.strictEqual(((yield* wrongType.json) as any).field, "lines.0.qty")
        const missing = yield* post(`${base}/orders`, { lines: [{ sku: "tea", qty: 1 }] })
        assert.strictEqual(((yield* missing.json) as any).field, "customer")
        const badSku = yield* post(`${base}/orders`, { customer: "x", lines: [{ sku: "Not A Sku!", qty: 1 }] })
        assert.strictEqual(((yield* badSku.json) as any).field, "lines.0.sku")
        const notJson = yield* HttpClient.execute(HttpClientRequest.post(`${base}/orders`).pipe(HttpClientRequest.bodyText("{nope", "application/json")))
        assert.strictEqual(notJson.status, 400)
        const huge = yield* post(`${base}/orders`, { customer: "x".repeat(20_000), lines: [] })
        assert.strictEqual(huge.status, 413)
        const tickets = (yield* (yield* HttpClient.get(`${base}/tickets`)).json) as Array<unknown>
        assert.strictEqual(tickets.length, 0)
      })))

  it.live("past the high-water mark POST /orders answers 429 with Retry-After", () =>
    withShop(config({ desk: { highWater: 2, minWorkers: 1, maxWorkers: 1, timing: { setupMs: 5000, perUnitMs: 0 } } }), (base) =>
      Effect.gen(function*() {
        assert.strictEqual((yield* post(`${base}/orders`, order)).status, 202)
        assert.strictEqual((yield* post(`${base}/orders`, order)).status, 202)
        const refused = yield* post(`${base}/orders`, order)
        assert.strictEqual(refused.status, 429)
        const retryAfter = Number(refused.headers["retry-after"])
        assert.isAtLeast(retryAfter, 1)
        const body = (yield* refused.json) as any
        assert.strictEqual(body.error, "Overloaded")
        assert.strictEqual(body.reason, "backlog")
        assert.strictEqual(body.retryAfterSeconds, retryAfter)
      })))

  it.live("a customer over its rate limit gets 429 with Retry-After; another customer gets 202", () =>
    withShop(config({ desk: { ...config().desk, tenantRate: { perSecond: 1, burst: 2 } } }), (base) =>
      Effect.gen(function*() {
        assert.strictEqual((yield* post(`${base}/orders`, order)).status, 202)
        assert.strictEqual((yield* post(`${base}/orders`, order)).status, 202)
        const refused = yield* post(`${base}/orders`, order)
        assert.strictEqual(refused.status, 429)
        assert.isAtLeast(Number(refused.headers["retry-after"]), 1)
        const body = (yield* refused.json) as any
        assert.strictEqual(body.reason, "tenant-rate")
        assert.include(body.message, "\"ada\"")
        assert.strictEqual((yield* post(`${base}/orders`, { ...order, customer: "eve" })).status, 202)
      })))

  it.live("serves an OpenAPI document generated from the request Schemas", () =>
    withShop(config(), (base) =>
      Effect.gen(function*() {
        const doc = (yield* (yield* HttpClient.get(`${base}/openapi.json`)).json) as any
        assert.strictEqual(doc.openapi.slice(0, 2), "3.")
        assert.property(doc.paths, "/orders")
        assert.property(doc.paths, "/tickets/{id}")
        const text = JSON.stringify(doc)
        assert.include(text, "\"qty\"")
        assert.include(text, "\"429\"")
      })))

  it.live("admin and metrics need the configured token (401 otherwise); metrics are Prometheus text", () =>
    withShop(config(), (base) =>
      Effect.gen(function*() {
        assert.strictEqual((yield* HttpClient.get(`${base}/metrics`)).status, 401)
        const wrong = yield* HttpClient.execute(HttpClientRequest.get(`${base}/metrics`).pipe(HttpClientRequest.bearerToken("nope")))
        assert.strictEqual(wrong.status, 401)
        yield* post(`${base}/orders`, order)
        const ok = yield* HttpClient.execute(HttpClientRequest.get(`${base}/metrics`).pipe(HttpClientRequest.bearerToken("s3cret")))
        assert.strictEqual(ok.status, 200)
        const text = yield* ok.text
        assert.include(text, "# TYPE mailroom_shop_orders_accepted")
        assert.include(text, "mailroom_scheduler_submitted")
        const load = yield* HttpClient.execute(
          HttpClientRequest.post(`${base}/admin/load`).pipe(HttpClientRequest.bearerToken("s3cret"), HttpClientRequest.bodyJsonUnsafe({ rate: -1 }))
        )
        assert.strictEqual(load.status, 400)
        assert.strictEqual(((yield* load.json) as any).field, "rate")
      })))

  it.live("without a configured token the admin endpoints always answer 401", () =>
    withShop(config({ adminToken: undefined }), (base) =>
      Effect.gen(function*() {
        const res = yield* HttpClient.execute(HttpClientRequest.get(`${base}/admin/state`).pipe(HttpClientRequest.bearerToken("")))
        assert.strictEqual(res.status, 401)
      })))

  it.live("GET /events streams live figures as server-sent events", () =>
    withShop(config({ rate: 200 }), (base) =>
      Effect.gen(function*() {
        const res = yield* HttpClient.get(`${base}/events`)
        assert.strictEqual(res.status, 200)
        assert.include(res.headers["content-type"] ?? "", "text/event-stream")
        const chunks = yield* res.stream.pipe(Stream.decodeText, Stream.take(3), Stream.runCollect)
        const events = chunks.join("").split("\n\n").filter((e) => e.startsWith("data: "))
        assert.isAtLeast(events.length, 2)
        const last = JSON.parse(events[events.length - 1]!.slice(6))
        assert.property(last, "samples")
        assert.property(last.totals, "accepted")
      })))
})
