/**
 * Talking to a running shop's HTTP front desk: `submit` posts an order, `status` reads a
 * ticket. Answers are decoded with Schemas (what crosses the wire is checked), and every failure
 * becomes one sentence: an address that is not http(s), an unreachable shop, no answer within
 * the timeout, 400 naming the field, 429 with the shop's reason, unknown ticket, a server that
 * does not answer like a shop (not JSON, the wrong shape), any other status.
 */
import { Effect, Schema } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import type { HttpClientResponse } from "effect/http"
import { field, quoted, shellArg } from "./Display.js"
import { fail } from "./Failure.js"

/** An order line as the shop answers it. */
export const Line = Schema.Struct({ sku: Schema.String, qty: Schema.Number })

/** A ticket as the front desk answers it (fields the CLI does not show are ignored). */
export const Ticket = Schema.Struct({
  id: Schema.String,
  status: Schema.String,
  customer: Schema.String,
  lines: Schema.Array(Line),
  error: Schema.optional(Schema.String)
})
export type Ticket = typeof Ticket.Type

/** The answer to an accepted order. */
export const Accepted = Schema.Struct({ ticket: Ticket, location: Schema.String, duplicate: Schema.Boolean })

/** The body of a refusal (400, 404, 413, 422, 429). */
export const Problem = Schema.Struct({ message: Schema.String, field: Schema.optional(Schema.String) })

/** Formats a ticket on one line; values from the shop are escaped and quoted where needed. */
export const line = (t: Ticket) =>
  `${field(t.id)}  ${field(t.status)}  ${field(t.customer)}  ${t.lines.map((l) => `${l.qty}× ${field(l.sku)}`).join(", ")}${
    t.error !== undefined ? `  (${field(t.error)})` : ""
  }`

/** The command that shows a ticket's status (`--` before an id that starts with `-`). */
export const statusCommand = (id: string, url: string, defaultUrl: string) =>
  `mailroom status${url === defaultUrl ? "" : ` --url ${shellArg(url)}`} ${id.startsWith("-") ? "-- " : ""}${shellArg(id)}`

/** Checks `--url`: an http(s) address; answers it without a trailing slash. */
export const parseUrl = (url: string) => {
  let parsed: URL | undefined
  try {
    parsed = new URL(url)
  } catch {
    parsed = undefined
  }
  return parsed === undefined || (parsed.protocol !== "http:" && parsed.protocol !== "https:") || parsed.host === ""
    ? Effect.fail(fail(`--url ${quoted(url)} is not an http:// or https:// address (for example http://127.0.0.1:4000)`))
    : Effect.succeed(url.replace(/\/+$/, ""))
}

/** Parses `sku=qty` items. */
export const parseItems = (items: ReadonlyArray<string>) =>
  Effect.forEach(items, (item) => {
    const m = /^([^=]+)=(\d+)$/.exec(item)
    return m === null
      ? Effect.fail(fail(`--item ${quoted(item)} is not sku=qty (for example --item tea=2)`))
      : Effect.succeed({ sku: m[1]!, qty: Number(m[2]) })
  })

interface Options {
  readonly url: string
  /** Seconds to wait for the whole answer. */
  readonly timeout: number
}

/** The status and body of an answer; JSON parsed when it is JSON, else `undefined` with the text. */
const exchange = (request: HttpClientRequest.HttpClientRequest, options: Options) =>
  Effect.gen(function*() {
    const res: HttpClientResponse.HttpClientResponse = yield* HttpClient.execute(request).pipe(
      Effect.mapError(() =>
        fail(`cannot reach the shop at ${options.url} (is it running? start it with \`mailroom start\`, or pass --url)`)
      )
    )
    const text = yield* res.text.pipe(Effect.mapError((e) => fail(`the shop at ${options.url} broke off its answer: ${e.message}`)))
    let body: unknown = undefined
    try {
      body = JSON.parse(text)
    } catch {
      body = undefined
    }
    return { status: res.status, headers: res.headers, text, body }
  }).pipe(
    Effect.timeoutOrElse({
      duration: `${options.timeout} seconds`,
      orElse: () => Effect.fail(fail(`the shop at ${options.url} did not answer within ${options.timeout} s (is it stuck? pass --timeout to wait longer)`))
    })
  )

type Answer = Effect.Success<ReturnType<typeof exchange>>

const notAShop = (options: Options, answer: Answer, what: string) =>
  fail(`the server at ${options.url} did not answer like a Mailroom shop (${answer.status}, ${
    answer.body === undefined ? `not JSON: ${quoted(answer.text.slice(0, 60))}` : `unexpected JSON for ${what}`
  }); is --url the shop's address?`)

const decodeTicket = Schema.decodeUnknownOption(Ticket)
const decodeAccepted = Schema.decodeUnknownOption(Accepted)
const decodeProblem = Schema.decodeUnknownOption(Problem)

/** A short reason from any answer: the shop's message, else the first line of the text. */
const reason = (answer: Answer) => {
  const problem = decodeProblem(answer.body)
  if (problem._tag === "Some") return problem.value.message
  const first = answer.text.trim().split("\n")[0] ?? ""
  return first === "" ? "no details" : first.slice(0, 200)
}

/** Posts an order; answers the ticket, whether it was a duplicate, and where to poll it. */
export const submit = (options: Options, order: unknown, idempotencyKey: string | undefined) =>
  Effect.gen(function*() {
    let request = HttpClientRequest.post(`${options.url}/orders`).pipe(HttpClientRequest.bodyJsonUnsafe(order))
    if (idempotencyKey !== undefined) request = HttpClientRequest.setHeader(request, "idempotency-key", idempotencyKey)
    const answer = yield* exchange(request, options)
    if (answer.status === 202 || answer.status === 200) {
      const accepted = decodeAccepted(answer.body)
      if (accepted._tag === "None") return yield* notAShop(options, answer, "an accepted order")
      return accepted.value
    }
    if (answer.status === 429) {
      const problem = decodeProblem(answer.body)
      return yield* fail(
        problem._tag === "Some"
          ? `the shop refused the order for now: ${problem.value.message}`
          : `the shop is overloaded; retry after ${answer.headers["retry-after"] ?? "a few"} s`
      )
    }
    if (answer.status === 400 || answer.status === 413 || answer.status === 422) {
      const problem = decodeProblem(answer.body)
      if (problem._tag === "None") return yield* notAShop(options, answer, "a refused order")
      const f = problem.value.field
      const hint = f === "Idempotency-Key" && answer.status === 422 ? " (use a new --key for a different order)" : ""
      return yield* fail(`the shop refused the order (${answer.status}${f !== undefined ? `, field ${field(f)}` : ""}): ${problem.value.message}${hint}`)
    }
    return yield* fail(`the shop answered ${answer.status}: ${reason(answer)}`)
  })

/** Reads a ticket. */
export const status = (options: Options, id: string) =>
  Effect.gen(function*() {
    const answer = yield* exchange(HttpClientRequest.get(`${options.url}/tickets/${encodeURIComponent(id)}`), options)
    if (answer.status === 200) {
      const ticket = decodeTicket(answer.body)
      if (ticket._tag === "None") return yield* notAShop(options, answer, "a ticket")
      return ticket.value
    }
    if (answer.status === 404) {
      if (decodeProblem(answer.body)._tag === "None") return yield* notAShop(options, answer, "an unknown ticket")
      return yield* fail(`no ticket ${field(id)} at ${options.url} (ticket ids are printed by \`mailroom submit\`)`)
    }
    return yield* fail(`the shop answered ${answer.status}: ${reason(answer)}`)
  })
