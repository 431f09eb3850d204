import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { HttpServer } from "effect/http"
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
const withShop = <A, E>(cfg: Shop.Config, f: (base: string) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const address = server.address
    assert.strictEqual(address._tag, "InetAddressV4")
    const base = address._tag === "InetAddressV4" ? `http://127.0.0.1:${address.port}` : ""
    return yield* f(base)
  }).pipe(Effect.provide(Shop.serve(cfg)))

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  /** The body parsed as JSON (`undefined` when it is not JSON). */
  readonly json: any
}

/** One HTTP exchange with full control of the headers (fetch sets no content type for a string body unless told). */
const call = (
  method: string,
  url: string,
  options: { readonly body?: string | undefined; readonly headers?: Record<string, string> | undefined } = {}
): Effect.Effect<Answer> =>
  Effect.promise(async () => {
    const res = await fetch(url, { method, body: options.body ?? null, headers: options.headers ?? {}, redirect: "manual" })
    const text = await res.text()
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    return { status: res.status, headers: res.headers, text, json }
  })

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  call("POST", url, { body: JSON.stringify(body), headers: { "content-type": "application/json", ...headers } })

const admin = { authorization: "Bearer s3cret" }

/** A 4xx/5xx answer carries a JSON body with `error` and `message`. */
const assertProblem = (a: Answer, status: number, error?: string) => {
  assert.strictEqual(a.status, status, a.text)
  assert.match(a.headers.get("content-type") ?? "", /^application\/json/, `content type of a ${status}`)
  assert.isString(a.json?.message, `a ${status} body has a message: ${a.text}`)
  if (error !== undefined) assert.strictEqual(a.json.error, error, a.text)
}

/** Reads server-sent events until `count` arrived (then closes the stream). */
const readEvents = (url: string, count: number, headers: Record<string, string> = {}) =>
  Effect.promise(async () => {
    const controller = new AbortController()
    const res = await fetch(url, { headers, signal: controller.signal })
    const events: Array<string> = []
    if (res.status !== 200 || res.body === null) return { status: res.status, contentType: res.headers.get("content-type") ?? "", events }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
    let buffer = ""
    while (events.length < count) {
      const { done, value } = await reader.read()
      if (done) break
      buffer += value
      let i: number
      while ((i = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, i)
        buffer = buffer.slice(i + 2)
        const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n")
        if (data !== "") events.push(data)
      }
    }
    controller.abort()
    return { status: res.status, contentType: res.headers.get("content-type") ?? "", events }
  })

const order = { customer: "ada", lines: [{ sku: "tea", qty: 2 }, { sku: "mug", qty: 1 }] }

