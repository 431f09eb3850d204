/**
 * Read coalescing under open-loop load: Poisson arrivals, Zipf(1.0) over 10,000 keys, against a
 * backend whose batch call costs 1 ms + 50 µs per distinct key with at most 4 calls in flight.
 * Strategies: no coalescing, DataLoader (cache off), a single-flight map, and Mailroom.
 *
 * Time is simulated (see `Sim` in lib.ts): the strategies' code runs for real, the backend's
 * service time and the clock are simulated, so the figures do not depend on machine load.
 * Requests are issued in 1 ms ticks — every request that arrived during a tick is issued in
 * one go — which lets DataLoader batch them together: this favours DataLoader.
 */
import DataLoader from "dataloader"
import { Exit } from "effect"
import { Operation } from "@mailroom/scheduler"
import { Backend, type Figure, percentile, readLane, rng, Sim, table, writeResult, zipf } from "./lib.ts"

interface Strategy {
  readonly read: (key: number) => Promise<number>
  readonly close: () => Promise<void>
}

type Make = (backend: Backend) => Promise<Strategy>

const noCoalescing: Make = async (backend) => ({
  read: (key) => backend.call([key]).then((v) => v[0]!),
  close: async () => {}
})

const dataLoader: Make = async (backend) => {
  const loader = new DataLoader<number, number>((keys) => backend.call(keys), { cache: false })
  return { read: (key) => loader.load(key), close: async () => {} }
}

const singleFlight: Make = async (backend) => {
  const inflight = new Map<number, Promise<number>>()
  return {
    read: (key) => {
      const p = inflight.get(key)
      if (p !== undefined) return p
      const q = backend.call([key]).then((v) => v[0]!).finally(() => inflight.delete(key))
      inflight.set(key, q)
      return q
    },
    close: async () => {}
  }
}

const mailroom: Make = async (backend) => {
  const { lane, close } = await readLane(backend, "bench-reads", { maxBatch: 100_000, maxPending: 1_000_000 })
  return {
    read: (key) =>
      new Promise((resolve, reject) => {
        lane.submitCallback(Operation.read(key), (exit) => Exit.isSuccess(exit) ? resolve(exit.value) : reject(exit))
      }),
    close
  }
}

export const strategies: ReadonlyArray<readonly [string, Make]> = [
  ["no coalescing", noCoalescing],
  ["DataLoader", dataLoader],
  ["single-flight", singleFlight],
  ["Mailroom", mailroom]
]

export interface RateResult {
  strategy: string
  rate: number
  offered: number
  completed: number
  keysFetched: number
  backendCalls: number
  keysPerRead: number
  p50: number
  p99: number
  backlogEnd: number
  bounded: boolean
  sustained: boolean
}

export const runRate = async (name: string, make: Make, rate: number, durationMs: number, seed: number): Promise<RateResult> => {
  const sim = new Sim()
  const backend = new Backend(sim)
  const strategy = await make(backend)
  const random = rng(seed)
  const nextKey = zipf(10_000, 1.0, random)
  const arrivals: Array<number> = []
  const keys: Array<number> = []
  for (let t = 0; ;) {
    t += (-Math.log(1 - random()) / rate) * 1000
    if (t >= durationMs) break
    arrivals.push(t)
    keys.push(nextKey())
  }
  const n = arrivals.length
  const latency = new Float64Array(n).fill(Number.POSITIVE_INFINITY)
  let outstanding = 0
  let completed = 0
  let maxFirstHalf = 0
  let maxSecondHalf = 0
  // a 1 ms tick issues every request that arrived during it, in one go
  let i = 0
  for (let tick = 1; tick <= Math.ceil(durationMs); tick++) {
    sim.schedule(tick, () => {
      while (i < n && arrivals[i]! <= tick) {
        const idx = i++
        outstanding++
        strategy.read(keys[idx]!).then(() => {
          latency[idx] = sim.now - arrivals[idx]!
          outstanding--
          completed++
          sim.activity++
        })
      }
      if (tick <= durationMs / 2) maxFirstHalf = Math.max(maxFirstHalf, outstanding)
      else maxSecondHalf = Math.max(maxSecondHalf, outstanding)
    })
  }
  await sim.run(durationMs + 1)
  const backlogEnd = outstanding
  // drain for up to one simulated second
  await sim.run(durationMs + 1_001, () => outstanding === 0)
  const drained = outstanding === 0
  await strategy.close()
  const sorted = Float64Array.from(latency).sort()
  const p50 = percentile(sorted, 50)
  const p99 = percentile(sorted, 99)
  // bounded: everything finished within a second after arrivals stopped, and the backlog did
  // not keep growing through the run
  const bounded = drained && maxSecondHalf <= 1.5 * maxFirstHalf + 50
  return {
    strategy: name,
    rate,
    offered: n,
    completed,
    keysFetched: backend.keysFetched,
    backendCalls: backend.calls,
    keysPerRead: backend.keysFetched / Math.max(1, completed),
    p50,
    p99,
    backlogEnd,
    bounded,
    sustained: bounded && p99 < 50
  }
}

