import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { Journal, SqliteClient, SqlJournal } from "@mailroom/persistence"
import * as fc from "fast-check"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Bank from "../src/Bank.js"

const quiet = () => Effect.void

const config = (overrides: Partial<Bank.Config> = {}): Bank.Config => ({
  accounts: 8,
  transfers: 80,
  faultRate: 0.2,
  concurrency: 8,
  seed: 1,
  crashAfterMs: 0,
  openingCents: 50_000,
  ...overrides
})

const assertBooksBalance = (s: Bank.Summary) => {
  assert.strictEqual(s.reconcile.totalCents, s.depositedCents, "money is conserved")
  assert.strictEqual(s.reconcile.sagas.open, 0, "every saga ended")
  assert.strictEqual(s.reconcile.sagas.completed + s.reconcile.sagas.compensated, s.reconcile.sagas.started)
  assert.strictEqual(s.reconcile.appliedTwice, 0, "no voucher applied twice")
  assert.strictEqual(s.reconcile.unbalancedCompensations, 0, "compensations cancel their movements")
  assert.strictEqual(s.fixedTotalCents, s.depositedCents, "the rebuilt projection agrees with the journal")
}

describe("Bank", { timeout: 60_000 }, () => {
  it.live("with 20% faults every transfer completes or compensates and the money is conserved", () =>
    Effect.gen(function*() {
      const s = yield* Bank.run(config(), quiet).pipe(Effect.provide(Bank.journalLayer(undefined)))
      assertBooksBalance(s)
      assert.strictEqual(s.reconcile.sagas.started, 80)
      assert.isAbove(s.faults.before + s.faults.lostAck + s.faults.hang, 0, "faults were injected")
      assert.isAbove(s.compensated, 0, "some transfers were compensated")
    }))

  it.live("the buggy projection is short by the refunds; rebuilding it with the fix from the journal corrects it", () =>
    Effect.gen(function*() {
      const s = yield* Bank.run(config({ seed: 3 }), quiet).pipe(Effect.provide(Bank.journalLayer(undefined)))
      assert.isAbove(s.compensated, 0)
      assert.isBelow(s.buggyTotalCents, s.depositedCents)
      assert.strictEqual(s.fixedTotalCents, s.depositedCents)
      assert.isAbove(s.replayedEvents, 0)
    }))

  it.live("a power cut in the middle: Saga.recover resumes the open sagas from their vouchers (SQLite file)", () => {
    const dir = mkdtempSync(join(tmpdir(), "mailroom-bank-"))
    return Effect.gen(function*() {
      const s = yield* Bank.run(config({ transfers: 120, crashAfterMs: 60, concurrency: 16, seed: 5 }), quiet).pipe(
        Effect.provide(Bank.journalLayer(dir))
      )
      assertBooksBalance(s)
      assert.strictEqual(s.reconcile.sagas.started, 120)
      assert.isAbove(s.recovered.resumed, 0, "the crash left sagas in the middle")
      // A cut-off run's last append can land after recovery read the saga: that saga stops with
      // SagaConflict in recovery (the stream moved) and finishes when its client submits it again.
      assert.strictEqual(s.recovered.completed + s.recovered.compensated + s.recovered.conflicts, s.recovered.resumed)
    }).pipe(Effect.ensuring(Effect.sync(() => rmSync(dir, { recursive: true, force: true }))))
  })

  it.live("a second bank on the same data folder is refused and leaves the running bank's ledger alone", () => {
    const dir = mkdtempSync(join(tmpdir(), "mailroom-bank-"))
    return Effect.gen(function*() {
      const first = yield* Layer.build(Bank.journalLayer(dir))
      const journal = first.mapUnsafe.get(Journal.Journal.key) as Journal.Journal["Service"]
      yield* journal.append("account-a", [{ id: "e1", type: "Opened", schemaVersion: 1, data: {} }], 0)
      const second = yield* Effect.flip(Effect.scoped(Layer.build(Bank.journalLayer(dir))))
      assert.include(second.message, "in use")
      assert.strictEqual((yield* journal.readStream("account-a")).length, 1, "the running bank's ledger is intact")
      // ... on disk too: a reader opening the file sees the event.
      const onDisk = yield* Effect.gen(function*() {
        const reader = yield* Journal.Journal
        return yield* reader.readStream("account-a")
      }).pipe(Effect.provide(SqlJournal.layer({ migrate: false }).pipe(Layer.provide(SqliteClient.layer({ filename: join(dir, "bank.db"), readOnly: true })))))
      assert.strictEqual(onDisk.length, 1)
    }).pipe(Effect.scoped, Effect.ensuring(Effect.sync(() => rmSync(dir, { recursive: true, force: true }))))
  })

  it.live("property: for any seed and fault rate the books balance", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 10_000 }), fc.double({ min: 0, max: 0.5, noNaN: true }), async (seed, faultRate) => {
          const s = await Effect.runPromise(
            Bank.run(config({ transfers: 30, accounts: 5, seed, faultRate }), quiet).pipe(Effect.provide(Bank.journalLayer(undefined)))
          )
          assertBooksBalance(s)
        }),
        { numRuns: 4 }
      )
    ))
})
