/**
 * `mailroom replay <projection>`: rebuilds a read model from zero by replaying the journal
 * (`Projection.rebuild`: clear, then catch up by global position) and prints it. Known
 * projections:
 * - `tickets` (the shop's `shop.db`): orders by status, and the oldest unfinished one, from the
 *   request log of the shop's task pipeline (stream `shop-orders`: `TasksAccepted` and
 *   `TasksProgressed` events, read with `TaskLog.decode`); the log also holds the `pick` tasks
 *   each order spawns, which are not tickets;
 * - `balances` (the bank's `bank.db`): every account's balance (streams `account-<id>`:
 *   `Opened`, `Debited`, `Credited`) and the total.
 * The read models are rebuilt in memory: replaying never writes to the journal file.
 *
 * A replay that matches nothing fails instead of printing an empty model: an empty journal says
 * so, and a journal without the projection's events (the shop's journal given to `balances`)
 * is named the wrong journal, with the streams and event types it does hold.
 */
import { Clock, Effect } from "effect"
import { Journal, Projection } from "@mailroom/persistence"
import { TaskError, TaskLog, Ticket } from "@mailroom/tasks"
import { count, field, shellArg } from "./Display.js"
import { fail } from "./Failure.js"
import * as JournalFile from "./Journal.js"
import * as Progress from "./Progress.js"

/** Known projections, and the journal file each one reads by default. */
export const projections = { tickets: "shop.db", balances: "bank.db" } as const
export type Name = keyof typeof projections

/** The stream of the shop's request log. */
export const ordersStream = "shop-orders"

/** The task type of the shop's orders (the log also holds their `pick` tasks). */
export const ticketType = "order"

/** The bank's account events `balances` folds. */
export const accountEvents: ReadonlyArray<string> = ["Opened", "Debited", "Credited"]

const money = (cents: number) =>
  (cents < 0 ? "-" : "") + Math.floor(Math.abs(cents) / 100).toLocaleString("en-US") + "." + String(Math.abs(cents) % 100).padStart(2, "0")

const num = (v: unknown, what: string, e: Journal.RecordedEvent) =>
  typeof v === "number" && Number.isFinite(v)
    ? Effect.succeed(v)
    : Effect.fail(fail(`event at position ${e.position} (${field(e.stream)}, ${field(e.type)}) has no numeric ${what}`))

interface Model {
  readonly projection: Projection.Projection<ReturnType<typeof fail>>
  /** Events the projection used (0 after the replay: the journal holds none of its events). */
  readonly matched: () => number
  readonly report: () => Array<string>
}

const tickets = (): Model => {
  const status = new Map<string, { status: string; attempt: number; at: number }>()
  let matched = 0
  return {
    projection: Projection.make({
      name: "tickets",
      // The shop's orders are `order` tasks of its `@mailroom/tasks` pipeline: the request log
      // (stream `shop-orders`) holds them accepted and every status report after.
      handle: (events) =>
        Effect.suspend(() => {
          for (const e of events) {
            if (e.stream !== ordersStream) continue
            matched++
            const decoded = TaskLog.decode(e)
            if (decoded instanceof TaskError.CorruptLog) return Effect.fail(fail(decoded.message))
            for (const fact of decoded.facts) {
              if (fact.kind === "accepted") {
                // A ticket is an order; the picks an order spawns share the log and are not tickets.
                for (const t of fact.tasks) {
                  if (t.type === ticketType && !status.has(t.id)) status.set(t.id, { status: "accepted", attempt: 0, at: t.at })
                }
                continue
              }
              // The pipeline's rule: nothing moves a final task, and a late dispatched/running
              // report of an earlier attempt does not move a task back.
              const t = status.get(fact.id)
              if (t === undefined || Ticket.isFinal(t.status as Ticket.Status)) continue
              const late = (fact.kind === "dispatched" || fact.kind === "running") && fact.attempt < t.attempt
              t.attempt = Math.max(t.attempt, fact.attempt)
              if (!late) t.status = fact.kind
            }
          }
          return Effect.void
        }),
      reset: Effect.sync(() => {
        status.clear()
        matched = 0
      })
    }),
    matched: () => matched,
    report: () => {
      const counts = new Map<string, number>()
      let oldest: { id: string; at: number } | undefined
      for (const [id, t] of status) {
        counts.set(t.status, (counts.get(t.status) ?? 0) + 1)
        if (!Ticket.isFinal(t.status as Ticket.Status) && (oldest === undefined || t.at < oldest.at)) oldest = { id, at: t.at }
      }
      return [
        `tickets: ${count(status.size)}`,
        ...[...counts].map(([s, n]) => `  ${field(s).padEnd(10)} ${count(n)}`),
        oldest === undefined
          ? "  nothing unfinished"
          : `  oldest unfinished: ${field(oldest.id)}, accepted ${new Date(oldest.at).toISOString()} (the next \`mailroom start\` finishes it)`
      ]
    }
  }
}

