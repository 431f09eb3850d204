import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { HttpServer } from "effect/http"
import * as Shop from "../src/Shop.js"

const config: Shop.Config = {
  dataDir: undefined,
  rate: 0,
  period: 30,
  desk: { highWater: 1000, minWorkers: 1, maxWorkers: 2, timing: { setupMs: 5, perUnitMs: 0.5 } },
  adminToken: "s3cret",
  port: 0,
  sampleMs: 100
}

const withShop = <A, E>(f: (base: string) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const base = server.address._tag === "InetAddressV4" ? `http://127.0.0.1:${server.address.port}` : ""
    return yield* f(base)
  }).pipe(Effect.provide(Shop.serve(config)))

const call = (method: string, url: string, headers: Record<string, string> = {}, body?: string) =>
  Effect.promise(async () => {
    const controller = new AbortController()
    const res = await fetch(url, { method, headers, body: body ?? null, signal: controller.signal })
    // /events and /admin/events stream forever: the status and headers are all we need of them
    const streaming = (res.headers.get("content-type") ?? "").startsWith("text/event-stream")
    const text = streaming ? "" : await res.text()
    controller.abort()
    let json: any
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    return { status: res.status, headers: res.headers, text, json }
  })

const methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const
const sample = (path: string) => path.replace(/\{[^}]+\}/g, "t-sample")

describe("the OpenAPI document is the server (item 12)", () => {
  it.live("every operation in /openapi.json is answered by the server, every other method on its paths gets 405 + Allow, other paths 404", () =>
    withShop((base) =>
      Effect.gen(function*() {
        const doc = (yield* call("GET", `${base}/openapi.json`)).json
        const paths = Object.keys(doc.paths)
        assert.includeMembers(paths, ["/orders", "/tickets/{id}", "/tickets", "/events", "/metrics", "/admin/state", "/admin/events", "/admin/load", "/openapi.json", "/"])
        for (const path of paths) {
          const documented = Object.keys(doc.paths[path]).filter((k) => methods.includes(k.toUpperCase() as any)).map((m) => m.toUpperCase())
          const allowed = new Set(documented.includes("GET") ? [...documented, "HEAD"] : documented)
          for (const method of methods) {
            const res = yield* call(method, `${base}${sample(path)}`, { authorization: "Bearer s3cret", "content-type": "application/json" }, method === "POST" ? "{}" : undefined)
            if (allowed.has(method)) {
              // a path parameter that names nothing is a documented 404, not a missing route
              if (res.status === 404 && method !== "HEAD") assert.strictEqual(res.json?.error, "TicketNotFound", `${method} ${path}`)
              else if (!path.includes("{")) assert.notInclude([404, 405], res.status, `${method} ${path} is documented but answered ${res.status} ${res.text}`)
              else assert.notStrictEqual(res.status, 405, `${method} ${path}`)
            } else {
              assert.strictEqual(res.status, 405, `${method} ${path} is not documented but answered ${res.status}`)
              assert.sameMembers((res.headers.get("allow") ?? "").split(",").map((s) => s.trim()), [...allowed], `Allow of ${path}`)
              if (method !== "HEAD") {
                assert.strictEqual(res.json?.error, "MethodNotAllowed", res.text)
                assert.sameMembers(res.json.allow, [...allowed])
              }
            }
          }
        }
        for (const path of ["/nope", "/orders/extra", "/admin", "/tickets/a/b", "/openapi"]) {
          const res = yield* call("GET", `${base}${path}`)
          assert.strictEqual(res.status, 404, path)
          assert.match(res.headers.get("content-type") ?? "", /^application\/json/)
          assert.strictEqual(res.json.error, "NotFound")
        }
      })))

  it.live("the document lists every status each operation can answer and the bearer scheme on the admin routes", () =>
    withShop((base) =>
      Effect.gen(function*() {
        const doc = (yield* call("GET", `${base}/openapi.json`)).json
        const statuses = (path: string, method: string) => Object.keys(doc.paths[path][method].responses).sort()
        assert.sameMembers(statuses("/orders", "post"), ["200", "202", "400", "403", "413", "415", "422", "429", "503"])
        assert.sameMembers(statuses("/tickets/{id}", "get"), ["200", "400", "404", "503"])
        assert.sameMembers(statuses("/admin/load", "post"), ["200", "400", "401", "403", "413", "415", "503"])
        for (const [path, method] of [["/tickets", "get"], ["/metrics", "get"], ["/admin/state", "get"], ["/admin/events", "get"], ["/admin/load", "post"]] as const) {
          assert.include(statuses(path, method), "401", `${method} ${path}`)
          assert.deepStrictEqual(doc.paths[path][method].security, [{ bearer: [] }], `${method} ${path} is guarded`)
        }
        for (const [path, method] of [["/orders", "post"], ["/tickets/{id}", "get"], ["/events", "get"], ["/openapi.json", "get"], ["/", "get"]] as const) {
          assert.deepStrictEqual(doc.paths[path][method].security ?? [], [], `${method} ${path} is public`)
          assert.notInclude(statuses(path, method), "401")
        }
        assert.strictEqual(doc.components.securitySchemes.bearer.type, "http")
        assert.strictEqual(doc.components.securitySchemes.bearer.scheme.toLowerCase(), "bearer")
        const orders = doc.paths["/orders"].post
        assert.property(orders.responses["202"].headers, "location")
        assert.property(orders.responses["429"].headers, "retry-after")
        assert.property(orders.responses["503"].headers, "retry-after")
        assert.property(orders.requestBody.content, "application/json")
        assert.property(doc.paths["/tickets/{id}"].get.responses["503"].headers, "retry-after")
        // 405 and 404 are answered on any path: documented once, as reusable responses
        assert.property(doc.components.responses, "MethodNotAllowed")
        assert.property(doc.components.responses.MethodNotAllowed.headers, "allow")
        assert.property(doc.components.responses, "NotFound")
        // the request body schema is strict, like the server
        const text = JSON.stringify(doc)
        assert.include(text, "\"additionalProperties\":false")
        assert.include(text, "\"qty\"")
      })))
})
