/**
 * Load scaling: 1 to 1,000 concurrent submitters in a closed loop (each reads a Zipf(1.0) key
 * of 10,000, waits for it, reads the next) against the simulated backend (1 ms + 50 µs per
 * distinct key, at most 4 calls in flight) for one simulated second. Mailroom's completed reads
 * per second should not fall as submitters are added, while backend calls per read fall.
 * DataLoader (cache off) at the same concurrency is printed alongside.
 */
import DataLoader from "dataloader"
import { Operation } from "@mailroom/scheduler"
import { Backend, type Figure, readLane, rng, Sim, table, writeResult, zipf } from "./lib.ts"

const LEVELS = [1, 10, 100, 1_000]
const DURATION_MS = 1_000

type Reader = (key: number, done: () => void) => void

const mailroomReader = async (backend: Backend): Promise<{ read: Reader; close: () => Promise<void> }> => {
  const { lane, close } = await readLane(backend, "scaling", { maxBatch: 100_000 })
  return {
    read: (key, done) => {
      lane.submitCallback(Operation.read(key), done)
    },
    close
  }
}

const dataLoaderReader = async (backend: Backend): Promise<{ read: Reader; close: () => Promise<void> }> => {
  const loader = new DataLoader<number, number>((keys) => backend.call(keys), { cache: false })
  return { read: (key, done) => void loader.load(key).then(done), close: async () => {} }
}

const runLevel = async (
  submitters: number,
  make: (backend: Backend) => Promise<{ read: Reader; close: () => Promise<void> }>
) => {
  const sim = new Sim()
  const backend = new Backend(sim)
  const reader = await make(backend)
  const nextKey = zipf(10_000, 1.0, rng(submitters))
  let completed = 0
  let stopped = false
  const loop = () => {
    reader.read(nextKey(), () => {
      sim.activity++
      if (stopped) return
      completed++
      loop()
    })
  }
  sim.schedule(0, () => {
    for (let i = 0; i < submitters; i++) loop()
  })
  await sim.run(DURATION_MS)
  stopped = true
  await sim.run(DURATION_MS + 1_000)
  await reader.close()
  return { submitters, readsPerSec: completed / (DURATION_MS / 1000), callsPerRead: backend.calls / Math.max(1, completed) }
}

export const run = async () => {
  const rows = []
  const mailroom = []
  for (const level of LEVELS) {
    const m = await runLevel(level, mailroomReader)
    const d = await runLevel(level, dataLoaderReader)
    mailroom.push(m)
    rows.push({
      submitters: level,
      "Mailroom reads/s": Math.round(m.readsPerSec),
      "Mailroom calls/read": m.callsPerRead,
      "DataLoader reads/s": Math.round(d.readsPerSec),
      "DataLoader calls/read": d.callsPerRead
    })
  }
  table(rows)
  let throughputNeverFalls = true
  let callsFall = true
  for (let i = 1; i < mailroom.length; i++) {
    if (mailroom[i]!.readsPerSec < mailroom[i - 1]!.readsPerSec) throughputNeverFalls = false
    if (mailroom[i]!.callsPerRead >= mailroom[i - 1]!.callsPerRead) callsFall = false
  }
  const figures: Array<Figure> = [
    {
      name: "load scaling: reads/s at 1,000 submitters relative to 1 submitter",
      unit: "ratio",
      value: Number((mailroom.at(-1)!.readsPerSec / mailroom[0]!.readsPerSec).toFixed(2)),
      baselines: Object.fromEntries(rows.map((r) => [`DataLoader reads/s at ${r.submitters}`, r["DataLoader reads/s"]])),
      target: "completed reads/s never falls as submitters grow 1 -> 10 -> 100 -> 1,000",
      met: throughputNeverFalls
    },
    {
      name: "load scaling: backend calls per read at 1,000 submitters",
      unit: "calls/read",
      value: Number(mailroom.at(-1)!.callsPerRead.toFixed(4)),
      baselines: { "at 1 submitter": Number(mailroom[0]!.callsPerRead.toFixed(4)) },
      target: "falls at every step",
      met: callsFall
    }
  ]
  const file = writeResult("scaling", figures, { levels: LEVELS, durationMs: DURATION_MS, rows })
  console.log(`-> ${file}`)
  return figures
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
