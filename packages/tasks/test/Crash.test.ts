import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { DatabaseSync } from "node:sqlite"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"

const here = path.dirname(fileURLToPath(import.meta.url))
const node = path.resolve(here, "../../../node_modules/.bin/node")
const child = path.join(here, "crash/child.ts")
const hooks = path.join(here, "crash/hooks.ts")

interface Run {
  readonly acks: Array<string>
  readonly recovered: number
}

/** Runs the child; kills it with SIGKILL `killAfter` ms after its first ACK (or waits for its exit). */
const runChild = (file: string, mode: "work" | "drain", seed: number, killAfter?: number) =>
  new Promise<Run>((resolve, reject) => {
    const proc = spawn(node, ["--experimental-transform-types", "--no-warnings", "--import", hooks, child, file, mode, String(seed)], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    const acks: Array<string> = []
    let recovered = -1
    let buffer = ""
    let stderr = ""
    let timer: NodeJS.Timeout | undefined
    proc.stdout.on("data", (chunk: Buffer) => {
      buffer += chunk.toString()
      let nl: number
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        if (line.startsWith("ACK ")) {
          acks.push(line.slice(4))
          if (timer === undefined && killAfter !== undefined) timer = setTimeout(() => proc.kill("SIGKILL"), killAfter)
        } else if (line.startsWith("RECOVERED ")) recovered = Number(line.slice(10))
      }
    })
    proc.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    const guard = setTimeout(() => proc.kill("SIGKILL"), 20_000)
    proc.on("exit", (code, signal) => {
      clearTimeout(guard)
      if (timer) clearTimeout(timer)
      if (signal === "SIGKILL" && killAfter !== undefined) resolve({ acks, recovered })
      else if (code === 0 && mode === "drain") resolve({ acks, recovered })
      else reject(new Error(`child ${mode} exited with ${code ?? signal}: ${stderr}`))
    })
  })

describe("Crash", () => {
  it.live("SIGKILL at random moments: every accepted ticket reaches a final status, every effect applied exactly once", () =>
    Effect.promise(async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mailroom-tasks-crash-"))
      const file = path.join(dir, "tasks.db")
      try {
        const acked: Array<string> = []
        let recoveredTotal = 0
        const kills = 5
        for (let i = 0; i < kills; i++) {
          const run = await runChild(file, "work", i, 100 + Math.floor(Math.random() * 400))
          acked.push(...run.acks)
          if (i > 0) recoveredTotal += Math.max(0, run.recovered)
        }
        const drained = await runChild(file, "drain", kills)
        console.log(`crash test: ${kills} SIGKILLs, ${acked.length} tickets acknowledged, ${recoveredTotal + drained.recovered} tasks recovered on restarts`)
        assert.isAbove(acked.length, 20, "tasks were flowing when the process was killed")
        assert.isAbove(recoveredTotal + drained.recovered, 0, "some tasks were unfinished at a kill and recovered")

        const db = new DatabaseSync(file)
        try {
          // Final statuses, from the request log itself.
          const finals = new Map<string, string>()
          const events = db.prepare(
            "SELECT type, data FROM mailroom_events WHERE stream = 'mailroom-tasks' ORDER BY position"
          ).all() as Array<{ type: string; data: string }>
          const accepted = new Set<string>()
          for (const e of events) {
            const data = JSON.parse(e.data) as { tasks: Array<any>; facts: Array<any> }
            if (e.type === "TasksAccepted") for (const t of data.tasks) accepted.add(t.id)
            if (e.type === "TasksProgressed") {
              for (const [kind, id] of data.facts) if (kind === "succeeded" || kind === "failed") finals.set(id, kind)
            }
          }
          for (const id of acked) {
            assert.isTrue(accepted.has(id), `ticket ${id} was answered accepted but is not in the log`)
            assert.strictEqual(finals.get(id), "succeeded", `ticket ${id} did not reach succeeded`)
          }
          // Every task in the log (acknowledged or not) applied its effect exactly once.
          const counts = db.prepare("SELECT task_id, COUNT(*) AS c FROM effects GROUP BY task_id").all() as Array<
            { task_id: string; c: number }
          >
          const byTask = new Map(counts.map((r) => [r.task_id, Number(r.c)]))
          for (const [id, c] of byTask) assert.strictEqual(c, 1, `task ${id} applied its effect ${c} times`)
          for (const id of accepted) assert.strictEqual(byTask.get(id), 1, `task ${id} has no effect`)
          const total = (db.prepare("SELECT total FROM counter").get() as { total: number }).total
          assert.strictEqual(total, accepted.size)
        } finally {
          db.close()
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    }), 60_000)
})
