/**
 * Starts runner processes for multi-process tests: each is `node` on the TypeScript sources
 * (`--experimental-transform-types` and the resolve hook of `hooks.ts`) running a script, by
 * default `runner.ts`, which runs a cluster runner for the entities of a module. The parent
 * reads the lines the child prints, waits for some, and kills it (SIGKILL to simulate a crash).
 *
 * Reusable for any runner script: the child prints `READY`, then whatever it wants, one
 * message per line.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const node = resolve(here, "../../../../node_modules/.bin/node")
const hooks = join(here, "hooks.ts")
/** The default runner script. */
export const runnerScript = join(here, "runner.ts")

export interface RunnerProcess {
  readonly name: string
  readonly pid: number
  /** Every line printed so far (stdout). */
  readonly lines: ReadonlyArray<string>
  /** Resolves with the first line (from the start) that starts with `prefix`. */
  waitFor(prefix: string, timeoutMs?: number): Promise<string>
  /** The most recent line that starts with `prefix`. */
  last(prefix: string): string | undefined
  kill(signal?: NodeJS.Signals): void
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  readonly stderr: () => string
}

export interface StartOptions {
  readonly name: string
  /** The script to run (default: `runner.ts`). */
  readonly script?: string | undefined
  readonly args?: ReadonlyArray<string> | undefined
  /** Added to the parent's environment. */
  readonly env?: Readonly<Record<string, string>> | undefined
  /** Echo the child's stderr to the parent's (default: only on failure, via `stderr()`). */
  readonly echo?: boolean | undefined
}

export const start = (options: StartOptions): RunnerProcess => {
  const child: ChildProcess = spawn(
    node,
    ["--experimental-transform-types", "--no-warnings", "--import", hooks, options.script ?? runnerScript, ...(options.args ?? [])],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...options.env } }
  )
  const lines: Array<string> = []
  const waiters: Array<{ prefix: string; resolve: (line: string) => void }> = []
  let buffer = ""
  let stderr = ""
  child.stdout!.on("data", (chunk: Buffer) => {
    buffer += chunk.toString()
    let nl: number
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      lines.push(line)
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (line.startsWith(waiters[i]!.prefix)) waiters.splice(i, 1)[0]!.resolve(line)
      }
    }
  })
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString()
    if (options.echo === true) process.stderr.write(`[${options.name}] ${chunk.toString()}`)
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("exit", (code, signal) => resolve({ code, signal }))
  })
  return {
    name: options.name,
    pid: child.pid ?? -1,
    lines,
    waitFor: (prefix, timeoutMs = 30_000) => {
      const found = lines.find((line) => line.startsWith(prefix))
      if (found !== undefined) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`${options.name} printed no line starting with "${prefix}" within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`))
        }, timeoutMs)
        waiters.push({
          prefix,
          resolve: (line) => {
            clearTimeout(timer)
            resolve(line)
          }
        })
        void exited.then(({ code, signal }) => {
          clearTimeout(timer)
          reject(new Error(`${options.name} exited (${code ?? signal}) before printing "${prefix}"; stderr: ${stderr.slice(-2000)}`))
        })
      })
    },
    last: (prefix) => {
      for (let i = lines.length - 1; i >= 0; i--) if (lines[i]!.startsWith(prefix)) return lines[i]
      return undefined
    },
    kill: (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    },
    exited,
    stderr: () => stderr
  }
}

/** Kills every process still running (a test's `finally`). */
export const killAll = async (processes: ReadonlyArray<RunnerProcess>): Promise<void> => {
  for (const p of processes) p.kill("SIGKILL")
  await Promise.all(processes.map((p) => p.exited))
}
