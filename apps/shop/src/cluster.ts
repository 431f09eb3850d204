#!/usr/bin/env node
/**
 * `npm run shop:cluster`: a local cluster of three shop processes on PostgreSQL. Each process is
 * `mailroom-shop --cluster` with its own HTTP port (4000, 4001, 4002) and runner port; the
 * orders' request log is partitioned over them (`@mailroom/cluster`), each runs the partitions
 * whose shards it owns, and each dashboard shows every process's share. Stop one (or kill it)
 * and its partitions move to the others.
 *
 * Flags after `--` go to every process (`npm run shop:cluster -- --duration 60 --rate 300`);
 * `--processes N` (default 3) and `--base-port P` (default 4000) are this launcher's. The
 * PostgreSQL URL comes from `--pg-url` or `$MAILROOM_PG_URL` (default
 * postgres://postgres@127.0.0.1:5432/test). Ctrl-C stops them all.
 */
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const main = fileURLToPath(new URL("./main.js", import.meta.url))
const args = process.argv.slice(2)
const take = (flag: string, fallback: number): number => {
  const i = args.indexOf(flag)
  if (i < 0) return fallback
  const value = Number(args[i + 1])
  args.splice(i, 2)
  if (!Number.isInteger(value) || value < 1) {
    console.error(`shop:cluster: ${flag} takes a positive integer, got ${JSON.stringify(args[i + 1] ?? "")}`)
    process.exit(2)
  }
  return value
}
const processes = take("--processes", 3)
const basePort = take("--base-port", 4000)
const hasRate = args.includes("--rate")
const children = Array.from({ length: processes }, (_, i) => {
  const name = `shop-${i + 1}`
  const child = spawn(
    process.execPath,
    [
      main,
      "--cluster",
      "--port", String(basePort + i),
      "--runner-port", String(34431 + i),
      // The load generator's peak is shared between the processes.
      ...(hasRate ? [] : ["--rate", String(Math.round(600 / processes))]),
      ...args
    ],
    { stdio: ["ignore", "pipe", "pipe"], env: process.env }
  )
  const prefix = (chunk: Buffer, out: NodeJS.WriteStream) => {
    for (const line of chunk.toString().split("\n")) if (line.trim() !== "") out.write(`[${name}] ${line}\n`)
  }
  child.stdout.on("data", (c: Buffer) => prefix(c, process.stdout))
  child.stderr.on("data", (c: Buffer) => prefix(c, process.stderr))
  return { name, child, exited: new Promise<number>((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)))) }
})
console.log(
  `shop:cluster: ${processes} processes; dashboards at ${children.map((_, i) => `http://127.0.0.1:${basePort + i}/`).join(" ")} (Ctrl-C stops them all)`
)
let stopping = false
const stop = () => {
  if (stopping) return
  stopping = true
  for (const c of children) c.child.kill("SIGINT")
}
process.on("SIGINT", stop)
process.on("SIGTERM", stop)
const codes = await Promise.all(children.map((c) => c.exited))
process.exit(codes.some((c) => c !== 0) ? 1 : 0)
