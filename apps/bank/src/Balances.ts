/**
 * The balances read model: a projection of every account event into a table of balances
 * (here an in-memory map; its checkpoint lives in `Projection.Checkpoints`).
 *
 * `buggy` is version 1 as it was first shipped: it forgot that a compensation refunds money —
 * `Credited` events flagged `refund` are skipped — so after a run with failed transfers its
 * total is short of the money that really exists. `fixed` is the corrected handler. Events are
 * facts and never change: "fix the bug and replay" is `Projection.rebuild` with the corrected
 * handler, which clears the table and the checkpoint and replays the whole journal.
 */
import { Effect } from "effect"
import { Journal, Projection, Upcast } from "@mailroom/persistence"
import * as Account from "./Account.js"

/** The read model: account id → cents. */
export interface Table {
  readonly rows: Map<string, number>
}

/** The projection name: both versions share it (the fix replaces the handler, same read model). */
export const name = "balances"

const project = (table: Table, skipRefundCredits: boolean) =>
  Projection.make<Account.LedgerError>({
    name,
    handle: (events: ReadonlyArray<Journal.RecordedEvent>) =>
      Effect.suspend(() => {
        for (const r of events) {
          if (!r.stream.startsWith("account-")) continue
          const e = Account.events.decodeSync(r)
          if (e instanceof Upcast.UndecodableEvent) return Effect.fail(new Account.LedgerError({ account: r.stream, reason: e.message }))
          const id = r.stream.slice("account-".length)
          const cents = table.rows.get(id) ?? 0
          switch (e._tag) {
            case "Opened":
              table.rows.set(id, cents + e.cents)
              break
            case "Debited":
              table.rows.set(id, cents - e.cents)
              break
            case "Credited":
              // v1's bug: refunds were thought to be "internal" and skipped.
              if (!(skipRefundCredits && e.refund)) table.rows.set(id, cents + e.cents)
              break
            case "Voided":
              break
          }
        }
        return Effect.void
      }),
    reset: Effect.sync(() => table.rows.clear())
  })

/** Version 1, with the bug. */
export const buggy = (table: Table) => project(table, true)

/** Version 2, corrected. */
export const fixed = (table: Table) => project(table, false)

/** Total cents in the table. */
export const total = (table: Table) => {
  let sum = 0
  for (const v of table.rows.values()) sum += v
  return sum
}
