/**
 * Running the built `mailroom` command in tests, and what every failure must look like.
 */
import { assert } from "@effect/vitest"
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

export const cli = fileURLToPath(new URL("../dist/main.js", import.meta.url))
export const built = existsSync(cli)

export interface Run {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
  /** stdout as written, byte for byte. */
  readonly bytes: Buffer
  readonly stderrBytes: Buffer
}

/** Runs the built CLI (asynchronously, so independent runs can overlap). */
export const mailroom = (
  args: ReadonlyArray<string>,
  options: { readonly cwd?: string; readonly timeout?: number } = {}
) =>
  new Promise<Run>((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"], cwd: options.cwd })
    const out: Array<Buffer> = []
    const err: Array<Buffer> = []
    child.stdout.on("data", (d: Buffer) => void out.push(d))
    child.stderr.on("data", (d: Buffer) => void err.push(d))
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`mailroom ${args.join(" ")} did not finish within ${options.timeout ?? 90_000} ms`))
    }, options.timeout ?? 90_000)
    child.on("close", (status) => {
      clearTimeout(timer)
      const bytes = Buffer.concat(out)
      const stderrBytes = Buffer.concat(err)
      resolve({ status, stdout: bytes.toString("utf8"), stderr: stderrBytes.toString("utf8"), bytes, stderrBytes })
    })
  })

/** One clear line on stderr (no `Cause(`, no stack trace), nothing on stdout, exit code 1. */
export const assertOneLineError = (r: Run, includes: string | RegExp) => {
  const all = `stdout: ${r.stdout}\nstderr: ${r.stderr}`
  assert.strictEqual(r.status, 1, all)
  assert.strictEqual(r.stdout, "", all)
  assert.isTrue(r.stderr.endsWith("\n"), all)
  const lines = r.stderr.slice(0, -1).split("\n")
  assert.strictEqual(lines.length, 1, all)
  const line = lines[0]!
  assert.match(line, /^mailroom: \S/, all)
  assert.notInclude(line, "Cause(", all)
  assert.notMatch(line, /\bat .*:\d+:\d+/, all)
  if (typeof includes === "string") assert.include(line, includes, all)
  else assert.match(line, includes, all)
}
