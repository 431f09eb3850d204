/** Runs one system of the benchmark in this process and prints its result as JSON (last line). */
import type { RunResult } from "./harness.ts"

const [system, jobsArg, concurrencyArg, singlesArg] = process.argv.slice(2)
const jobs = Number(jobsArg)
const concurrency = Number(concurrencyArg)
const singles = Number(singlesArg)
const pgUrl = process.env.MAILROOM_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const redisUrl = process.env.MAILROOM_REDIS_URL ?? "redis://127.0.0.1:6379"

let result: RunResult
switch (system) {
  case "mailroom-sqlite":
    result = await (await import("./mailroom.ts")).run({ backend: "sqlite", batch: 10, jobs, concurrency, singles })
    break
  case "mailroom-sqlite-batch1":
    result = await (await import("./mailroom.ts")).run({ backend: "sqlite", batch: 1, jobs, concurrency, singles })
    break
  case "mailroom-pg":
    result = await (await import("./mailroom.ts")).run({ backend: "pg", batch: 10, jobs, concurrency, singles, pgUrl })
    break
  case "bullmq":
    result = await (await import("./bullmq.ts")).run({ jobs, concurrency, singles, redisUrl })
    break
  case "pg-boss":
    result = await (await import("./pgboss.ts")).run({ jobs, concurrency, singles, pgUrl })
    break
  case "graphile-worker":
    result = await (await import("./graphile.ts")).run({ jobs, concurrency, singles, pgUrl })
    break
  default:
    throw new Error(`unknown system ${system}`)
}
process.stdout.write("\n" + JSON.stringify(result) + "\n")
process.exit(0)
