import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Autoscaler from "../src/Autoscaler.js"

const options = { upAtBacklogPerWorker: 40, upAtAgeMs: 1000, cooldownTicks: 3 }
const figures = (backlog: number, workers: number, oldestAgeMs = 0) => ({ backlog, workers, minWorkers: 1, maxWorkers: 8, oldestAgeMs })

describe("Autoscaler.decide", () => {
  it("scales up one step while work waits, never past the maximum", () => {
    const state = { calmTicks: 0 }
    assert.strictEqual(Autoscaler.decide(figures(500, 2), state, options), 3)
    assert.strictEqual(Autoscaler.decide(figures(10, 2, 2500), state, options), 3)
    assert.strictEqual(Autoscaler.decide(figures(5000, 8), state, options), 8)
  })

  it("scales down only after the backlog stayed small for the cooldown", () => {
    const state = { calmTicks: 0 }
    assert.strictEqual(Autoscaler.decide(figures(0, 4), state, options), 4)
    assert.strictEqual(Autoscaler.decide(figures(0, 4), state, options), 4)
    assert.strictEqual(Autoscaler.decide(figures(0, 4), state, options), 3)
    // a wave in between resets the cooldown
    assert.strictEqual(Autoscaler.decide(figures(0, 3), state, options), 3)
    assert.strictEqual(Autoscaler.decide(figures(900, 3), state, options), 4)
    assert.strictEqual(Autoscaler.decide(figures(0, 4), state, options), 4)
  })

  it("always answers a size within the bounds that differs from the current one by at most one", () => {
    fc.assert(fc.property(
      fc.array(fc.record({ backlog: fc.nat(20_000), age: fc.nat(10_000) }), { minLength: 1, maxLength: 60 }),
      fc.integer({ min: 1, max: 8 }),
      (ticks, start) => {
        const state = { calmTicks: 0 }
        let workers = start
        for (const t of ticks) {
          const next = Autoscaler.decide(figures(t.backlog, workers, t.age), state, options)
          if (next < 1 || next > 8 || Math.abs(next - workers) > 1) return false
          workers = next
        }
        return true
      }
    ))
  })
})
