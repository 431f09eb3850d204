/**
 * Write combining: in every window, each of 1,000 keys receives 10 writes spread over the first
 * 5 ms; the backend (simulated time: 1 ms + 50 µs per distinct key, at most 4 calls in flight)
 * applies whatever reaches it. Last-wins writes and combine (sum of increments) are compared
 * with the same scheduler without merging (kind `none`).
 */
import { Clock, Effect, Exit, Scope } from "effect"
import { Operation, Scheduler, Target } from "@mailroom/scheduler"
import { Backend, type Figure, rng, Sim, simClock, table, writeResult } from "./lib.ts"

const KEYS = 1_000
const PER_KEY = 10
const WINDOWS = 10
const WINDOW_MS = 100
/** how long merging writes may be held for more to merge (the writes of a window arrive within 5 ms) */
const MAX_DELAY = "6 millis"

type Mode = "last-wins" | "combine" | "none"

const sum = Operation.combiner<number, number>(
  (inputs) => inputs.reduce((a, b) => a + b, 0),
  (_total, inputs) => inputs
)

const runMode = async (mode: Mode) => {
  const sim = new Sim()
  const backend = new Backend(sim)
  const state = new Map<number, number>()
  let applied = 0
  const target = Target.make<number, number, number>({
    name: `writes-${mode}`,
    capacity: backend.connections,
    handle: (batch) =>
      Effect.promise(() =>
        backend.call(batch.map((w) => w.key)).then(() =>
          batch.map((w) => {
            applied++
            state.set(w.key, mode === "combine" ? (state.get(w.key) ?? 0) + w.input : w.input)
            return w.input
          })
        )
      )
  })
  const scope = Scope.makeUnsafe()
  const lane = await Effect.runPromise(
    Scheduler.attach(target).pipe(
      Scope.provide(scope),
      Effect.provide(Scheduler.layer({ maxPending: 1_000_000, maxDelay: MAX_DELAY })),
      Effect.provideService(Clock.Clock, simClock(sim))
    )
  )
  const random = rng(7)
  const arrivals: Array<{ t: number; key: number; value: number }> = []
  let value = 0
  for (let w = 0; w < WINDOWS; w++) {
    for (let k = 0; k < KEYS; k++) {
      for (let j = 0; j < PER_KEY; j++) arrivals.push({ t: w * WINDOW_MS + random() * 5, key: k, value: ++value })
    }
  }
  arrivals.sort((a, b) => a.t - b.t)
  const expected = new Map<number, number>()
  for (const a of arrivals) expected.set(a.key, mode === "combine" ? (expected.get(a.key) ?? 0) + 1 : a.value)
  let outstanding = 0
  let failed = 0
  let latencySum = 0
  let i = 0
  for (let tick = 1; tick <= WINDOWS * WINDOW_MS; tick++) {
    sim.schedule(tick, () => {
      while (i < arrivals.length && arrivals[i]!.t <= tick) {
        const a = arrivals[i++]!
        outstanding++
        const op = mode === "last-wins"
          ? Operation.write(a.key, a.value)
          : mode === "combine"
          ? Operation.combine(a.key, 1, sum)
          : Operation.single(a.key, a.value)
        lane.submitCallback(op, (exit) => {
          outstanding--
          if (Exit.isFailure(exit)) failed++
          latencySum += sim.now - a.t
          sim.activity++
        })
      }
    })
  }
  await sim.run(WINDOWS * WINDOW_MS + 5_000, () => i === arrivals.length && outstanding === 0)
  await Effect.runPromise(Scope.close(scope, Exit.void))
  let correct = true
  for (const [k, v] of expected) if (state.get(k) !== v) correct = false
  return {
    mode,
    submitted: arrivals.length,
    backendWrites: applied,
    ratio: applied / arrivals.length,
    backendCalls: backend.calls,
    meanLatencyMs: latencySum / arrivals.length,
    failed,
    finalStateCorrect: correct
  }
}

export const run = async () => {
  const results = [await runMode("last-wins"), await runMode("combine"), await runMode("none")]
  table(results.map((r) => ({
    mode: r.mode,
    submitted: r.submitted,
    "backend writes": r.backendWrites,
    "writes/submitted": r.ratio,
    "backend calls": r.backendCalls,
    "mean latency ms": r.meanLatencyMs,
    "final state correct": r.finalStateCorrect ? "yes" : "NO"
  })))
  const none = results[2]!
  const figures: Array<Figure> = results.slice(0, 2).map((r) => ({
    name: `write combining (${r.mode}), ${PER_KEY} writes per key per window`,
    unit: "backend writes / submitted",
    value: Number(r.ratio.toFixed(4)),
    baselines: { "no merging (kind none)": Number(none.ratio.toFixed(4)) },
    target: "about 1/10 (<= 0.15), final state correct",
    met: r.ratio <= 0.15 && r.finalStateCorrect && r.failed === 0
  }))
  const file = writeResult("combining", figures, { keys: KEYS, writesPerKeyPerWindow: PER_KEY, windows: WINDOWS, results })
  console.log(`-> ${file}`)
  return figures
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
