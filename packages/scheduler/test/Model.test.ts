/**
 * Property tests of the per-key guarantees against a sequential model: random interleavings of
 * reads, writes, backend failures, withdrawals (interrupted submitters), batch sizes, credits and
 * handler timing. Driven directly on the engine so every answer can be counted.
 */
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Result } from "effect"
import fc from "fast-check"
import { Operation, Policy, Target } from "@mailroom/scheduler"
import { Engine } from "../src/internal/engine.js"

interface Cmd {
  readonly read: boolean
  readonly key: number
  readonly fail: boolean
  /** 0: stays; 1: withdrawn in the same burst; 2: withdrawn after a macrotask */
  readonly withdraw: 0 | 1 | 2
  readonly gap: boolean
}

const cmd: fc.Arbitrary<Cmd> = fc.record({
  read: fc.boolean(),
  key: fc.integer({ min: 0, max: 2 }),
  fail: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
  withdraw: fc.constantFrom<0 | 1 | 2>(0, 0, 0, 0, 1, 2),
  gap: fc.boolean()
})

const macrotask = () => new Promise<void>((resolve) => setImmediate(resolve))

interface Outcome {
  answers: number
  exit: Exit.Exit<unknown, unknown> | undefined
  superseded: boolean
  withdrawn: boolean
}

const run = async (
  cmds: ReadonlyArray<Cmd>,
  capacity: number,
  maxBatch: number,
  handlerDelays: ReadonlyArray<number>,
  policy: Policy.Policy
) => {
  const state = new Map<number, number>()
  const log = new Map<number, Array<number>>() // applied write seqs per key
  let call = 0
  const target = Target.makeResults<number, { seq: number; fail: boolean }, number, string>({
    name: "model",
    capacity,
    maxBatch,
    handle: (batch) =>
      Effect.gen(function*() {
        const delay = handlerDelays[call++ % handlerDelays.length]!
        for (let i = 0; i < delay; i++) yield* Effect.promise(macrotask)
        return batch.map((w) => {
          if (w.input.fail) return Result.fail(`backend refused ${w.kind} on ${w.key}`)
          if (w.kind === "coalesce") return Result.succeed(state.get(w.key) ?? -1)
          state.set(w.key, w.input.seq)
          const l = log.get(w.key) ?? []
          l.push(w.input.seq)
          log.set(w.key, l)
          return Result.succeed(w.input.seq)
        })
      })
  })
  const engine = new Engine({
    name: "model",
    capacity,
    maxBatch,
    maxDelay: 0,
    maxPending: 1_000,
    whenFull: "wait",
    deadlines: Operation.defaultDeadlines,
    select: policy.make(),
    context: Context.empty(),
    overloaded: () => "overloaded"
  }, target as never)
  const outcomes: Array<Outcome> = cmds.map(() => ({ answers: 0, exit: undefined, superseded: false, withdrawn: false }))
  const done = (exit: Exit.Exit<unknown, unknown>, superseded: boolean, index: number) => {
    const o = outcomes[index]!
    o.answers++
    o.exit = exit
    o.superseded = superseded
  }
  const later: Array<() => void> = []
  for (let i = 0; i < cmds.length; i++) {
    const c = cmds[i]!
    const input = { seq: i, fail: c.fail }
    const op = c.read ? Operation.read(c.key, input) : Operation.write(c.key, input)
    const sub = engine.submit(op, done, i)
    const withdraw = () => {
      outcomes[i]!.withdrawn = true
      engine.withdraw(sub)
    }
    if (c.withdraw === 1) withdraw()
    else if (c.withdraw === 2) later.push(withdraw)
    if (c.gap) {
      await macrotask()
      while (later.length > 0) later.shift()!()
    }
  }
  while (later.length > 0) later.shift()!()
  for (let i = 0; i < 500 && (engine.stats.pending > 0 || engine.stats.inflightBatches > 0); i++) await macrotask()
  return { outcomes, state, log, stats: engine.stats }
}

