/**
 * Overload at the front desk (item 18): a deadline on admission, bounded submissions in flight
 * and bounded connections. The desk here is a stand-in whose submissions take as long as the
 * test wants, so "the desk is busy" is exact and not a matter of machine speed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { connect } from "node:net"
import { Desk, type Figures } from "../src/Desk.js"
import * as Http from "../src/Http.js"
import { Monitor, publicView, type Snapshot } from "../src/Monitor.js"
import type { Ticket } from "../src/Order.js"

const zero: Figures = {
  accepted: 0, completed: 0, throttled: 0, throttledByTenant: 0, duplicates: 0, recovered: 0, recoveredPicks: 0,
  reconciled: 0, backlog: 0, oldestAgeMs: 0, highWater: 10, workers: 1, busyWorkers: 0, minWorkers: 1, maxWorkers: 1,
  jobs: 0, units: 0, pendingLines: 0, warehouse: { submitted: 0, dispatched: 0, combined: 0, pending: 0 }
}

const snapshot: Snapshot = {
  samples: [],
  latest: [],
  api: [],
  load: { phase: "off", rate: 0, running: false },
  totals: { accepted: 0, completed: 0, throttled: 0, duplicates: 0, recovered: 0, highWater: 10, minWorkers: 1, maxWorkers: 1 }
}

/** A desk whose every submission takes `submitMs`; `submitted` counts the submissions that reached it. */
const slowDesk = (submitMs: number) => {
  const state = { submitted: 0 }
  // only what the HTTP routes use; the pipeline behind a real desk is not needed here
  const desk = {
    submit: (order, options) =>
      Effect.suspend(() => {
        state.submitted++
        const now = Date.now()
        const ticket: Ticket = { id: `t-${state.submitted}`, status: "accepted", customer: order.customer, lines: order.lines, acceptedAt: now, updatedAt: now, source: options.source }
        return Effect.as(Effect.sleep(submitMs), { ticket, duplicate: false })
      }),
    status: () => Effect.succeed(undefined),
    latest: () => [],
    figures: () => zero
  } satisfies Pick<Desk["Service"], "submit" | "status" | "latest" | "figures"> as unknown as Desk["Service"]
  return { desk, state }
}

