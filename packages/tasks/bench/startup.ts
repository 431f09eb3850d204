/**
 * Start-up time of a pipeline over a long history: a SQLite request log with N finished tasks
 * (written by the pipeline itself: no-op tasks submitted 1,000 at a time), then the time
 * `Pipeline.make` takes in a fresh process (a restart), three ways:
 *
 * - `snapshot`: the snapshot taken when the pipeline closed cleanly is loaded; nothing replayed;
 * - `snapshot+tail`: the snapshot is behind by `TAIL` tasks written with snapshots off, as a
 *   crash would leave it (each round on a fresh copy of that database; the worst case after a
 *   crash is one `snapshot.maxFacts` of log);
 * - `full replay`: no snapshot store; the whole log is replayed (what start-up was before).
 *
 * Each start runs in its own child process (cold, as a restart is); medians of `ROUNDS`.
 * Sizes: `MAILROOM_STARTUP_SIZES` (default "300000,3000000"). Writes
 * `bench-results/tasks-startup.json`.
 *
 * Run: `node bench/startup.ts` (also the last part of `nx run tasks:bench`).
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Layer, Schema } from "effect"
import { Snapshot, SqlJournal, SqliteClient } from "@mailroom/persistence"
import { Scheduler } from "@mailroom/scheduler"
import { Pipeline, TaskType } from "@mailroom/tasks"

const here = fileURLToPath(import.meta.url)
const resultsDir = path.resolve(path.dirname(here), "../../../bench-results")
const TAIL = 100_000
const ROUNDS = Math.max(1, Number(process.env.MAILROOM_BENCH_ROUNDS ?? 3))

const Noop = TaskType.makeUnsafe({
  name: "noop",
  payload: Schema.Struct({ i: Schema.Number, order: Schema.String }),
  handler: () => Effect.void,
  concurrency: 50,
  batch: 10
})

const storage = (file: string, snapshots: boolean) => {
  const client = SqliteClient.layer({ filename: file, durability: "full" })
  const journal = SqlJournal.layer()
  return (snapshots ? Layer.mergeAll(journal, Snapshot.layerSql()) : journal).pipe(Layer.provide(client))
}

/** Writes `count` finished tasks to the log (the pipeline itself does: submit, run, report). */
const build = (file: string, count: number, snapshots: boolean) =>
  Effect.gen(function*() {
    const p = yield* Pipeline.make({ types: [Noop], autoscaler: false, reconciler: false, snapshot: snapshots ? {} : false })
    const base = p.backlog.snapshot().completions
    let i = 0
    while (i < count) {
      const n = Math.min(1000, count - i)
      const chunk = Array.from({ length: n }, (_, k) => ({ i: i + k, order: `order-${i + k}` }))
      yield* p.frontDesk.submitAll(Noop, chunk)
      i += n
      // Keep at most 20,000 in flight, like a steady producer.
      while (i - (p.backlog.snapshot().completions - base) > 20_000) yield* Effect.sleep(5)
    }
    while (p.backlog.snapshot().completions - base < count) yield* Effect.sleep(5)
  }).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(storage(file, snapshots), Scheduler.layer())))

/** One start in this process: opens the database, then times `Pipeline.make`. */
const start = (file: string, snapshots: boolean) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    const p = yield* Pipeline.make({ types: [Noop], autoscaler: false, reconciler: false, snapshot: snapshots ? {} : false })
    const ms = performance.now() - t0
    return { ms, replayed: p.replayed, recovered: p.recovered, completions: p.backlog.snapshot().completions }
  }).pipe(Effect.scoped, Effect.provide(Layer.mergeAll(storage(file, snapshots), Scheduler.layer())))

const child = (args: ReadonlyArray<string>): any => {
  const r = spawnSync(process.execPath, [here, ...args], { encoding: "utf8", maxBuffer: 1 << 26, env: process.env, timeout: 900_000 })
  if (r.status !== 0) throw new Error(`child ${args.join(" ")} failed: ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split("\n").pop()!)
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const main = () => {
  const [mode, file, arg] = process.argv.slice(2)
  if (mode === "build") {
    const t0 = performance.now()
    Effect.runPromise(build(file!, Number(arg), process.argv[5] !== "no-snapshots")).then(() =>
      console.log(JSON.stringify({ ms: performance.now() - t0 }))
    )
    return
  }
  if (mode === "start") {
    Effect.runPromise(start(file!, arg === "snapshot")).then((r) => console.log(JSON.stringify(r)))
    return
  }
  const sizes = (process.env.MAILROOM_STARTUP_SIZES ?? "300000,3000000").split(",").map(Number)
  const results: Array<Record<string, unknown>> = []
  for (const size of sizes) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mailroom-startup-"))
    const file = path.join(dir, "tasks.db")
    try {
      const built = child(["build", file, String(size)])
      const bytes = fs.statSync(file).size
      const snap = Array.from({ length: ROUNDS }, () => child(["start", file, "snapshot"]))
      const full = Array.from({ length: ROUNDS }, () => child(["start", file, "full"]))
      // A tail after the snapshot: more tasks written with snapshots off (as if it crashed). A
      // start that replays a tail saves a new snapshot when it closes, so each round starts a
      // copy of the database as the crash left it.
      child(["build", file, String(TAIL), "no-snapshots"])
      const tail = Array.from({ length: ROUNDS }, () => {
        const copy = path.join(dir, "copy.db")
        fs.copyFileSync(file, copy)
        for (const suffix of ["-wal", "-shm"]) {
          if (fs.existsSync(file + suffix)) fs.copyFileSync(file + suffix, copy + suffix)
          else fs.rmSync(copy + suffix, { force: true })
        }
        fs.rmSync(copy + "-lock", { force: true })
        return child(["start", copy, "snapshot"])
      })
      const row = {
        finished: size,
        dbMiB: Math.round(bytes / 1048576),
        buildSeconds: Math.round(built.ms / 100) / 10,
        snapshotMs: median(snap.map((r) => r.ms)),
        snapshotReplayed: snap[0].replayed,
        tailTasks: TAIL,
        snapshotTailMs: median(tail.map((r) => r.ms)),
        tailReplayed: tail[0].replayed,
        fullReplayMs: median(full.map((r) => r.ms)),
        fullReplayed: full[0].replayed,
        rounds: { snapshot: snap.map((r) => r.ms), snapshotTail: tail.map((r) => r.ms), full: full.map((r) => r.ms) }
      }
      results.push(row)
      console.log(
        `${size.toLocaleString("en")} finished tasks (${row.dbMiB} MiB): start-up from the snapshot ${row.snapshotMs.toFixed(1)} ms ` +
          `(${row.snapshotReplayed} events replayed); with a tail of ${TAIL.toLocaleString("en")} tasks ${row.snapshotTailMs.toFixed(1)} ms ` +
          `(${row.tailReplayed} events); full replay ${row.fullReplayMs.toFixed(1)} ms (${row.fullReplayed} events)`
      )
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
  fs.mkdirSync(resultsDir, { recursive: true })
  const out = {
    name: "tasks-startup",
    unit: "ms",
    value: Math.max(...results.map((r) => r.snapshotMs as number)),
    baseline: Math.max(...results.map((r) => r.fullReplayMs as number)),
    target: "start-up past the snapshot under 200 ms, whatever the history",
    retainFinal: 100_000,
    machine: { cpus: os.cpus().length, load: os.loadavg() },
    date: new Date().toISOString(),
    results
  }
  fs.writeFileSync(path.join(resultsDir, "tasks-startup.json"), JSON.stringify(out, null, 2) + "\n")
}

main()