describe("HTTP front desk", () => {
  it.live("POST /orders answers 202 with the ticket and a Location that reaches succeeded", () =>
    withShop(config(), (base) =>
      Effect.gen(function*() {
        const res = yield* post(`${base}/orders`, order)
        assert.strictEqual(res.status, 202, res.text)
        assert.strictEqual(res.json.ticket.status, "accepted")
        const location = res.headers.get("location")
        assert.strictEqual(location, `/tickets/${res.json.ticket.id}`)
        assert.strictEqual(res.json.location, location)
        let status = ""
        for (let i = 0; i < 100 && status !== "succeeded"; i++) {
          const t = yield* call("GET", `${base}${location}`)
          assert.strictEqual(t.status, 200)
          status = t.json.status
          if (status !== "succeeded") yield* Effect.sleep(20)
        }
        assert.strictEqual(status, "succeeded")
        const missing = yield* call("GET", `${base}/tickets/t-nope`)
        assertProblem(missing, 404, "TicketNotFound")
        assert.strictEqual(missing.json.field, "id")
      })))

  it.live("Idempotency-Key: the retry gets the original ticket; another order of the customer with the key gets 422", () =>
    withShop(config(), (base) =>
      Effect.gen(function*() {
        const a = yield* post(`${base}/orders`, order, { "idempotency-key": "abc" })
        const b = yield* post(`${base}/orders`, order, { "idempotency-key": "abc" })
        assert.strictEqual(a.status, 202)
        assert.strictEqual(b.status, 200)
        assert.strictEqual(b.json.ticket.id, a.json.ticket.id)
        assert.isTrue(b.json.duplicate)
        assert.strictEqual(b.headers.get("location"), `/tickets/${a.json.ticket.id}`)
        // keys are the customer's own (the pipeline scopes them by tenant): another customer may use "abc" too
        assert.strictEqual((yield* post(`${base}/orders`, { ...order, customer: "eve" }, { "idempotency-key": "abc" })).status, 202)
        const c = yield* post(`${base}/orders`, { ...order, lines: [{ sku: "tea", qty: 5 }] }, { "idempotency-key": "abc" })
        assertProblem(c, 422, "IdempotencyConflict")
        assert.strictEqual(c.json.field, "Idempotency-Key")
        assertProblem(yield* post(`${base}/orders`, order, { "idempotency-key": "x".repeat(201) }), 400, "InvalidHeader")
      })))

  it.live("bad bodies get 400 naming the field, oversized ones 413, and nothing is accepted", () =>
    withShop(config(), (base) =>
      Effect.gen(function*() {
        const wrongType = yield* post(`${base}/orders`, { customer: "ada", lines: [{ sku: "tea", qty: "2" }] })
        assertProblem(wrongType, 400, "InvalidBody")
        assert.strictEqual(wrongType.json.field, "lines[0].qty")
        const missing = yield* post(`${base}/orders`, { lines: [{ sku: "tea", qty: 1 }] })
        assert.strictEqual(missing.json.field, "customer")
        const badSku = yield* post(`${base}/orders`, { customer: "x", lines: [{ sku: "Not A Sku!", qty: 1 }] })
        assert.strictEqual(badSku.json.field, "lines[0].sku")
        const notJson = yield* call("POST", `${base}/orders`, { body: "{nope", headers: { "content-type": "application/json" } })
        assertProblem(notJson, 400, "InvalidJson")
        const empty = yield* call("POST", `${base}/orders`, { body: "", headers: { "content-type": "application/json" } })
        assertProblem(empty, 400)
        const huge = yield* post(`${base}/orders`, { customer: "x".repeat(20_000), lines: [] })
        assertProblem(huge, 413, "BodyTooLarge")
        // a chunked body (no Content-Length) over the limit is cut while it is read
        const chunked = yield* Effect.promise(async () => {
          const chunk = new TextEncoder().encode(" ".repeat(4096))
          let sent = 0
          const body = new ReadableStream<Uint8Array>({
            pull(controller) {
              if (sent++ < 8) controller.enqueue(chunk)
              else controller.close()
            }
          })
          const res = await fetch(`${base}/orders`, { method: "POST", body, headers: { "content-type": "application/json" }, duplex: "half" } as RequestInit)
          return { status: res.status, json: await res.json().catch(() => undefined) as any }
        })
        assert.strictEqual(chunked.status, 413)
        assert.strictEqual(chunked.json?.error, "BodyTooLarge")
        const tickets = yield* call("GET", `${base}/tickets`, { headers: admin })
        assert.strictEqual(tickets.status, 200)
        assert.deepStrictEqual(tickets.json, [])
      })))

  it.live("a body that is not application/json gets 415 naming the expected type, and nothing is accepted (item 11)", () =>
    withShop(config(), (base) =>
      Effect.gen(function*() {
        const body = JSON.stringify(order)
        for (const headers of [{ "content-type": "text/plain" }, {}, { "content-type": "application/xml" }, { "content-type": "application/x-www-form-urlencoded" }]) {
          const res = yield* call("POST", `${base}/orders`, { body, headers })
          assertProblem(res, 415, "UnsupportedMediaType")
          assert.strictEqual(res.json.expected, "application/json")
          assert.include(res.json.message, "application/json")
        }
        assert.strictEqual((yield* post(`${base}/orders`, order, { "content-type": "application/json; charset=utf-8" })).status, 202)
        assertProblem(yield* call("POST", `${base}/orders`, { body, headers: { "content-type": "application/json; charset=latin1" } }), 415)
        const tickets = yield* call("GET", `${base}/tickets`, { headers: admin })
        assert.strictEqual(tickets.json.length, 1)
      })))

  it.live("control characters and lone surrogates in customer, unknown skus and extra fields get 400 naming the field (item 11)", () =>
    withShop(config(), (base) =>
      Effect.gen(function*() {
        for (const customer of ["nul\u0000", "esc\u001b[2J", "cr\r\nlf", "lone\ud800", "c1\u009b"]) {
          // JSON.stringify writes a lone surrogate as the escape \ud800, which JSON.parse turns back into one
          const res = yield* post(`${base}/orders`, { customer, lines: [{ sku: "tea", qty: 1 }] })
          assertProblem(res, 400, "InvalidBody")
          assert.strictEqual(res.json.field, "customer", JSON.stringify(customer))
        }
        const sku = yield* post(`${base}/orders`, { customer: "ada", lines: [{ sku: "tea", qty: 1 }, { sku: "plutonium", qty: 1 }] })
        assertProblem(sku, 400, "InvalidBody")
        assert.strictEqual(sku.json.field, "lines[1].sku")
        const extra = yield* post(`${base}/orders`, { ...order, discount: 100 })
        assertProblem(extra, 400, "InvalidBody")
        assert.strictEqual(extra.json.field, "discount")
        const nested = yield* post(`${base}/orders`, { customer: "ada", lines: [{ sku: "tea", qty: 1, price: 0 }] })
        assert.strictEqual(nested.json.field, "lines[0].price")
        assert.deepStrictEqual((yield* call("GET", `${base}/tickets`, { headers: admin })).json, [])
      })))

  it.live("past the high-water mark POST /orders answers 429 with Retry-After", () =>
    withShop(config({ desk: { highWater: 2, minWorkers: 1, maxWorkers: 1, timing: { setupMs: 5000, perUnitMs: 0 } } }), (base) =>
      Effect.gen(function*() {
        assert.strictEqual((yield* post(`${base}/orders`, order)).status, 202)
        assert.strictEqual((yield* post(`${base}/orders`, order)).status, 202)
        const refused = yield* post(`${base}/orders`, order)
        assertProblem(refused, 429, "Overloaded")
        const retryAfter = Number(refused.headers.get("retry-after"))
        assert.isAtLeast(retryAfter, 1)
        assert.strictEqual(refused.json.reason, "backlog")
        assert.strictEqual(refused.json.retryAfterSeconds, retryAfter)
      })))

  it.live("a customer over its rate limit gets 429 with Retry-After; another customer gets 202", () =>
    withShop(config({ desk: { ...config().desk, tenantRate: { perSecond: 1, burst: 2 } } }), (base) =>
      Effect.gen(function*() {
        assert.strictEqual((yield* post(`${base}/orders`, order)).status, 202)
        assert.strictEqual((yield* post(`${base}/orders`, order)).status, 202)
        const refused = yield* post(`${base}/orders`, order)
        assertProblem(refused, 429, "Overloaded")
        assert.isAtLeast(Number(refused.headers.get("retry-after")), 1)
        assert.strictEqual(refused.json.reason, "tenant-rate")
        assert.include(refused.json.message, "\"ada\"")
        assert.strictEqual((yield* post(`${base}/orders`, { ...order, customer: "eve" })).status, 202)
      })))

  it.live("admin and metrics need the configured token (401 with a JSON body otherwise); metrics are Prometheus text", () =>
    withShop(config(), (base) =>
      Effect.gen(function*() {
        const none = yield* call("GET", `${base}/metrics`)
        assertProblem(none, 401, "Unauthorized")
        assert.strictEqual(none.headers.get("www-authenticate"), "Bearer")
        for (const token of ["nope", "s3cre", "s3crett", "S3CRET", ""]) {
          assertProblem(yield* call("GET", `${base}/metrics`, { headers: { authorization: `Bearer ${token}` } }), 401)
        }
        yield* post(`${base}/orders`, order)
        const ok = yield* call("GET", `${base}/metrics`, { headers: admin })
        assert.strictEqual(ok.status, 200)
        assert.include(ok.text, "# TYPE mailroom_shop_orders_accepted")
        assert.include(ok.text, "mailroom_scheduler_submitted")
        const load = yield* post(`${base}/admin/load`, { rate: -1 }, admin)
        assertProblem(load, 400, "InvalidBody")
        assert.strictEqual(load.json.field, "rate")
        const set = yield* post(`${base}/admin/load`, { rate: 5 }, admin)
        assert.strictEqual(set.status, 200)
        assert.deepStrictEqual(set.json, { rate: 5 })
        assertProblem(yield* post(`${base}/admin/load`, { rate: 5 }), 401)
      })))

  it.live("without a configured token the admin endpoints always answer 401", () =>
    withShop(config({ adminToken: undefined }), (base) =>
      Effect.gen(function*() {
        for (const path of ["/admin/state", "/tickets", "/metrics", "/admin/events"]) {
          const res = yield* call("GET", `${base}${path}`, { headers: { authorization: "Bearer " } })
          assertProblem(res, 401, "Unauthorized")
          assert.include(res.json.message, "MAILROOM_ADMIN_TOKEN")
        }
      })))

  it.live("GET /events streams live aggregate figures as server-sent events", () =>
    withShop(config({ rate: 200 }), (base) =>
      Effect.gen(function*() {
        const { contentType, events, status } = yield* readEvents(`${base}/events`, 2)
        assert.strictEqual(status, 200)
        assert.include(contentType, "text/event-stream")
        assert.isAtLeast(events.length, 2)
        const last = JSON.parse(events[events.length - 1]!)
        assert.property(last, "samples")
        assert.property(last.totals, "accepted")
      })))
})

