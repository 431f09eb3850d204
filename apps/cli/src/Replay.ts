/**
 * `mailroom replay <projection>`: rebuilds a read model from zero by replaying the journal
 * (`Projection.rebuild`: clear, then catch up by global position) and prints it. Known
 * projections:
 * - `tickets` (the shop's `shop.db`): orders by status, and the oldest unfinished one, from the
 *   request log of the shop's task pipeline (stream `shop-orders`, read with `TaskLog.decode`);
 * - `balances` (the bank's `bank.db`): every account's balance and the total.
 * The read models are rebuilt in memory: replaying never writes to the journal file.
 */
import { Effect } from "effect"
import { Journal, Projection } from "@mailroom/persistence"
import { TaskError, TaskLog, Ticket } from "@mailroom/tasks"
import { fail } from "./Failure.js"

/** Known projections, and the journal file each one reads by default. */
export const projections = { tickets: "shop.db", balances: "bank.db" } as const
export type Name = keyof typeof projections

const money = (cents: number) =>
  (cents < 0 ? "-" : "") + Math.floor(Math.abs(cents) / 100).toLocaleString("en-US") + "." + String(Math.abs(cents) % 100).padStart(2, "0")

const num = (v: unknown, what: string, e: Journal.RecordedEvent) =>
  typeof v === "number" && Number.isFinite(v)
    ? Effect.succeed(v)
    : Effect.fail(fail(`event at position ${e.position} (${e.stream}, ${e.type}) has no numeric ${what}`))

const tickets = (stream: string) => {
  const status = new Map<string, { status: Ticket.Status; attempt: number; at: number }>()
  return {
    projection: Projection.make({
      name: "tickets",
      // The shop's orders are tasks of its `@mailroom/tasks` pipeline: the request log (stream
      // `shop-orders`) holds them accepted and every status report after.
      handle: (events) =>
        Effect.forEach(events, (e) => {
          if (e.stream !== stream) return Effect.void
          const decoded = TaskLog.decode(e)
          if (decoded instanceof TaskError.CorruptLog) return Effect.fail(fail(decoded.message))
          for (const fact of decoded.facts) {
            if (fact.kind === "accepted") {
              for (const t of fact.tasks) if (!status.has(t.id)) status.set(t.id, { status: "accepted", attempt: 0, at: t.at })
              continue
            }
            // The pipeline's rule: nothing moves a final task, and a late dispatched/running
            // report of an earlier attempt does not move a task back.
            const t = status.get(fact.id)
            if (t === undefined || Ticket.isFinal(t.status)) continue
            const late = (fact.kind === "dispatched" || fact.kind === "running") && fact.attempt < t.attempt
            t.attempt = Math.max(t.attempt, fact.attempt)
            if (!late) t.status = fact.kind
          }
          return Effect.void
        }, { discard: true }),
      reset: Effect.sync(() => status.clear())
    }),
    report: () => {
      const counts = new Map<string, number>()
      let oldest: { id: string; at: number } | undefined
      for (const [id, t] of status) {
        counts.set(t.status, (counts.get(t.status) ?? 0) + 1)
        if (!Ticket.isFinal(t.status) && (oldest === undefined || t.at < oldest.at)) oldest = { id, at: t.at }
      }
      return [
        `tickets: ${status.size}`,
        ...[...counts].map(([s, n]) => `  ${s.padEnd(10)} ${n}`),
        oldest === undefined
          ? "  nothing unfinished"
          : `  oldest unfinished: ${oldest.id}, accepted ${new Date(oldest.at).toISOString()} (the next \`mailroom start\` finishes it)`
      ]
    }
  }
}

const balances = () => {
  const rows = new Map<string, number>()
  return {
    projection: Projection.make({
      name: "balances",
      handle: (events) =>
        Effect.forEach(events, (e) => {
          if (!e.stream.startsWith("account-")) return Effect.void
          const id = e.stream.slice("account-".length)
          const data = e.data as { cents?: unknown }
          const sign = e.type === "Opened" || e.type === "Credited" ? 1 : e.type === "Debited" ? -1 : 0
          if (sign === 0) return Effect.void
          return Effect.map(num(data.cents, "cents", e), (cents) => void rows.set(id, (rows.get(id) ?? 0) + sign * cents))
        }, { discard: true }),
      reset: Effect.sync(() => rows.clear())
    }),
    report: () => {
      let total = 0
      const lines = [...rows].sort((a, b) => a[0].localeCompare(b[0])).map(([id, c]) => {
        total += c
        return `  ${id.padEnd(12)} ${money(c).padStart(12)}`
      })
      return [`accounts: ${rows.size}`, ...lines, `  ${"total".padEnd(12)} ${money(total).padStart(12)}`]
    }
  }
}

/** Rebuilds `name` from the journal in context; answers the lines to print. */
export const run = (name: Name) =>
  Effect.gen(function*() {
    const model = name === "tickets" ? tickets("shop-orders") : balances()
    const started = Date.now()
    const position = yield* Projection.rebuild(model.projection)
    return [`replayed the journal up to position ${position} in ${Date.now() - started} ms`, ...model.report()]
  }).pipe(
    Effect.provide(Projection.layerMemory),
    Effect.mapError((e) => e._tag === "CommandFailed" ? e : fail(`replay of ${name} failed: ${e.message}`))
  )
