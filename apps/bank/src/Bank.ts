/**
 * The bank demo as one program: open accounts, run transfers as sagas under the fault switch,
 * cut the power in the middle and recover from the vouchers, retry some transfers (idempotent),
 * reconcile against the journal, then show a buggy projection and fix it by replaying.
 *
 * `run` reports each stage through `say` and answers a `Summary` (tests assert on it).
 */
import { Cause, Effect, Exit, Fiber, Layer } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import { DataFolder, Journal, Projection, SqlJournal, SqliteClient } from "@mailroom/persistence"
import { Saga } from "@mailroom/tasks"
import { Random } from "@mailroom/testkit"
import { join } from "node:path"
import * as Account from "./Account.js"
import * as Balances from "./Balances.js"
import * as Faults from "./Faults.js"
import * as Reconcile from "./Reconcile.js"
import * as Transfer from "./Transfer.js"

/** How the demo runs. */
export interface Config {
  readonly accounts: number
  readonly transfers: number
  /** Probability that a ledger call misbehaves (0..1). */
  readonly faultRate: number
  readonly concurrency: number
  readonly seed: number
  /** Cut the power this many ms into the first half of the transfers (0 = no crash). */
  readonly crashAfterMs: number
  /** Cents each account opens with. */
  readonly openingCents: number
}

/** What happened. */
export interface Summary {
  readonly depositedCents: number
  readonly completed: number
  readonly compensated: number
  readonly interruptedByCrash: number
  /** `conflicts`: sagas another run was still writing (a cut-off run's last append landing late); they finish when submitted again. */
  readonly recovered: { readonly resumed: number; readonly completed: number; readonly compensated: number; readonly conflicts: number }
  readonly retried: number
  readonly faults: Faults.FaultCounts
  readonly reconcile: Reconcile.Report
  readonly buggyTotalCents: number
  readonly fixedTotalCents: number
  readonly replayedEvents: number
  readonly compensationReasons: ReadonlyMap<string, number>
}

/** Formats cents as money. */
export const money = (cents: number) =>
  (cents < 0 ? "-" : "") + Math.floor(Math.abs(cents) / 100).toLocaleString("en-US") + "." + String(Math.abs(cents) % 100).padStart(2, "0")

/**
 * The journal: `bank.db` under `dataDir`, emptied at start (each run starts a new ledger), or
 * memory. The file is emptied only once this process holds its writer lock, so a second bank on
 * the same folder fails with `DatabaseLocked` instead of deleting a running bank's ledger.
 */
export const journalLayer = (dataDir: string | undefined): Layer.Layer<Journal.Journal, Account.LedgerError> => {
  if (dataDir === undefined) return Layer.orDie(Journal.layerMemory())
  const file = join(dataDir, "bank.db")
  const folder = DataFolder.ensure(dataDir).pipe(
    Effect.mapError((e) => new Account.LedgerError({ account: "*", reason: e.message }))
  )
  const emptied = Layer.effectDiscard(Effect.flatMap(SqlClient, (sql) => sql.unsafe("DROP TABLE IF EXISTS mailroom_events"))).pipe(
    Layer.provideMerge(SqliteClient.layer({ filename: file, durability: "normal" }))
  )
  const sql: Layer.Layer<Journal.Journal, Account.LedgerError> = SqlJournal.layer().pipe(
    Layer.provide(emptied),
    Layer.catchCause((cause) =>
      Layer.effect(Journal.Journal, Effect.fail(new Account.LedgerError({ account: "*", reason: `journal ${file}: ${Cause.pretty(cause).split("\n")[0]}` })))
    )
  )
  return Layer.unwrap(Effect.as(folder, sql))
}

const ok = (b: boolean) => (b ? "✓" : "✗")