export const run = async (options?: { readonly rates?: ReadonlyArray<number>; readonly durationMs?: number }) => {
  const rates = options?.rates ??
    [2_000, 4_000, 8_000, 16_000, 32_000, 48_000, 64_000, 96_000, 128_000, 192_000, 256_000, 320_000, 384_000, 512_000]
  const durationMs = options?.durationMs ?? 2_000
  const results: Array<RateResult> = []
  const failed = new Set<string>()
  for (const rate of rates) {
    for (const [name, make] of strategies) {
      if (failed.has(name)) continue // once a strategy cannot sustain a rate, higher ones are skipped
      const r = await runRate(name, make, rate, durationMs, 1_000 + rate)
      results.push(r)
      if (!r.sustained) failed.add(name)
      console.log(
        `  ${name.padEnd(14)} ${String(rate).padStart(6)}/s  keys ${r.keysFetched}  calls ${r.backendCalls}  p50 ${r.p50.toFixed(1)}  p99 ${
          Number.isFinite(r.p99) ? r.p99.toFixed(1) : "∞"
        } ms  ${r.sustained ? "sustained" : r.bounded ? "p99 too high" : "backlog grows"}`
      )
    }
  }
  const maxRate = (name: string) =>
    Math.max(0, ...results.filter((r) => r.strategy === name && r.sustained).map((r) => r.rate))
  const rows = results.map((r) => ({
    strategy: r.strategy,
    "rate/s": r.rate,
    "keys fetched": r.keysFetched,
    "backend calls": r.backendCalls,
    "p50 ms": r.p50,
    "p99 ms": Number.isFinite(r.p99) ? r.p99 : "inf",
    bounded: r.bounded ? "yes" : "no",
    sustained: r.sustained ? "yes" : "no"
  }))
  table(rows)
  const dl = maxRate("DataLoader")
  const mr = maxRate("Mailroom")
  // at rates DataLoader sustains: Mailroom's keys fetched <= DataLoader's and p99 no worse
  const shared = results.filter((r) => r.strategy === "DataLoader" && r.sustained).map((r) => r.rate)
  const comparisons = shared.map((rate) => {
    const d = results.find((r) => r.strategy === "DataLoader" && r.rate === rate)!
    const m = results.find((r) => r.strategy === "Mailroom" && r.rate === rate)
    return {
      rate,
      dataLoaderKeys: d.keysFetched,
      mailroomKeys: m?.keysFetched ?? Number.NaN,
      dataLoaderP99: d.p99,
      mailroomP99: m?.p99 ?? Number.NaN,
      // p99 "no worse": within 1 ms (timer granularity) of DataLoader's
      met: m !== undefined && m.keysFetched <= d.keysFetched && m.p99 <= d.p99 + 1
    }
  })
  const figures: Array<Figure> = [
    {
      name: "max sustained read rate (p99 < 50 ms, backlog bounded)",
      unit: "reads/s",
      value: mr,
      baselines: { DataLoader: dl, "single-flight": maxRate("single-flight"), "no coalescing": maxRate("no coalescing") },
      target: "Mailroom >= 2x DataLoader",
      met: mr >= 2 * dl && dl > 0
    },
    ...comparisons.map((c) => ({
      name: `keys fetched at ${c.rate} reads/s`,
      unit: "keys",
      value: c.mailroomKeys,
      baselines: { DataLoader: c.dataLoaderKeys, "DataLoader p99 ms": c.dataLoaderP99, "Mailroom p99 ms": c.mailroomP99 },
      target: "Mailroom keys <= DataLoader's and p99 no worse (within 1 ms timer granularity)",
      met: c.met
    }))
  ]
  const file = writeResult("coalescing", figures, { durationMs, rates, results })
  console.log(`max sustained: Mailroom ${mr}/s, DataLoader ${dl}/s -> ${file}`)
  return figures
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
