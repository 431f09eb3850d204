/** Shared measurement helpers of the tasks benchmark (run by Node with type stripping). */
import pg from "pg"

/** What every system's run gets: how many jobs, at what concurrency, and how many single submits. */
export interface Workload {
  readonly jobs: number
  readonly concurrency: number
  readonly singles: number
}

export interface RunResult {
  readonly system: string
  readonly jobs: number
  readonly concurrency: number
  readonly durability: string
  readonly api: string
  /** Jobs submitted and processed per second, first submit to last completion. */
  readonly jobsPerSec: number
  /** Jobs durably accepted per second during the submission phase. */
  readonly submitPerSec: number
  /** Latency of one bulk submit call (ms). */
  readonly bulkP50: number
  readonly bulkP99: number
  readonly bulkSize: number
  /** Latency of single durable submits, one at a time (ms). */
  readonly singleP50: number
  readonly singleP99: number
  readonly processed: number
  readonly note?: string
}

export const quantile = (values: Array<number>, q: number): number => {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}

export const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<Array<A>> => {
  const out: Array<Array<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size) as Array<A>)
  return out
}

/** Runs `f` over `items` with at most `concurrency` in flight. */
export const pool = async <A>(items: ReadonlyArray<A>, concurrency: number, f: (a: A) => Promise<void>) => {
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      await f(items[i]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
}

export const waitFor = async (condition: () => boolean, timeoutMs: number, what: string) => {
  const start = Date.now()
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 2))
  }
}

/**
 * The common protocol, the same for every system: workers run while bulk submits of 1,000 jobs
 * go in, 4 calls in flight; then single submits one at a time for latency.
 */
export const measure = async (workload: Workload, system: {
  readonly bulk: (payloads: Array<{ i: number }>) => Promise<void>
  readonly single: (payload: { i: number }) => Promise<void>
  readonly processed: () => number
}) => {
  const options = { ...workload, ...system, bulkSize: 1000, submitConcurrency: 4, timeoutMs: 300_000 }
  const payloads = Array.from({ length: options.jobs }, (_, i) => ({ i }))
  const bulkLatencies: Array<number> = []
  const start = performance.now()
  await pool(chunks(payloads, options.bulkSize), options.submitConcurrency, async (chunk) => {
    const t = performance.now()
    await options.bulk(chunk)
    bulkLatencies.push(performance.now() - t)
  })
  const submitted = performance.now()
  await waitFor(() => options.processed() >= options.jobs, options.timeoutMs, `${options.jobs} jobs processed`)
  const end = performance.now()
  const singleLatencies: Array<number> = []
  for (let i = 0; i < options.singles; i++) {
    const t = performance.now()
    await options.single({ i: options.jobs + i })
    singleLatencies.push(performance.now() - t)
  }
  await waitFor(() => options.processed() >= options.jobs + options.singles, options.timeoutMs, "single jobs processed")
  return {
    jobsPerSec: options.jobs / ((end - start) / 1000),
    submitPerSec: options.jobs / ((submitted - start) / 1000),
    bulkP50: quantile(bulkLatencies, 0.5),
    bulkP99: quantile(bulkLatencies, 0.99),
    singleP50: quantile(singleLatencies, 0.5),
    singleP99: quantile(singleLatencies, 0.99),
    processed: options.processed(),
    bulkSize: options.bulkSize
  }
}

/** Drops a peer's PostgreSQL schema (before and after its run). */
export const dropSchema = async (pgUrl: string, schema: string): Promise<void> => {
  const client = new pg.Client({ connectionString: pgUrl })
  await client.connect()
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  await client.end()
}