describe("what is public and what needs the token (item 13)", () => {
  it.live("GET /events carries no customer, ticket or order line; /admin/events (token) does", () =>
    withShop(config(), (base) =>
      Effect.gen(function*() {
        const placed = yield* post(`${base}/orders`, { customer: "zed-private", lines: [{ sku: "teapot", qty: 3 }] })
        assert.strictEqual(placed.status, 202)
        const open = yield* readEvents(`${base}/events`, 2)
        assert.strictEqual(open.status, 200)
        for (const event of open.events) {
          assert.notInclude(event, "zed-private")
          assert.notInclude(event, placed.json.ticket.id)
          assert.notInclude(event, "teapot")
          const snapshot = JSON.parse(event)
          assert.notProperty(snapshot, "latest")
          assert.notProperty(snapshot, "api")
        }
        assert.strictEqual((yield* readEvents(`${base}/admin/events`, 1)).status, 401)
        const full = yield* readEvents(`${base}/admin/events`, 1, admin)
        assert.strictEqual(full.status, 200)
        assert.include(full.events[0]!, "zed-private")
        const state = yield* call("GET", `${base}/admin/state`, { headers: admin })
        assert.strictEqual(state.status, 200)
        assert.include(state.text, "zed-private")
      })))

  it.live("GET /tickets (every customer's recent tickets) needs the token; a ticket is readable by whoever holds its id", () =>
    withShop(config(), (base) =>
      Effect.gen(function*() {
        const placed = yield* post(`${base}/orders`, order)
        assertProblem(yield* call("GET", `${base}/tickets`), 401, "Unauthorized")
        const list = yield* call("GET", `${base}/tickets`, { headers: admin })
        assert.strictEqual(list.status, 200)
        assert.strictEqual(list.json[0].id, placed.json.ticket.id)
        assert.strictEqual((yield* call("GET", `${base}/tickets/${placed.json.ticket.id}`)).status, 200)
      })))

  it.live("ticket ids carry at least 128 bits of randomness: no shared prefix, no counter", () =>
    withShop(config(), (base) =>
      Effect.gen(function*() {
        const ids: Array<string> = []
        for (let i = 0; i < 32; i++) ids.push((yield* post(`${base}/orders`, { customer: `c${i}`, lines: [{ sku: "tea", qty: 1 }] })).json.ticket.id)
        assert.strictEqual(new Set(ids).size, ids.length)
        // whatever fixed prefix all ids share (a type tag) is no secret; the rest must be random
        let common = 0
        while (ids.every((id) => id[common] === ids[0]![common])) common++
        const rests = ids.map((id) => id.slice(common))
        const alphabet = new Set(rests.join(""))
        const bitsPerChar = Math.log2(alphabet.size <= 16 ? 16 : alphabet.size <= 32 ? 32 : 64)
        for (const rest of rests) assert.isAtLeast(rest.length * bitsPerChar, 128, `ticket id ${common > 0 ? ids[0]!.slice(0, common) : ""}${rest} is too short to hold 128 random bits`)
        // consecutive ids must not share a prefix beyond what chance gives (a clock or a counter would)
        for (let i = 1; i < rests.length; i++) {
          let shared = 0
          while (rests[i]![shared] === rests[i - 1]![shared]) shared++
          assert.isBelow(shared, 4, `consecutive ticket ids ${ids[i - 1]} and ${ids[i]} share a prefix`)
        }
      })))

  it.live("cross-origin writes are refused (Origin, Sec-Fetch-Site), same-origin and non-browser writes are accepted", () =>
    withShop(config(), (base) =>
      Effect.gen(function*() {
        const crossOrigin = yield* post(`${base}/orders`, order, { origin: "http://evil.example" })
        assertProblem(crossOrigin, 403, "CrossOriginRefused")
        assertProblem(yield* post(`${base}/orders`, order, { "sec-fetch-site": "cross-site" }), 403, "CrossOriginRefused")
        assertProblem(yield* post(`${base}/orders`, order, { "sec-fetch-site": "same-site" }), 403, "CrossOriginRefused")
        assertProblem(yield* post(`${base}/orders`, order, { origin: "null" }), 403, "CrossOriginRefused")
        assertProblem(yield* post(`${base}/admin/load`, { rate: 1 }, { ...admin, origin: "http://evil.example" }), 403)
        // the "simple" request a cross-origin form or fetch can send without a preflight
        const simple = yield* call("POST", `${base}/orders`, {
          body: JSON.stringify(order),
          headers: { "content-type": "text/plain", origin: "http://evil.example", "sec-fetch-site": "cross-site" }
        })
        assert.oneOf(simple.status, [403, 415])
        assert.deepStrictEqual((yield* call("GET", `${base}/tickets`, { headers: admin })).json, [])
        assert.strictEqual((yield* post(`${base}/orders`, order, { origin: base, "sec-fetch-site": "same-origin" })).status, 202)
        assert.strictEqual((yield* post(`${base}/orders`, order)).status, 202)
        // a preflight is not answered with CORS headers: browsers will not send the cross-origin write
        const preflight = yield* call("OPTIONS", `${base}/orders`, { headers: { origin: "http://evil.example", "access-control-request-method": "POST" } })
        assert.isNull(preflight.headers.get("access-control-allow-origin"))
      })))
})
