/**
 * Scheduler overhead: operations per second end to end (submit → merge/order → batch →
 * no-op handler → answer) with a no-op backend, measured in real time on this machine.
 * Baseline in the same run: DataLoader (cache off) with a no-op batch function.
 */
import DataLoader from "dataloader"
import { Effect, Exit, Fiber, Scope } from "effect"
import { Operation, Scheduler, Target } from "@mailroom/scheduler"
import { type Figure, rng, table, writeResult } from "./lib.ts"

const KEYS = 10_000

/**
 * A workload: keys drawn uniformly from 10,000, and for the mixed one whether each operation is
 * a read or a write. Operations themselves are built by the callers inside the timed region
 * (`chunkOf`), as real callers would, so the heap holds no million pre-built objects.
 */
interface Workload {
  readonly keys: Int32Array
  readonly reads: Uint8Array | undefined
}
const makeOps = (n: number, kind: "none" | "mixed", seed: number): Workload => {
  const random = rng(seed)
  const keys = new Int32Array(n)
  const reads = kind === "mixed" ? new Uint8Array(n) : undefined
  for (let i = 0; i < n; i++) {
    keys[i] = Math.floor(random() * KEYS)
    if (reads !== undefined) reads[i] = random() < 0.5 ? 1 : 0
  }
  return { keys, reads }
}
const opAt = (w: Workload, i: number): Operation.Operation<number, number> =>
  w.reads === undefined
    ? Operation.single(w.keys[i]!, i)
    : w.reads[i] === 1
    ? Operation.read(w.keys[i]!, i)
    : Operation.write(w.keys[i]!, i)
const chunkOf = (w: Workload, from: number, to: number) => {
  const ops: Array<Operation.Operation<number, number>> = []
  for (let i = from; i < to; i++) ops.push(opAt(w, i))
  return ops
}
const slice = (w: Workload, from: number, to: number): Workload => ({
  keys: w.keys.subarray(from, to),
  reads: w.reads?.subarray(from, to)
})