const serve = (desk: Desk["Service"], limits: Http.Limits, server: Partial<Http.ServerOptions> = {}) =>
  HttpRouter.serve(Http.routes, { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provide([
      Layer.succeed(Desk, desk),
      Layer.succeed(Monitor, Monitor.of({ snapshot: () => snapshot, publicSnapshot: () => publicView(snapshot), last: () => undefined })),
      Http.adminTokenLayer("s3cret"),
      Layer.succeed(Http.LoadControl, { peak: () => 0, setPeak: () => {} }),
      Layer.succeed(Http.FrontDeskLimits, limits)
    ]),
    Layer.provideMerge(Http.nodeServer({ port: 0, host: "127.0.0.1", ...server }))
  )

const baseUrl = Effect.gen(function*() {
  const server = yield* HttpServer.HttpServer
  return server.address._tag === "InetAddressV4" ? `http://127.0.0.1:${server.address.port}` : ""
})

const order = JSON.stringify({ customer: "ada", lines: [{ sku: "tea", qty: 1 }] })

const postOrder = (base: string, headers: Record<string, string> = {}, signal?: AbortSignal) =>
  Effect.promise(async () => {
    const started = performance.now()
    try {
      const res = await fetch(`${base}/orders`, { method: "POST", body: order, headers: { "content-type": "application/json", ...headers }, signal: signal ?? null })
      const json = await res.json().catch(() => undefined) as any
      return { status: res.status, retryAfter: res.headers.get("retry-after"), json, ms: performance.now() - started }
    } catch {
      return { status: 0, retryAfter: null, json: undefined, ms: performance.now() - started }
    }
  })

describe("admission under overload (item 18)", () => {
  it.live("while the desk is full, a request that cannot get in within its budget answers 503 + Retry-After and is never submitted", () => {
    const { desk, state } = slowDesk(1500)
    return Effect.gen(function*() {
      const base = yield* baseUrl
      const first = yield* Effect.forkChild(postOrder(base))
      yield* Effect.sleep(100)
      const second = yield* postOrder(base)
      assert.strictEqual(second.status, 503)
      assert.isAtLeast(Number(second.retryAfter), 1)
      assert.strictEqual(second.json.error, "Unavailable")
      assert.strictEqual(second.json.reason, "busy")
      assert.isString(second.json.message)
      // the desk gets free 1500 ms after the first request, ~1400 ms after this one left
      assert.isBelow(second.ms, 1200, "answered when its budget ran out, not when the desk got free")
      assert.strictEqual((yield* Fiber.await(first))._tag, "Success")
      assert.strictEqual(state.submitted, 1)
    }).pipe(Effect.provide(serve(desk, { budgetMs: 300, maxInFlight: 1 })))
  })

  it.live("Prefer: wait=N (RFC 7240) shortens the budget for a client that gives up sooner", () => {
    const { desk, state } = slowDesk(1500)
    return Effect.gen(function*() {
      const base = yield* baseUrl
      yield* Effect.forkChild(postOrder(base))
      yield* Effect.sleep(100)
      const hurried = yield* postOrder(base, { prefer: "wait=0.2" })
      assert.strictEqual(hurried.status, 503)
      assert.isBelow(hurried.ms, 1200)
      assert.strictEqual(state.submitted, 1)
      // a preference the server cannot read is ignored (RFC 7240): the server's budget applies
      const unread = yield* postOrder(base, { prefer: "wait=soon" })
      assert.strictEqual(unread.status, 202)
      assert.strictEqual(state.submitted, 2)
    }).pipe(Effect.provide(serve(desk, { budgetMs: 10_000, maxInFlight: 1 })))
  })

  it.live("a request whose client went away while it waited is never submitted", () => {
    const { desk, state } = slowDesk(800)
    return Effect.gen(function*() {
      const base = yield* baseUrl
      const first = yield* Effect.forkChild(postOrder(base))
      yield* Effect.sleep(100)
      const controller = new AbortController()
      const gone = yield* Effect.forkChild(postOrder(base, {}, controller.signal))
      yield* Effect.sleep(150)
      controller.abort()
      yield* Fiber.await(gone)
      assert.strictEqual((yield* Fiber.await(first))._tag, "Success")
      yield* Effect.sleep(500)
      assert.strictEqual(state.submitted, 1)
    }).pipe(Effect.provide(serve(desk, { budgetMs: 10_000, maxInFlight: 1 })))
  })

  it.live("a request whose budget is spent by the time the desk gets to it (a body trickling in) answers 503", () => {
    const { desk, state } = slowDesk(10)
    return Effect.gen(function*() {
      const base = yield* baseUrl
      const port = Number(new URL(base).port)
      const answer = yield* Effect.promise(() =>
        new Promise<string>((resolve) => {
          const socket = connect(port, "127.0.0.1")
          let text = ""
          socket.on("data", (d) => void (text += String(d)))
          socket.on("close", () => resolve(text))
          socket.on("error", () => resolve(text))
          socket.write(`POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${order.length}\r\nConnection: close\r\n\r\n`)
          setTimeout(() => socket.write(order), 600)
        })
      )
      assert.match(answer, /^HTTP\/1\.1 503/)
      assert.match(answer, /retry-after: \d+/i)
      assert.include(answer, "\"reason\":\"deadline\"")
      assert.strictEqual(state.submitted, 0)
      // the same request sent at once is accepted
      assert.strictEqual((yield* postOrder(base)).status, 202)
    }).pipe(Effect.provide(serve(desk, { budgetMs: 300, maxInFlight: 4 })))
  })

  it.live("connections past maxConnections are closed at once instead of waiting in a queue", () => {
    const { desk } = slowDesk(10)
    return Effect.gen(function*() {
      const base = yield* baseUrl
      const port = Number(new URL(base).port)
      const open = (n: number) =>
        Effect.promise(() =>
          Promise.all(Array.from({ length: n }, () =>
            new Promise<{ closedWithin: number | undefined; socket: ReturnType<typeof connect> }>((resolve) => {
              const socket = connect(port, "127.0.0.1")
              const started = performance.now()
              let settled = false
              const done = (closedWithin: number | undefined) => {
                if (!settled) {
                  settled = true
                  resolve({ closedWithin, socket })
                }
              }
              socket.on("close", () => done(performance.now() - started))
              socket.on("error", () => {})
              setTimeout(() => done(undefined), 2000)
            })))
        )
      const sockets = yield* open(4)
      const closed = sockets.filter((s) => s.closedWithin !== undefined)
      for (const s of sockets) s.socket.destroy()
      assert.strictEqual(closed.length, 2, "two of four connections are over the limit of 2")
    }).pipe(Effect.provide(serve(desk, { budgetMs: 300, maxInFlight: 4 }, { maxConnections: 2 })))
  })
})
