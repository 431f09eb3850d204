#!/usr/bin/env node
/**
 * Open-loop load on a running shop's `POST /orders`: requests are sent on a fixed schedule
 * (`--rate` per second), whatever the server answers, like many independent customers; each
 * client gives up after `--timeout` ms. Latency is counted from the request's scheduled send
 * time (so time spent waiting for a free socket on this side counts too: no coordinated
 * omission). At the end it reads the shop's own count of accepted orders (`/admin/state`, needs
 * the admin token) to find orders the shop recorded but whose client never got the answer.
 *
 *   MAILROOM_ADMIN_TOKEN=… node bench/overload.mjs --url http://127.0.0.1:4000 --rate 6000 --seconds 20
 *
 * Options: --url, --rate (requests/s), --seconds, --timeout (ms, default 5000), --sockets
 * (client connections at most, default 512), --prefer-wait (seconds: sends `Prefer: wait=N`;
 * `auto`: the time this client will still wait when the request leaves, i.e. its own deadline),
 * --customers (distinct customers, default 50000), --json (write the summary to this file).
 */
import http from "node:http"
import { writeFileSync } from "node:fs"
import { loadavg } from "node:os"

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith("--")) acc.push([a.slice(2), all[i + 1] && !all[i + 1].startsWith("--") ? all[i + 1] : "true"])
  return acc
}, []))
const url = new URL(args.url ?? "http://127.0.0.1:4000")
const rate = Number(args.rate ?? 1000)
const seconds = Number(args.seconds ?? 10)
const timeout = Number(args.timeout ?? 5000)
const sockets = Number(args.sockets ?? 512)
const customers = Number(args.customers ?? 50_000)
const preferWait = args["prefer-wait"]
const token = process.env.MAILROOM_ADMIN_TOKEN
const skus = ["tea", "coffee", "mug", "kettle", "teapot", "filter", "grinder", "scale"]

const agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets })

const results = { byStatus: new Map(), timeouts: 0, timeoutsBySecond: new Map(), errors: new Map(), accepted: [], answered: [] }
const count = (map, key) => map.set(key, (map.get(key) ?? 0) + 1)

const send = (n, scheduled) =>
  new Promise((resolve) => {
    const body = JSON.stringify({ customer: `load-${n % customers}`, lines: [{ sku: skus[n % skus.length], qty: 1 + (n % 3) }] })
    const headers = { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
    // `--prefer-wait auto`: tell the shop how long this client will still wait (its own deadline)
    if (preferWait === "auto") headers.prefer = `wait=${Math.max(0, (scheduled + timeout - performance.now()) / 1000).toFixed(3)}`
    else if (preferWait !== undefined) headers.prefer = `wait=${preferWait}`
    let done = false
    const finish = (fn) => {
      if (!done) {
        done = true
        fn()
        resolve()
      }
    }
    const req = http.request({ host: url.hostname, port: url.port, path: "/orders", method: "POST", headers, agent }, (res) => {
      res.resume()
      res.on("end", () =>
        finish(() => {
          const ms = performance.now() - scheduled
          count(results.byStatus, res.statusCode)
          results.answered.push(ms)
          if (res.statusCode === 202) results.accepted.push(ms)
        }))
      res.on("error", (e) => finish(() => count(results.errors, e.code ?? e.message)))
    })
    // the client gives up `timeout` ms after it meant to send (its own deadline)
    const timer = setTimeout(() => finish(() => {
      results.timeouts++
      count(results.timeoutsBySecond, Math.floor((scheduled - started) / 1000))
      req.destroy()
    }), Math.max(1, scheduled + timeout - performance.now()))
    req.on("close", () => clearTimeout(timer))
    req.on("error", (e) => finish(() => count(results.errors, e.code ?? e.message)))
    req.end(body)
  })

const adminState = async () => {
  if (token === undefined) return undefined
  const res = await fetch(new URL("/admin/state", url), { headers: { authorization: `Bearer ${token}` } })
  return res.status === 200 ? await res.json() : undefined
}

const percentile = (xs, p) => {
  if (xs.length === 0) return null
  const sorted = Float64Array.from(xs).sort()
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))])
}

const before = await adminState()
const load = [loadavg()[0]]
const started = performance.now()
const pending = []
let sent = 0
await new Promise((resolve) => {
  const tick = () => {
    const elapsed = (performance.now() - started) / 1000
    const due = Math.min(Math.floor(elapsed * rate), Math.floor(seconds * rate))
    while (sent < due) {
      const scheduled = started + (sent / rate) * 1000
      pending.push(send(sent, scheduled))
      sent++
    }
    if (elapsed >= seconds) resolve()
    else setTimeout(tick, 2)
  }
  tick()
})
const sendingSeconds = (performance.now() - started) / 1000
load.push(loadavg()[0])
await Promise.all(pending)
// let the shop finish recording what it admitted before counting
await new Promise((r) => setTimeout(r, 1500))
const after = await adminState()
agent.destroy()

const got202 = results.byStatus.get(202) ?? 0
const summary = {
  offeredPerSecond: rate,
  sent,
  sendingSeconds: Number(sendingSeconds.toFixed(1)),
  clientTimeoutMs: timeout,
  sockets,
  preferWait: preferWait ?? null,
  statuses: Object.fromEntries([...results.byStatus].sort((a, b) => a[0] - b[0])),
  clientTimeouts: results.timeouts,
  // by the second of the run the request was meant to leave in
  clientTimeoutsBySecond: Object.fromEntries([...results.timeoutsBySecond].sort((a, b) => a[0] - b[0])),
  errors: Object.fromEntries(results.errors),
  share: {
    accepted202: Number((got202 / sent).toFixed(3)),
    throttled429: Number(((results.byStatus.get(429) ?? 0) / sent).toFixed(3)),
    unavailable503: Number(((results.byStatus.get(503) ?? 0) / sent).toFixed(3)),
    clientGaveUp: Number((results.timeouts / sent).toFixed(3)),
    connectionErrors: Number(([...results.errors.values()].reduce((a, b) => a + b, 0) / sent).toFixed(3))
  },
  acceptedLatencyMs: { p50: percentile(results.accepted, 50), p90: percentile(results.accepted, 90), p99: percentile(results.accepted, 99), max: percentile(results.accepted, 100) },
  answeredLatencyMs: { p50: percentile(results.answered, 50), p99: percentile(results.answered, 99) },
  acceptedPerSecond: Number((got202 / sendingSeconds).toFixed(0)),
  // orders the shop recorded whose client never saw the 202 (it had given up)
  acceptedByShop: before && after ? after.totals.accepted - before.totals.accepted : null,
  acceptedUnseenByClient: before && after ? after.totals.accepted - before.totals.accepted - got202 : null,
  loadAverage1m: { start: Number(load[0].toFixed(2)), end: Number(load[1].toFixed(2)) }
}
console.log(JSON.stringify(summary, null, 2))
if (args.json !== undefined) writeFileSync(args.json, JSON.stringify(summary, null, 2) + "\n")