const balances = (): Model => {
  const rows = new Map<string, number>()
  let matched = 0
  return {
    projection: Projection.make({
      name: "balances",
      handle: (events) =>
        Effect.forEach(events, (e) => {
          if (!e.stream.startsWith("account-")) return Effect.void
          const sign = e.type === "Opened" || e.type === "Credited" ? 1 : e.type === "Debited" ? -1 : 0
          if (sign === 0) return Effect.void
          matched++
          const id = e.stream.slice("account-".length)
          const data = e.data as { cents?: unknown } | null
          return Effect.map(num(data?.cents, "cents", e), (cents) => void rows.set(id, (rows.get(id) ?? 0) + sign * cents))
        }, { discard: true }),
      reset: Effect.sync(() => {
        rows.clear()
        matched = 0
      })
    }),
    matched: () => matched,
    report: () => {
      let total = 0
      const lines = [...rows].sort((a, b) => a[0].localeCompare(b[0])).map(([id, c]) => {
        total += c
        return `  ${field(id).padEnd(12)} ${money(c).padStart(12)}`
      })
      return [`accounts: ${count(rows.size)}`, ...lines, `  ${"total".padEnd(12)} ${money(total).padStart(12)}`]
    }
  }
}

/** Why nothing matched: the journal is another app's; which one, when its streams tell. */
const wrongJournal = (name: Name) =>
  Effect.gen(function*() {
    const { file, dbArg } = yield* JournalFile.JournalFile
    const found = yield* JournalFile.inventory
    const shopLike = found.streams.includes(ordersStream) || found.types.some((t) => TaskLog.eventTypes.includes(t))
    const bankLike = found.streams.some((s) => s.startsWith("account-")) && found.types.some((t) => accountEvents.includes(t))
    const other = name === "tickets" ? (bankLike ? "balances" : undefined) : (shopLike ? "tickets" : undefined)
    const expected = name === "tickets"
      ? `has no stream ${ordersStream} (the shop's request log: ${TaskLog.eventTypes.slice(0, 2).join(", ")})`
      : `has no bank account events (streams account-<id> with ${accountEvents.join(", ")})`
    const hint = other === undefined
      ? `pass --db with the ${name === "tickets" ? "shop" : "bank"}'s journal (.mailroom-data/${projections[name]})`
      : `it looks like the ${other === "tickets" ? "shop" : "bank"}'s journal: try \`mailroom replay ${other}${dbArg || ` --db ${shellArg(file)}`}\``
    return yield* fail(`the journal ${file} ${expected}; ${found.text}. ${hint[0]!.toUpperCase()}${hint.slice(1)}`)
  })

/**
 * Rebuilds `name` from the journal in context; answers the lines to print. Fails when the
 * journal is empty or holds none of the projection's events.
 */
export const run = (name: Name, options: { readonly progress: Progress.Mode }) =>
  Effect.gen(function*() {
    const { file } = yield* JournalFile.JournalFile
    const total = yield* JournalFile.head
    if (total === 0) return yield* fail(`the journal ${file} has no events: nothing to replay (has the app run with this data folder?)`)
    // The projection's streams are looked for first, so the wrong journal fails at once, not after a full replay.
    const present = name === "tickets"
      ? (yield* Effect.flatMap(Journal.Journal, (j) => j.streamVersion(ordersStream))) > 0
      : yield* JournalFile.hasStreamWithPrefix("account-")
    if (!present) return yield* wrongJournal(name)
    const model = name === "tickets" ? tickets() : balances()
    let read = 0
    const counted = Projection.make({
      name: model.projection.name,
      handle: (events) => Effect.andThen(model.projection.handle(events), Effect.sync(() => void (read += events.length))),
      reset: Effect.andThen(model.projection.reset, Effect.sync(() => void (read = 0)))
    })
    const started = yield* Clock.monotonicTimeNanos
    const position = yield* Progress.track(Projection.rebuild(counted), {
      label: `replay ${name}`,
      total,
      read: () => read,
      mode: options.progress
    })
    const ms = Number((yield* Clock.monotonicTimeNanos) - started) / 1e6
    if (model.matched() === 0) return yield* wrongJournal(name)
    return [`replayed ${count(read)} events up to position ${position} in ${Math.round(ms)} ms`, ...model.report()]
  }).pipe(
    Effect.provide(Projection.layerMemory),
    Effect.mapError((e) => (e._tag === "CommandFailed" ? e : fail(`replay of ${name} failed: ${e.message}`)))
  )