/** Runs the whole demo against the `Journal` in context. */
export const run = (config: Config, say: (line: string) => Effect.Effect<void>) =>
  Effect.gen(function*() {
    const faults = Faults.make({ rate: config.faultRate, seed: config.seed })
    const saga = Transfer.saga(faults)
    const random = Random.seeded(config.seed)
    const ids = Array.from({ length: config.accounts }, (_, i) => `acct-${String(i + 1).padStart(3, "0")}`)

    yield* Effect.forEach(ids, (id, i) => Account.open(id, `owner ${i + 1}`, config.openingCents), { concurrency: 16, discard: true })
    const depositedCents = config.accounts * config.openingCents
    yield* say(`1. Opened ${config.accounts} accounts with ${money(config.openingCents)} each: ${money(depositedCents)} in the bank.`)

    const requests = Array.from({ length: config.transfers }, (_, i) => {
      const from = ids[Math.floor(random() * ids.length)]!
      let to = ids[Math.floor(random() * ids.length)]!
      if (to === from) to = ids[(ids.indexOf(from) + 1) % ids.length]!
      // Mostly small amounts, sometimes more than an account holds (insufficient funds).
      const cents = random() < 0.9 ? 100 + Math.floor(random() * 20_000) : config.openingCents + Math.floor(random() * config.openingCents)
      return { id: `${config.seed}-${String(i + 1).padStart(5, "0")}`, request: { from, to, cents } }
    })

    const reasons = new Map<string, number>()
    const finished = new Set<string>()
    const compensatedIds = new Set<string>()
    const transfer = (id: string, request: Transfer.Request) =>
      Effect.flatMap(Effect.exit(Saga.run(saga, id, request)), (exit) =>
        Effect.sync(() => {
          finished.add(id)
          if (Exit.isFailure(exit)) {
            const e = Cause.findErrorOption(exit.cause)
            if (e._tag === "Some" && e.value._tag === "SagaCompensated" && !compensatedIds.has(id)) {
              compensatedIds.add(id)
              const text = e.value.reason
              const reason = text.includes("frozen") ? "frozen destination" : text.includes("holds") ? "insufficient funds" : "ledger kept failing"
              reasons.set(reason, (reasons.get(reason) ?? 0) + 1)
            }
          }
        }))

    const half = Math.floor(requests.length / 2)
    yield* say(`2. Running ${config.transfers} transfers as sagas (debit → voucher → credit → voucher), ${config.concurrency} at a time, ` +
      `fault switch at ${Math.round(config.faultRate * 100)}% of ledger calls.`)
    let interruptedByCrash = 0
    if (config.crashAfterMs > 0) {
      const fiber = yield* Effect.forkChild(Effect.forEach(requests.slice(0, half), (r) => transfer(r.id, r.request), { concurrency: config.concurrency, discard: true }))
      yield* Effect.sleep(config.crashAfterMs)
      yield* Fiber.interrupt(fiber)
      interruptedByCrash = half - finished.size
      yield* say(`   ⚡ power cut after ${config.crashAfterMs} ms: ${finished.size} of the first ${half} transfers had finished; the others were cut off mid-flight or never started.`)
    } else {
      yield* Effect.forEach(requests.slice(0, half), (r) => transfer(r.id, r.request), { concurrency: config.concurrency, discard: true })
    }
    const recovered = yield* Saga.recover(saga, { concurrency: config.concurrency })
    if (config.crashAfterMs > 0) {
      yield* say(`   restart: Saga.recover found ${recovered.resumed} sagas started and not ended, resumed them from their vouchers: ` +
        `${recovered.completed} completed, ${recovered.compensated} compensated` +
        `${recovered.conflicts > 0 ? `, ${recovered.conflicts} left to a cut-off run whose last write landed late (they finish when submitted again)` : ""}; nothing half-applied.`)
    }
    // Clients whose transfers never started before the crash submit them again (those that did
    // start answer their recorded outcome).
    yield* Effect.forEach(requests.slice(0, half), (r) => transfer(r.id, r.request), { concurrency: config.concurrency, discard: true })
    yield* Effect.forEach(requests.slice(half), (r) => transfer(r.id, r.request), { concurrency: config.concurrency, discard: true })

    // Clients that lost the answer retry: the same transfer id answers its recorded outcome.
    const retriedIds = requests.filter((_, i) => i % 10 === 0)
    yield* Effect.forEach(retriedIds, (r) => transfer(r.id, r.request), { concurrency: config.concurrency, discard: true })

    const reconcile = yield* Reconcile.run
    yield* say(`3. Outcome: ${reconcile.sagas.completed} transfers completed, ${reconcile.sagas.compensated} compensated ` +
      `(${[...reasons].map(([r, n]) => `${r}: ${n}`).join(", ") || "none"}).`)
    yield* say(`   Faults injected: ${faults.counts.before} ledger outages, ${faults.counts.lostAck} lost acknowledgements (applied, then retried: no-op by voucher), ` +
      `${faults.counts.hang} hangs past the ${Transfer.stepTimeoutMs} ms step timeout, ${faults.counts.refused} credits refused by a frozen account.`)
    yield* say(`   ${retriedIds.length} transfers retried by their clients with the same id: answered from their vouchers, no money moved twice.`)
    yield* say(`4. Reconciliation against the journal (replaying ${reconcile.accounts} account streams):`)
    yield* say(`   ${ok(reconcile.totalCents === depositedCents)} money conserved: ${money(reconcile.totalCents)} (deposited ${money(depositedCents)})`)
    yield* say(`   ${ok(reconcile.sagas.open === 0)} every saga ended: ${reconcile.sagas.started} started, ${reconcile.sagas.completed} completed, ${reconcile.sagas.compensated} compensated, ${reconcile.sagas.open} open`)
    yield* say(`   ${ok(reconcile.appliedTwice === 0)} no voucher applied twice (${reconcile.appliedTwice} found); ${ok(reconcile.unbalancedCompensations === 0)} every compensation cancelled its movements (${reconcile.unbalancedCompensations} unbalanced)`)

    const table: Balances.Table = { rows: new Map() }
    yield* Projection.catchUp(Balances.buggy(table))
    const buggyTotalCents = Balances.total(table)
    yield* say(`5. The "balances" read model, version 1: total ${money(buggyTotalCents)} ` +
      (buggyTotalCents === depositedCents
        ? "(matches: no compensation happened, so its bug did not show)."
        : `✗ — ${money(depositedCents - buggyTotalCents)} missing! Version 1 skipped refund credits written by compensations.`))
    const started = Date.now()
    const replayed = yield* Projection.rebuild(Balances.fixed(table))
    const fixedTotalCents = Balances.total(table)
    yield* say(`6. Fixed the handler and rebuilt the projection from the journal (${replayed} positions replayed in ${Date.now() - started} ms): ` +
      `total ${money(fixedTotalCents)} ${ok(fixedTotalCents === depositedCents)}`)
    const top = [...table.rows].sort((a, b) => b[1] - a[1])
    const show = [...top.slice(0, 3), ...top.slice(-2)]
    yield* say(`   richest and poorest accounts now: ${show.map(([id, c]) => `${id} ${money(c)}`).join(", ")}`)

    return {
      depositedCents,
      completed: reconcile.sagas.completed,
      compensated: reconcile.sagas.compensated,
      interruptedByCrash,
      recovered,
      retried: retriedIds.length,
      faults: { ...faults.counts },
      reconcile,
      buggyTotalCents,
      fixedTotalCents,
      replayedEvents: replayed,
      compensationReasons: reasons
    } satisfies Summary
  }).pipe(Effect.provide(Projection.layerMemory))
