/**
 * Child-process entry: `node --expose-gc bench/worker.ts <figure> <contender name>`.
 * Runs exactly one contender of one figure (GC, warm-up, measurement happen inside the
 * contender through harness.ts) and prints one `@@RESULT <json>` line, or `@@ERROR <message>`.
 */
import { findContender } from "./figures.ts"
import type { ProcessResult } from "./harness.ts"

const [figureId, name] = process.argv.slice(2)

const main = async (): Promise<void> => {
  if (figureId === undefined || name === undefined) {
    throw new Error("usage: node --expose-gc bench/worker.ts <figure> <contender name>")
  }
  const spec = findContender(figureId, name)
  if (spec === undefined) throw new Error(`unknown contender "${name}" for figure "${figureId}"`)
  if (globalThis.gc === undefined) throw new Error("run with --expose-gc")
  globalThis.gc()
  const mod = (await import(spec.module)) as Record<string, unknown>
  const fn = mod[spec.fn]
  if (typeof fn !== "function") throw new Error(`${spec.module} does not export a function "${spec.fn}"`)
  const result = (await (fn as () => Promise<ProcessResult>)()) satisfies ProcessResult
  process.stdout.write(`@@RESULT ${JSON.stringify(result)}\n`)
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    process.stdout.write(`@@ERROR ${JSON.stringify(message)}\n`)
    if (error instanceof Error && error.stack !== undefined) process.stderr.write(`${error.stack}\n`)
    process.exit(1)
  }
)
