/**
 * Talking to a running shop's HTTP front desk: `submit` posts an order, `status` reads a
 * ticket. Every failure becomes one sentence: unreachable shop, 400 naming the field, 429 with
 * its retry-after, unknown ticket.
 */
import { Effect } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import type { HttpClientResponse } from "effect/http"
import { fail } from "./Failure.js"

/** A ticket as the front desk returns it. */
export interface Ticket {
  readonly id: string
  readonly status: string
  readonly customer: string
  readonly lines: ReadonlyArray<{ readonly sku: string; readonly qty: number }>
  readonly error?: string
}

const unreachable = (url: string) => () =>
  fail(`cannot reach the shop at ${url} (is it running? start it with \`mailroom start\`, or pass --url)`)

const body = (res: HttpClientResponse.HttpClientResponse) =>
  res.json.pipe(Effect.orElseSucceed(() => ({} as unknown))) as Effect.Effect<any>

/** Formats a ticket on one line. */
export const line = (t: Ticket) =>
  `${t.id}  ${t.status}  ${t.customer}  ${t.lines.map((l) => `${l.qty}× ${l.sku}`).join(", ")}${t.error ? `  (${t.error})` : ""}`

/** Parses `sku=qty` items. */
export const parseItems = (items: ReadonlyArray<string>) =>
  Effect.forEach(items, (item) => {
    const m = /^([^=]+)=(\d+)$/.exec(item)
    return m === null
      ? Effect.fail(fail(`--item ${JSON.stringify(item)} is not sku=qty (for example --item tea=2)`))
      : Effect.succeed({ sku: m[1]!, qty: Number(m[2]) })
  })

/** Posts an order; answers the ticket and whether it was a duplicate. */
export const submit = (url: string, order: unknown, idempotencyKey: string | undefined) =>
  Effect.gen(function*() {
    let request = HttpClientRequest.post(`${url}/orders`).pipe(HttpClientRequest.bodyJsonUnsafe(order))
    if (idempotencyKey !== undefined) request = HttpClientRequest.setHeader(request, "idempotency-key", idempotencyKey)
    const res = yield* HttpClient.execute(request).pipe(Effect.mapError(unreachable(url)))
    const json = yield* body(res)
    if (res.status === 202 || res.status === 200) return { ticket: json.ticket as Ticket, duplicate: json.duplicate === true, location: String(json.location) }
    if (res.status === 429) {
      return yield* fail(`the shop is overloaded (${json.backlog} orders waiting, high-water mark ${json.highWater}); retry after ${res.headers["retry-after"] ?? "?"} s`)
    }
    if (res.status === 400 || res.status === 413 || res.status === 422) {
      return yield* fail(`the shop refused the order (${res.status}${json.field ? `, field ${json.field}` : ""}): ${json.message}`)
    }
    return yield* fail(`the shop answered ${res.status}: ${json.message ?? "no details"}`)
  })

/** Reads a ticket. */
export const status = (url: string, id: string) =>
  Effect.gen(function*() {
    const res = yield* HttpClient.get(`${url}/tickets/${encodeURIComponent(id)}`).pipe(Effect.mapError(unreachable(url)))
    const json = yield* body(res)
    if (res.status === 200) return json as Ticket
    if (res.status === 404) return yield* fail(`no ticket ${id} at ${url}`)
    return yield* fail(`the shop answered ${res.status}: ${json.message ?? "no details"}`)
  })
