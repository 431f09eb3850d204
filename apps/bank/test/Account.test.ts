import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Journal } from "@mailroom/persistence"
import * as Account from "../src/Account.js"

const debit = (cents: number, voucher: string) => ({ _tag: "Debited" as const, cents, transfer: voucher, refund: false })

describe("Account", () => {
  it.effect("a movement applies at most once per voucher", () =>
    Effect.gen(function*() {
      yield* Account.open("a", "ada", 1000)
      yield* Account.move("a", "v1", debit(300, "v1"))
      yield* Account.move("a", "v1", debit(300, "v1"))
      const s = yield* Account.load("a")
      assert.strictEqual(s.cents, 700)
      assert.strictEqual(s.version, 2)
    }).pipe(Effect.provide(Journal.layerMemory())))

  it.effect("a debit never overdraws, and names the account and amounts", () =>
    Effect.gen(function*() {
      yield* Account.open("a", "ada", 100)
      const e = yield* Effect.flip(Account.move("a", "v1", debit(300, "v1")))
      assert.strictEqual(e._tag, "InsufficientFunds")
      assert.include(e.message, "account a holds 100 cents, 300 wanted")
      const unknown = yield* Effect.flip(Account.move("zz", "v2", debit(1, "v2")))
      assert.strictEqual(unknown._tag, "UnknownAccount")
    }).pipe(Effect.provide(Journal.layerMemory())))

  it.effect("undo reverses an applied movement once; a voided voucher can never apply later", () =>
    Effect.gen(function*() {
      yield* Account.open("a", "ada", 1000)
      yield* Account.move("a", "v1", debit(250, "v1"))
      yield* Account.undo("a", "v1", "v1")
      yield* Account.undo("a", "v1", "v1")
      assert.strictEqual((yield* Account.load("a")).cents, 1000)
      // compensation before the action: the late action is a no-op
      yield* Account.undo("a", "v2", "v2")
      yield* Account.move("a", "v2", debit(400, "v2"))
      assert.strictEqual((yield* Account.load("a")).cents, 1000)
    }).pipe(Effect.provide(Journal.layerMemory())))

  it.live("concurrent debits on one account cannot both pass the balance check", () =>
    Effect.gen(function*() {
      yield* Account.open("a", "ada", 1000)
      const results = yield* Effect.forEach(
        Array.from({ length: 8 }, (_, i) => `v${i}`),
        (v) => Effect.result(Account.move("a", v, debit(300, v))),
        { concurrency: "unbounded" }
      )
      const ok = results.filter((r) => r._tag === "Success").length
      assert.strictEqual(ok, 3)
      assert.strictEqual((yield* Account.load("a")).cents, 100)
    }).pipe(Effect.provide(Journal.layerMemory())))
})