const check = (cmds: ReadonlyArray<Cmd>, r: Awaited<ReturnType<typeof run>>) => {
  const { outcomes, state, log } = r
  // the engine is idle again: nothing stuck
  expect(r.stats.pending).toBe(0)
  expect(r.stats.inflightBatches).toBe(0)
  for (let i = 0; i < cmds.length; i++) {
    const o = outcomes[i]!
    // every submitter answered exactly once (a withdrawn one at most once)
    if (o.withdrawn) expect(o.answers).toBeLessThanOrEqual(1)
    else expect(o.answers, `submission ${i} answered ${o.answers} times`).toBe(1)
  }
  const succeeded = (i: number) => outcomes[i]!.exit !== undefined && Exit.isSuccess(outcomes[i]!.exit!)
  const failedWrite = (i: number) => !cmds[i]!.read && outcomes[i]!.exit !== undefined && Exit.isFailure(outcomes[i]!.exit!)
  for (const key of [0, 1, 2]) {
    const applied = log.get(key) ?? []
    // per-key order: writes were applied in submission order
    for (let j = 1; j < applied.length; j++) expect(applied[j]!).toBeGreaterThan(applied[j - 1]!)
    // no lost write: the final state is at least every successful write on the key
    const final = state.get(key) ?? -1
    for (let i = 0; i < cmds.length; i++) {
      if (cmds[i]!.key !== key || cmds[i]!.read) continue
      if (succeeded(i)) {
        expect(final, `write ${i} succeeded but final state is ${final}`).toBeGreaterThanOrEqual(i)
        // a write reported successful and not superseded was applied itself
        if (!outcomes[i]!.superseded) expect(applied).toContain(i)
        else expect(applied.some((a) => a > i)).toBe(true)
      }
      // a write that failed was never applied
      if (failedWrite(i)) expect(applied).not.toContain(i)
    }
  }
  // no stale read, no read from the future
  for (let r = 0; r < cmds.length; r++) {
    const c = cmds[r]!
    if (!c.read || !succeeded(r)) continue
    const v = (outcomes[r]!.exit as Exit.Success<number>).value
    expect(v, `read ${r} saw write ${v} submitted after it`).toBeLessThan(r)
    if (v >= 0) {
      expect(cmds[v]!.key).toBe(c.key)
      expect(failedWrite(v), `read ${r} saw failed write ${v}`).toBe(false)
    }
    for (let w = 0; w < r; w++) {
      if (cmds[w]!.key === c.key && !cmds[w]!.read && succeeded(w)) {
        expect(v, `read ${r} missed successful write ${w}`).toBeGreaterThanOrEqual(w)
      }
    }
  }
}

describe("sequential model", () => {
  it("no lost write, no stale read, every submitter answered exactly once", async () => {
    const seen = { coalesced: 0, superseded: 0, dropped: 0, withdrawn: 0, failed: 0, runs: 0 }
    await fc.assert(
      fc.asyncProperty(
        fc.array(cmd, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 4 }),
        fc.constantFrom(Policy.fifo, Policy.elevator, Policy.priority, Policy.fairShare()),
        async (cmds, capacity, maxBatch, delays, policy) => {
          const r = await run(cmds, capacity, maxBatch, delays, policy)
          check(cmds, r)
          seen.runs++
          seen.coalesced += r.stats.coalesced
          seen.superseded += r.stats.superseded
          seen.dropped += r.stats.dropped
          seen.withdrawn += r.outcomes.filter((o) => o.withdrawn).length
          seen.failed += r.outcomes.filter((o) => o.exit !== undefined && Exit.isFailure(o.exit)).length
        }
      ),
      { numRuns: 200 }
    )
    // the interleavings exercised every merge and failure path (the property is not vacuous)
    expect(seen.runs).toBe(200)
    expect(seen.coalesced).toBeGreaterThan(0)
    expect(seen.superseded).toBeGreaterThan(0)
    expect(seen.dropped).toBeGreaterThan(0)
    expect(seen.withdrawn).toBeGreaterThan(0)
    expect(seen.failed).toBeGreaterThan(0)
  })
})
