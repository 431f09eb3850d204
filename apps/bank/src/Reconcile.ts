/**
 * Reconciliation: checks the books against the journal, the source of truth.
 *
 * - replays every account stream with the domain fold and sums the balances: the money must be
 *   exactly what was deposited (transfers only move it);
 * - checks every saga ended (completed or compensated) — `Saga.recover` resumes the ones a crash
 *   left in the middle;
 * - checks no voucher was applied twice: each voucher id appears at most once per stream (the
 *   journal refuses duplicates) and no transfer moved money twice out of or into one account.
 */
import { Effect } from "effect"
import { Journal, Upcast } from "@mailroom/persistence"
import { Saga } from "@mailroom/tasks"
import * as Account from "./Account.js"

/** The result of a reconciliation. */
export interface Report {
  readonly accounts: number
  readonly totalCents: number
  readonly negativeAccounts: number
  readonly sagas: { readonly started: number; readonly completed: number; readonly compensated: number; readonly open: number }
  /** Transfers whose debit (or credit) was applied more than once on one account: must be 0. */
  readonly appliedTwice: number
  /** Transfers that were compensated but still hold money moved: must be 0. */
  readonly unbalancedCompensations: number
}

/** Reads the whole journal and checks the books. */
export const run = Effect.gen(function*() {
  const journal = yield* Journal.Journal
  const balances = new Map<string, { opened: boolean; cents: number }>()
  const moves = new Map<string, number>() // `${account}|${transfer}|${kind}` → count of non-refund moves
  const net = new Map<string, number>() // transfer → net cents moved out of the source by it (debits - credits incl. refunds), per account pair
  const sagaEnds = new Map<string, string | undefined>()
  let after = 0
  while (true) {
    const page = yield* journal.readAll(after, 10_000)
    if (page.length === 0) break
    for (const r of page) {
      if (r.stream.startsWith("account-")) {
        const e = Account.events.decodeSync(r)
        if (e instanceof Upcast.UndecodableEvent) return yield* new Account.LedgerError({ account: r.stream, reason: e.message })
        const id = r.stream.slice("account-".length)
        const s = balances.get(id) ?? { opened: false, cents: 0 }
        Account.apply(s, e)
        balances.set(id, s)
        if (e._tag === "Debited" || e._tag === "Credited") {
          if (!e.refund) {
            const key = `${id}|${e.transfer}|${e._tag}`
            moves.set(key, (moves.get(key) ?? 0) + 1)
          }
          const sign = e._tag === "Debited" ? 1 : -1
          net.set(e.transfer, (net.get(e.transfer) ?? 0) + sign * e.cents)
        }
      } else if (r.stream.startsWith("saga:transfer:")) {
        const id = r.stream.slice("saga:transfer:".length)
        if (r.type === "SagaStarted") sagaEnds.set(id, sagaEnds.get(id))
        if (r.type === "SagaCompleted") sagaEnds.set(id, "completed")
        if (r.type === "SagaCompensated") sagaEnds.set(id, "compensated")
      }
    }
    after = page[page.length - 1]!.position
  }
  let totalCents = 0
  let negativeAccounts = 0
  for (const s of balances.values()) {
    totalCents += s.cents
    if (s.cents < 0) negativeAccounts++
  }
  let appliedTwice = 0
  for (const n of moves.values()) if (n > 1) appliedTwice++
  let completed = 0
  let compensated = 0
  let open = 0
  let unbalancedCompensations = 0
  for (const [id, end] of sagaEnds) {
    if (end === "completed") completed++
    else if (end === "compensated") {
      compensated++
      // the voucher of the saga's debit step is `${stream}/debit`; its movements must cancel out
      const debit = `${Saga.streamOf({ name: "transfer" }, id)}/debit`
      const credit = `${Saga.streamOf({ name: "transfer" }, id)}/credit`
      if ((net.get(debit) ?? 0) + (net.get(credit) ?? 0) !== 0) unbalancedCompensations++
    } else open++
  }
  return {
    accounts: balances.size,
    totalCents,
    negativeAccounts,
    sagas: { started: sagaEnds.size, completed, compensated, open },
    appliedTwice,
    unbalancedCompensations
  } satisfies Report
})
