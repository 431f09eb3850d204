/**
 * Crash test: a child process appends to a durable SQLite journal and is SIGKILLed at random
 * moments, many times. After each kill the journal must open cleanly, and every acknowledged
 * event must be present, in order, exactly once.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { Journal, SqliteClient, SqlJournal } from "../src/index.js"

const node = join(__dirname, "../../../node_modules/.bin/node")
const here = join(__dirname, "fixtures")

interface Ack {
  readonly stream: string
  readonly version: number
  readonly position: number
  readonly id: string
}

/** Runs the writer until a random moment after it is ready, SIGKILLs it, answers its acknowledgements. */
const runAndKill = (file: string, run: number, killAfterMs: number) =>
  new Promise<Array<Ack>>((resolve, reject) => {
    const child = spawn(node, ["--import", "../support/register-ts.mjs", "crashWriter.ts", file, "16", String(run)], {
      cwd: here,
      stdio: ["ignore", "pipe", "pipe"]
    })
    const acks: Array<Ack> = []
    let buffer = ""
    let stderr = ""
    let killed = false
    child.stdout.on("data", (chunk: Buffer) => {
      buffer += chunk.toString()
      let nl: number
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        if (line === "ready" && !killed) {
          setTimeout(() => {
            killed = true
            child.kill("SIGKILL")
          }, killAfterMs)
        } else if (line.startsWith("ack ")) {
          const [, stream, version, position, id] = line.split(" ")
          acks.push({ stream: stream!, version: Number(version), position: Number(position), id: id! })
        }
      }
    })
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
    child.on("error", reject)
    child.on("exit", (code, signal) => {
      // A partial last line was never acknowledged: the process died writing it.
      if (signal === "SIGKILL") resolve(acks)
      else reject(new Error(`writer exited without being killed (code ${code}, signal ${signal}): ${stderr}`))
    })
  })

describe("Crash", () => {
  it("every acknowledged append survives SIGKILL, in order, exactly once", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "mailroom-crash-"))
    const file = join(dir, "journal.db")
    const acknowledged: Array<Ack> = []
    try {
      const runs = 8
      for (let run = 0; run < runs; run++) {
        acknowledged.push(...(await runAndKill(file, run, 30 + Math.floor(Math.random() * 400))))

        // The file opens cleanly and passes SQLite's own check.
        const db = new DatabaseSync(file)
        expect(db.prepare("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" })
        const rows = db.prepare("SELECT position, stream, version, event_id FROM mailroom_events ORDER BY position").all() as Array<
          { position: number; stream: string; version: number; event_id: string }
        >
        db.close()

        const byPosition = new Map(rows.map((r) => [r.position, r]))
        for (const ack of acknowledged) {
          const row = byPosition.get(ack.position)
          expect(row, `acknowledged ${ack.id} at ${ack.position} is missing after run ${run}`).toBeDefined()
          expect(row).toMatchObject({ stream: ack.stream, version: ack.version, event_id: ack.id })
        }
        // Exactly once, and in order within each stream: versions 1..n with no gap or repeat.
        expect(new Set(rows.map((r) => r.event_id)).size).toBe(rows.length)
        const versions = new Map<string, number>()
        for (const row of rows) {
          expect(row.version).toBe((versions.get(row.stream) ?? 0) + 1)
          versions.set(row.stream, row.version)
        }
      }
      expect(acknowledged.length).toBeGreaterThan(runs)

      // And the journal itself reads everything back without a corrupt row.
      const all = await Effect.runPromise(
        Effect.flatMap(Journal.Journal, (journal) => journal.readAll(0, 10_000_000)).pipe(
          Effect.provide(SqlJournal.layer().pipe(Layer.provide(SqliteClient.layer({ filename: file }))))
        )
      )
      expect(all.length).toBeGreaterThanOrEqual(acknowledged.length)
      console.log(`crash test: ${runs} kills, ${acknowledged.length} acknowledged appends, ${all.length} events stored`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