const withLane = async <A>(f: (lane: Scheduler.Lane<number, number, number, never>) => Promise<A>): Promise<A> => {
  const target = Target.make<number, number, number>({
    name: "noop",
    capacity: 4,
    handle: (batch) => Effect.sync(() => batch.map((w) => w.input))
  })
  const scope = Scope.makeUnsafe()
  const lane = await Effect.runPromise(
    Scheduler.attach(target).pipe(Scope.provide(scope), Effect.provide(Scheduler.layer({ maxBatch: 4096 })))
  )
  try {
    return await f(lane)
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

/** `fibers` concurrent fibers each submit chunks of `chunk` operations with submitAll. */
const viaSubmitAll = (w: Workload, fibers: number, chunk: number) =>
  withLane(async (lane) => {
    const n = w.keys.length
    const t0 = performance.now()
    await Effect.runPromise(Effect.gen(function*() {
      const running = []
      const per = Math.ceil(n / fibers)
      for (let f = 0; f < fibers; f++) {
        const from = f * per
        const to = Math.min(n, from + per)
        running.push(yield* Effect.forkChild(Effect.gen(function*() {
          for (let i = from; i < to; i += chunk) yield* lane.submitAll(chunkOf(w, i, Math.min(to, i + chunk)))
        })))
      }
      yield* Fiber.joinAll(running)
    }))
    return n / ((performance.now() - t0) / 1000)
  })

/** Plain-code callers: `chunk` submitCallback calls per macrotask, `inflight` chunks outstanding. */
const viaCallback = (w: Workload, chunk: number) =>
  withLane((lane) =>
    new Promise<number>((resolve) => {
      const n = w.keys.length
      const t0 = performance.now()
      let next = 0
      let done = 0
      const onExit = () => {
        if (++done === n) resolve(n / ((performance.now() - t0) / 1000))
      }
      const step = () => {
        const end = Math.min(n, next + chunk)
        for (; next < end; next++) lane.submitCallback(opAt(w, next), onExit)
        if (next < n) setImmediate(step)
      }
      step()
    })
  )

/** One Effect fiber per operation (Effect.forEach, 1,000 concurrent). */
const viaFibers = (w: Workload) =>
  withLane(async (lane) => {
    const n = w.keys.length
    const t0 = performance.now()
    await Effect.runPromise(
      Effect.forEach(w.keys, (_key, i) => lane.submit(opAt(w, i)), { concurrency: 1_000, discard: true })
    )
    return n / ((performance.now() - t0) / 1000)
  })

const viaDataLoader = async (w: Workload, chunk: number) => {
  const loader = new DataLoader<number, number>(async (keys) => keys.slice(), { cache: false, maxBatchSize: 4096 })
  const n = w.keys.length
  const t0 = performance.now()
  for (let i = 0; i < n; i += chunk) {
    const keys: Array<number> = []
    for (let j = i; j < Math.min(n, i + chunk); j++) keys.push(w.keys[j]!)
    await loader.loadMany(keys)
  }
  return n / ((performance.now() - t0) / 1000)
}

/** CPU seconds (user + system) this process used since `from`. */
const cpuSince = (from: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(from)
  return (d.user + d.system) / 1e6
}

/**
 * Best of `runs`: wall-clock ops/s, and ops per CPU-second of this process (less sensitive to
 * other work on a shared machine; it includes GC threads, so it is if anything pessimistic).
 */
const best = async (runs: number, n: number, f: () => Promise<number>) => {
  let wall = 0
  let cpu = 0
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage()
    wall = Math.max(wall, await f())
    cpu = Math.max(cpu, n / cpuSince(c0))
  }
  return { wall, cpu }
}

export const run = async () => {
  const N = 1_000_000
  const none = makeOps(N, "none", 1)
  const mixed = makeOps(N, "mixed", 2)
  await viaSubmitAll(slice(none, 0, 100_000), 4, 1_000) // warm-up
  const measured = [
    { path: "submitAll, 16 fibers x 1,000-op chunks, no merging", m: await best(3, N, () => viaSubmitAll(none, 16, 1_000)) },
    { path: "submitAll, 16 fibers x 1,000-op chunks, reads+writes", m: await best(3, N, () => viaSubmitAll(mixed, 16, 1_000)) },
    { path: "submitCallback from plain code, 1,000 per tick", m: await best(3, N, () => viaCallback(none, 1_000)) },
    { path: "one Effect fiber per operation (submit)", m: await best(2, 200_000, () => viaFibers(slice(none, 0, 200_000))) },
    { path: "baseline: DataLoader loadMany, 1,000-key chunks", m: await best(3, N, () => viaDataLoader(none, 1_000)) }
  ]
  const rows = measured.map((r) => ({ path: r.path, opsPerSec: r.m.wall, opsPerCpuSec: r.m.cpu }))
  table(rows.map((r) => ({ path: r.path, "ops/s (wall)": Math.round(r.opsPerSec), "ops per CPU-s": Math.round(r.opsPerCpuSec) })))
  const headline = rows[0]!.opsPerSec
  const figures: Array<Figure> = [
    {
      name: "scheduler overhead, submitAll path, no-op backend",
      unit: "ops/s",
      value: Math.round(headline),
      baselines: {
        "DataLoader loadMany (cache off)": Math.round(rows[4]!.opsPerSec),
        "same path, ops per CPU-second": Math.round(rows[0]!.opsPerCpuSec)
      },
      target: ">= 2,000,000 ops/s end to end",
      met: headline >= 2_000_000
    },
    ...rows.slice(1, 4).map((r) => ({
      name: `scheduler overhead, ${r.path}`,
      unit: "ops/s",
      value: Math.round(r.opsPerSec),
      baselines: {
        "DataLoader loadMany (cache off)": Math.round(rows[4]!.opsPerSec),
        "same path, ops per CPU-second": Math.round(r.opsPerCpuSec)
      },
      target: ">= 2,000,000 ops/s end to end",
      met: r.opsPerSec >= 2_000_000
    }))
  ]
  const file = writeResult("overhead", figures, { operations: N, keys: KEYS, rows })
  console.log(`-> ${file}`)
  return figures
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
