/** pg-boss against the local PostgreSQL: insert (bulk), work with batches. */
import { PgBoss } from "pg-boss"
import { dropSchema, measure, type RunResult, type Workload } from "./harness.ts"

export const run = async (options: Workload & { readonly pgUrl: string }): Promise<RunResult> => {
  const schema = "mailroom_bench_pgboss"
  const drop = () => dropSchema(options.pgUrl, schema)
  await drop()
  const boss = new PgBoss({ connectionString: options.pgUrl, schema, max: 8 })
  boss.on("error", (e: unknown) => console.error("pg-boss error", e))
  await boss.start()
  const name = "noop"
  await boss.createQueue(name)
  let processed = 0
  // Fastest documented setup: batches (batchSize) fetched in bursts while batches come back
  // full; `localConcurrency` × `batchSize` = at most `concurrency` jobs in flight.
  const batchSize = 25
  const localConcurrency = Math.max(1, Math.floor(options.concurrency / batchSize))
  await boss.work(name, { batchSize, localConcurrency, pollingIntervalSeconds: 0.5, burstWhenBatchFull: true }, async (jobs) => {
    processed += jobs.length
  })
  try {
    const m = await measure(options, {
      bulk: async (chunk) => {
        await boss.insert(name, chunk.map((data) => ({ data })))
      },
      single: async (data) => {
        await boss.send(name, data)
      },
      processed: () => processed
    })
    return {
      system: "pg-boss (PostgreSQL)",
      jobs: options.jobs,
      concurrency: localConcurrency * batchSize,
      durability: "PostgreSQL synchronous_commit=on, fsync=on",
      api: `insert (1,000 per call) / send; work({ batchSize: ${batchSize}, localConcurrency: ${localConcurrency}, burstWhenBatchFull })`,
      ...m,
      processed
    }
  } finally {
    await boss.stop({ graceful: false })
    await drop()
  }
}
