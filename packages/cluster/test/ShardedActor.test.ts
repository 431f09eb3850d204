import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestRunner } from "effect/cluster"
import { ShardedActor } from "../src/index.js"
import { Account, Balance, Deposit, Withdraw } from "./fixtures.js"

const Live = ShardedActor.layer(Account).pipe(Layer.provideMerge(TestRunner.layer))

describe("ShardedActor (one process, in-memory cluster)", () => {
  it.live("tell and ask a sharded actor", () =>
    Effect.gen(function*() {
      const alice = yield* ShardedActor.ref(Account, "alice")
      yield* alice.tell(new Deposit({ amount: 100 }))
      const left = yield* alice.ask(new Withdraw({ amount: 30 }))
      expect(left).toBe(70)
      expect(yield* alice.ask(new Balance())).toBe(70)
      const error = yield* Effect.flip(alice.ask(new Withdraw({ amount: 1000 })))
      expect(error).toMatchObject({ _tag: "InsufficientFunds", balance: 70 })
    }).pipe(Effect.provide(Live)))
})
