/**
 * Child processes running this package's TypeScript sources (fixtures under `test/fixtures`),
 * read line by line.
 */
import { type ChildProcessByStdio, spawn } from "node:child_process"
import { join } from "node:path"
import type { Readable } from "node:stream"

const node = join(__dirname, "../../../../node_modules/.bin/node")
const fixtures = join(__dirname, "../fixtures")

/** A running fixture: its lines so far, and a way to wait for the next one matching a prefix. */
export interface Child {
  readonly process: ChildProcessByStdio<null, Readable, Readable>
  readonly pid: number
  /** Resolves with the first line (seen or to come) starting with `prefix`; rejects on exit or timeout. */
  readonly line: (prefix: string, timeoutMs?: number) => Promise<string>
  /** Resolves with the exit code (or signal name) once the process ended. */
  readonly exited: Promise<number | string>
  readonly stderr: () => string
}

/** Starts `fixtures/<script>` with `args`. */
export const start = (script: string, args: ReadonlyArray<string>): Child => {
  const child = spawn(node, ["--import", "../support/register-ts.mjs", script, ...args], {
    cwd: fixtures,
    stdio: ["ignore", "pipe", "pipe"]
  })
  const lines: Array<string> = []
  const waiting = new Set<() => void>()
  let buffer = ""
  let stderr = ""
  let ended: number | string | undefined
  child.stdout.on("data", (chunk: Buffer) => {
    buffer += chunk.toString()
    let nl: number
    while ((nl = buffer.indexOf("\n")) >= 0) {
      lines.push(buffer.slice(0, nl))
      buffer = buffer.slice(nl + 1)
    }
    for (const wake of waiting) wake()
  })
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<number | string>((resolve) =>
    child.on("exit", (code, signal) => {
      ended = code ?? signal ?? "unknown"
      for (const wake of waiting) wake()
      resolve(ended)
    })
  )
  const line = (prefix: string, timeoutMs = 20_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const found = lines.find((l) => l.startsWith(prefix))
        if (found !== undefined) return done(() => resolve(found))
        if (ended !== undefined) {
          return done(() => reject(new Error(`${script} exited (${ended}) before printing "${prefix}…": ${lines.join(" | ")} ${stderr}`)))
        }
      }
      const timer = setTimeout(
        () => done(() => reject(new Error(`${script} printed no "${prefix}…" in ${timeoutMs} ms: ${lines.join(" | ")} ${stderr}`))),
        timeoutMs
      )
      const done = (settle: () => void) => {
        clearTimeout(timer)
        waiting.delete(check)
        settle()
      }
      waiting.add(check)
      check()
    })
  return { process: child, pid: child.pid!, line, exited, stderr: () => stderr }
}
