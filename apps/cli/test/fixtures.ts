/**
 * Journal files for the CLI's tests, written through `@mailroom/persistence` like the apps write
 * them: a shop-like request log, a bank-like set of accounts, a long stream, an empty journal,
 * SQLite files that are not journals.
 */
import { Effect, Layer } from "effect"
import { Journal, SqliteClient, SqlJournal } from "@mailroom/persistence"
import { DatabaseSync } from "node:sqlite"

export interface StreamFixture {
  readonly stream: string
  readonly events: ReadonlyArray<{ readonly type: string; readonly data: unknown; readonly id?: string }>
}

/** Writes the streams (in order, 1,000 events per append) to a new journal file. */
export const writeJournal = (file: string, streams: ReadonlyArray<StreamFixture>) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      for (const s of streams) {
        for (let start = 0; start < s.events.length; start += 1000) {
          const chunk = s.events.slice(start, start + 1000).map((e, i) => ({
            id: e.id ?? `e${start + i + 1}`,
            type: e.type,
            schemaVersion: 1,
            data: e.data
          }))
          yield* journal.append(s.stream, chunk, "any")
        }
      }
    }).pipe(
      Effect.provide(SqlJournal.layer().pipe(Layer.provide(SqliteClient.layer({ filename: file, durability: "off" })))),
      Effect.scoped
    )
  )

/** A customer name holding ESC (a screen-clearing sequence), NUL, CR, LF and a lone surrogate. */
export const evilCustomer = "ada\u001b[2J\u0000\r\nevil\ud800x"

const order = (id: string, customer: string, at: number) => ({
  id,
  type: "order",
  tenant: `customer:${customer}`,
  payload: { customer, lines: [{ sku: "tea", qty: 2 }], source: "api" },
  at
})

const pick = (id: string, parent: string, line: number, at: number) => ({
  id,
  type: "pick",
  tenant: "customer:ada",
  key: `#${line}`,
  parent,
  payload: { sku: "tea", qty: 2 },
  at
})

/**
 * What the shop writes: one request log, `shop-orders`, with `order` tasks and the `pick` tasks
 * each order spawns (one per line, `parent` = the order), accepted (TasksAccepted) and then
 * reported on (TasksProgressed: dispatched, waiting for its picks, succeeded). Orders k1 and k2
 * succeed; k9 stays unfinished, and its id carries an escape sequence; k2's customer is
 * `evilCustomer`.
 */
export const shopJournal = (file: string) =>
  writeJournal(file, [
    {
      stream: "shop-orders",
      events: [
        {
          type: "TasksAccepted",
          data: { at: 1000, tasks: [order("k1", "ada", 1000), order("k2", evilCustomer, 1001), order("k9\u001b[31m", "bob", 1002)] }
        },
        { type: "TasksProgressed", data: { at: 1010, facts: [["dispatched", "k1", 1], ["dispatched", "k2", 1]] } },
        { type: "TasksAccepted", data: { at: 1011, tasks: [pick("p1", "k1", 0, 1011), pick("p2", "k2", 0, 1011)] } },
        {
          type: "TasksProgressed",
          data: {
            at: 1012,
            facts: [["waiting", "k1", 1, { picks: ["p1"] }], ["waiting", "k2", 1, { picks: ["p2"] }], ["dispatched", "p1", 1], ["dispatched", "p2", 1]]
          }
        },
        {
          type: "TasksProgressed",
          data: {
            at: 1020,
            facts: [["succeeded", "p1", 1, null], ["succeeded", "p2", 1, null], ["succeeded", "k1", 1, { picks: ["p1"] }], [
              "succeeded",
              "k2",
              1,
              { picks: ["p2"] }
            ]]
          }
        }
      ]
    }
  ])

/** What the bank writes: accounts (`account-<id>`: Opened, Debited, Credited) and saga streams. */
export const bankJournal = (file: string) =>
  writeJournal(file, [
    { stream: "account-a", events: [{ type: "Opened", data: { owner: "a", cents: 10_000 } }, { type: "Debited", data: { cents: 2_500, transfer: "t1", refund: false } }] },
    { stream: "account-b", events: [{ type: "Opened", data: { owner: "b", cents: 5_000 } }, { type: "Credited", data: { cents: 2_500, transfer: "t1", refund: false } }] },
    { stream: "saga:transfer:t1", events: [{ type: "SagaStarted", data: {} }, { type: "SagaCompleted", data: {} }] }
  ])

/** One stream `long` of `n` events `Tick` (data `{ i }`, versions 1..n). */
export const longJournal = (file: string, n: number) =>
  writeJournal(file, [{ stream: "long", events: Array.from({ length: n }, (_, i) => ({ type: "Tick", data: { i: i + 1, pad: "x".repeat(40) } })) }])

/** A journal with the table and no events. */
export const emptyJournal = (file: string) => writeJournal(file, [])

/** A SQLite database without a journal table. */
export const otherDatabase = (file: string) => {
  const db = new DatabaseSync(file)
  db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
  db.close()
}
