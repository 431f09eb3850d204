/**
 * Elevator: a simulated disk whose seek cost is the key distance (simulated time: a full-stroke
 * seek over 1,000,000 keys takes 10 ms, plus 0.1 ms per request), queue depth 64 (64 requests
 * outstanding; each completion submits the next request of a seeded random trace). The disk
 * serves one request at a time; the scheduler chooses which. Total head travel under Mailroom's
 * elevator (C-SCAN) and FIFO policies is compared with an ideal sorted sweep computed offline
 * on the same trace (C-SCAN over the 64 outstanding requests, with no scheduler in between),
 * and every request's dispatch is checked against its deadline (500 ms, the default for reads).
 */
import { Clock, Effect, Exit, Scope } from "effect"
import { Operation, Policy, Scheduler, Target } from "@mailroom/scheduler"
import { type Figure, rng, Sim, simClock, table, writeResult } from "./lib.ts"

const SPAN = 1_000_000
const DEPTH = 64
const N = 20_000
const SEEK_MS_PER_KEY = 10 / SPAN
const TRANSFER_MS = 0.1
const DEADLINE_MS = Operation.defaultDeadlines.coalesce

const trace = () => {
  const random = rng(42)
  return Array.from({ length: N }, () => Math.floor(random() * SPAN))
}

/** Runs the trace through the scheduler with `policy`; returns head travel and deadline misses. */
const viaScheduler = async (policy: Policy.Policy, keys: ReadonlyArray<number>) => {
  const sim = new Sim()
  let head = 0
  let travel = 0
  let misses = 0
  let maxWait = 0
  const target = Target.make<number, number, number>({
    name: `disk-${policy.name}`,
    capacity: 1,
    maxBatch: 1,
    handle: (batch) =>
      Effect.callback<ReadonlyArray<number>>((resume) => {
        const w = batch[0]!
        const waited = sim.now - w.input
        if (waited > maxWait) maxWait = waited
        if (waited > DEADLINE_MS) misses++
        const distance = Math.abs(w.key - head)
        travel += distance
        head = w.key
        sim.schedule(sim.now + distance * SEEK_MS_PER_KEY + TRANSFER_MS, () => resume(Effect.succeed([w.key])))
      })
  })
  const scope = Scope.makeUnsafe()
  const lane = await Effect.runPromise(
    Scheduler.attach(target).pipe(
      Scope.provide(scope),
      Effect.provide(Scheduler.layer({ policy })),
      Effect.provideService(Clock.Clock, simClock(sim))
    )
  )
  let next = 0
  let completed = 0
  const submit = () => {
    const key = keys[next++]!
    // the input carries the submission time, to check the deadline at dispatch
    lane.submitCallback(Operation.read(key, sim.now), () => {
      completed++
      sim.activity++
      if (next < keys.length) submit()
    })
  }
  sim.schedule(0, () => {
    for (let i = 0; i < DEPTH; i++) submit()
  })
  await sim.run(Number.POSITIVE_INFINITY, () => completed === keys.length)
  await Effect.runPromise(Scope.close(scope, Exit.void))
  return { travel, misses, maxWait, completed, simulatedMs: sim.now }
}

/** The ideal: C-SCAN over the outstanding requests, computed directly (no scheduler). */
const idealSweep = (keys: ReadonlyArray<number>) => {
  const pending: Array<number> = keys.slice(0, DEPTH)
  let next = DEPTH
  let head = 0
  let travel = 0
  while (pending.length > 0) {
    let best = -1
    let lowest = -1
    for (let i = 0; i < pending.length; i++) {
      const k = pending[i]!
      if (k >= head && (best < 0 || k < pending[best]!)) best = i
      if (lowest < 0 || k < pending[lowest]!) lowest = i
    }
    const pick = best >= 0 ? best : lowest
    const k = pending[pick]!
    travel += Math.abs(k - head)
    head = k
    pending.splice(pick, 1)
    if (next < keys.length) pending.push(keys[next++]!)
  }
  return travel
}

export const run = async () => {
  const keys = trace()
  const elevator = await viaScheduler(Policy.elevator, keys)
  const fifo = await viaScheduler(Policy.fifo, keys)
  const ideal = idealSweep(keys)
  table([
    { policy: "Mailroom elevator", "head travel": elevator.travel, "vs FIFO": elevator.travel / fifo.travel, "vs ideal": elevator.travel / ideal, "deadline misses": elevator.misses, "max wait ms": elevator.maxWait },
    { policy: "Mailroom FIFO", "head travel": fifo.travel, "vs FIFO": 1, "vs ideal": fifo.travel / ideal, "deadline misses": fifo.misses, "max wait ms": fifo.maxWait },
    { policy: "ideal sorted sweep", "head travel": ideal, "vs FIFO": ideal / fifo.travel, "vs ideal": 1, "deadline misses": "-", "max wait ms": "-" }
  ])
  const figures: Array<Figure> = [
    {
      name: "elevator head travel relative to FIFO (queue depth 64)",
      unit: "ratio",
      value: Number((elevator.travel / fifo.travel).toFixed(4)),
      baselines: { "FIFO travel": fifo.travel, "elevator travel": elevator.travel },
      target: "<= 0.2",
      met: elevator.travel <= fifo.travel / 5
    },
    {
      name: "elevator head travel relative to an ideal sorted sweep",
      unit: "ratio",
      value: Number((elevator.travel / ideal).toFixed(4)),
      baselines: { "ideal travel": ideal },
      target: "<= 1.2",
      met: elevator.travel <= 1.2 * ideal
    },
    {
      name: "elevator operations dispatched past their deadline",
      unit: "operations",
      value: elevator.misses,
      baselines: { FIFO: fifo.misses, "elevator max wait ms": Number(elevator.maxWait.toFixed(2)) },
      target: "0",
      met: elevator.misses === 0
    }
  ]
  const file = writeResult("elevator", figures, { span: SPAN, depth: DEPTH, requests: N, elevator, fifo, ideal })
  console.log(`-> ${file}`)
  return figures
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
