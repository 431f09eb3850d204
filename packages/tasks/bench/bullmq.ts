/** BullMQ against the local Redis: Queue.addBulk, Worker with concurrency. */
import { Queue, Worker } from "bullmq"
import { createClient } from "redis"
import { measure, type RunResult, type Workload } from "./harness.ts"

export const run = async (options: Workload & { readonly redisUrl: string }): Promise<RunResult> => {
  // `ioredis` is not installed here; BullMQ takes a connected node-redis client instead.
  const connect = async () => {
    const client = createClient({ url: options.redisUrl })
    await client.connect()
    return client
  }
  const name = `mailroom-bench-${process.pid}`
  const queue = new Queue(name, { connection: await connect() as never })
  let completed = 0
  const worker = new Worker(name, async () => {}, {
    connection: await connect() as never,
    concurrency: options.concurrency,
    autorun: true
  })
  worker.on("completed", () => {
    completed++
  })
  const jobOptions = { removeOnComplete: true, removeOnFail: true }
  try {
    const m = await measure(options, {
      bulk: async (chunk) => {
        await queue.addBulk(chunk.map((data) => ({ name: "noop", data, opts: jobOptions })))
      },
      single: async (data) => {
        await queue.add("noop", data, jobOptions)
      },
      processed: () => completed
    })
    const probe = await connect()
    const aof = await probe.configGet("appendonly")
    const save = await probe.configGet("save")
    await probe.quit()
    return {
      system: "BullMQ (Redis)",
      jobs: options.jobs,
      concurrency: options.concurrency,
      durability: `Redis appendonly=${aof.appendonly}, save="${save.save}"` +
        (aof.appendonly === "no" && !save.save ? ": NOT durable (a Redis restart loses every job)" : ""),
      api: "Queue.addBulk (1,000 per call) / Queue.add; Worker concurrency; removeOnComplete",
      ...m,
      processed: completed
    }
  } finally {
    await worker.close()
    await queue.obliterate({ force: true })
    await queue.close()
  }
}
