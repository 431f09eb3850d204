/** Graphile Worker against the local PostgreSQL: addJobs (bulk), local queue + batched completion. */
import { Logger, makeWorkerUtils, run as runWorker } from "graphile-worker"
import { dropSchema, measure, type RunResult, type Workload } from "./harness.ts"

export const run = async (options: Workload & { readonly pgUrl: string }): Promise<RunResult> => {
  const schema = "mailroom_bench_graphile"
  const drop = () => dropSchema(options.pgUrl, schema)
  await drop()
  const preset = {
    worker: {
      connectionString: options.pgUrl,
      schema,
      concurrentJobs: options.concurrency,
      maxPoolSize: 12,
      // The documented batching settings for throughput (worker.graphile.org/docs/performance).
      localQueue: { size: 500 },
      completeJobBatchDelay: 0,
      failJobBatchDelay: 0
    }
  }
  // Quiet: the default logger prints a line per job, which would measure the console.
  const logger = new Logger(() => (level, message) => {
    if (level === "error") console.error(message)
  })
  const utils = await makeWorkerUtils({ connectionString: options.pgUrl, schema, logger })
  await utils.migrate()
  let processed = 0
  const runner = await runWorker({
    connectionString: options.pgUrl,
    schema,
    concurrency: options.concurrency,
    noHandleSignals: true,
    logger,
    pollInterval: 100,
    preset,
    taskList: {
      noop: async () => {
        processed++
      }
    }
  })
  try {
    const m = await measure(options, {
      bulk: async (chunk) => {
        await utils.addJobs(chunk.map((payload) => ({ identifier: "noop", payload })))
      },
      single: async (payload) => {
        await utils.addJob("noop", payload)
      },
      processed: () => processed
    })
    return {
      system: "Graphile Worker (PostgreSQL)",
      jobs: options.jobs,
      concurrency: options.concurrency,
      durability: "PostgreSQL synchronous_commit=on, fsync=on",
      api: "addJobs (1,000 per call) / addJob; concurrency + localQueue.size 500 + completeJobBatchDelay 0",
      ...m,
      processed
    }
  } finally {
    await runner.stop()
    await utils.release()
    await drop()
  }
}
