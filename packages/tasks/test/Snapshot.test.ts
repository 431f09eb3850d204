/**
 * Snapshots of the index bound start-up: the pipeline loads the latest and replays only the
 * log after it. What a snapshot holds must be what a full replay would have built.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Schedule, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Journal, Snapshot } from "@mailroom/persistence"
import { Scheduler } from "@mailroom/scheduler"
import { Pipeline, TaskType } from "@mailroom/tasks"
import { memoryJournal, settle } from "./support.js"

const Job = Schema.Struct({ n: Schema.Number })

const run = (rounds = 20) =>
  Effect.gen(function*() {
    for (let i = 0; i < rounds; i++) yield* Effect.andThen(settle(), TestClock.adjust("10 millis"))
  })

const envWith = (journal: Journal.Journal["Service"], store: Snapshot.SnapshotStore["Service"]) =>
  Layer.mergeAll(Layer.succeed(Journal.Journal, journal), Layer.succeed(Snapshot.SnapshotStore, store), Scheduler.layer())

const memoryStore = Effect.gen(function*() {
  return yield* Snapshot.SnapshotStore
}).pipe(Effect.provide(Snapshot.layerMemory))

describe("snapshots", () => {
  it.effect("a restart loads the snapshot taken at close and replays nothing; finals, keys and live tasks are all there", () =>
    Effect.gen(function*() {
      const journal = yield* memoryJournal
      const store = yield* memoryStore
      const gate = { block: true }
      let failOnce = true
      const Work = TaskType.makeUnsafe({
        name: "work",
        payload: Job,
        timeout: "1 hour",
        retry: Schedule.spaced("1 hour").pipe(Schedule.upTo({ times: 1 })),
        handler: (job) =>
          Effect.gen(function*() {
            if (job.n === 1 && failOnce) {
              failOnce = false
              return yield* Effect.fail("first failure")
            }
            while (gate.block && job.n === 2) yield* Effect.sleep("10 millis")
            return job.n * 10
          })
      })
      const first = yield* Effect.gen(function*() {
        const p = yield* Pipeline.make({ types: [Work], reconciler: false })
        const retrying = yield* p.frontDesk.submit(Work, { n: 1 }, { key: "one" })
        const running = yield* p.frontDesk.submit(Work, { n: 2 }, { key: "two" })
        const done = yield* p.frontDesk.submitAll(Work, [{ n: 3 }, { n: 4 }])
        yield* run()
        return { retrying, running, done }
      }).pipe(Effect.scoped, Effect.provide(envWith(journal, store)))
      const saved = yield* store.load("mailroom-tasks")
      assert.isTrue(Option.isSome(saved))
      assert.strictEqual(Option.getOrThrow(saved).version, yield* journal.streamVersion("mailroom-tasks"))
      gate.block = false
      yield* Effect.gen(function*() {
        const p = yield* Pipeline.make({ types: [Work], reconciler: false })
        assert.strictEqual(p.replayed, 0, "everything came from the snapshot")
        assert.strictEqual(p.recovered, 2)
        for (const t of first.done) assert.strictEqual((yield* p.status.get(t)).output, t === first.done[0] ? 30 : 40)
        // Keys survive, scoped as before; another payload still conflicts.
        assert.strictEqual((yield* p.frontDesk.submit(Work, { n: 2 }, { key: "two" })).id, first.running.id)
        assert.strictEqual((yield* Effect.flip(p.frontDesk.submit(Work, { n: 9 }, { key: "two" })))._tag, "IdempotencyConflict")
        yield* run()
        assert.strictEqual((yield* p.status.awaitFinal(first.running)).output, 20)
        // The retrying task waits for its logged retry time and keeps its attempt budget.
        assert.strictEqual((yield* p.status.get(first.retrying)).status, "retrying")
        yield* TestClock.adjust("2 hours")
        const final = yield* p.status.awaitFinal(first.retrying)
        assert.strictEqual(final.status, "succeeded")
        assert.strictEqual(final.attempt, 2)
      }).pipe(Effect.scoped, Effect.provide(envWith(journal, store)))
    }))

  it.effect("after a crash (no snapshot at close) only the log after the last snapshot is replayed", () =>
    Effect.gen(function*() {
      const journal = yield* memoryJournal
      const store = yield* memoryStore
      const Work = TaskType.makeUnsafe({ name: "work", payload: Job, handler: (j) => Effect.succeed(j.n) })
      // A snapshot is due after 10 facts; the pipeline's store is swapped for a dead one at the end
      // so the snapshot at close is lost, as in a crash.
      let live = true
      const crashing: Snapshot.SnapshotStore["Service"] = {
        save: (stream, version, state) => live ? store.save(stream, version, state) : Effect.void,
        load: store.load
      }
      const tickets = yield* Effect.gen(function*() {
        const p = yield* Pipeline.make({ types: [Work], reconciler: false, snapshot: { maxFacts: 10 } })
        const a = yield* p.frontDesk.submitAll(Work, Array.from({ length: 10 }, (_, n) => ({ n })))
        yield* run()
        const b = yield* p.frontDesk.submitAll(Work, [{ n: 100 }])
        yield* run(2)
        live = false
        return [...a, ...b]
      }).pipe(Effect.scoped, Effect.provide(envWith(journal, crashing)))
      const saved = Option.getOrThrow(yield* store.load("mailroom-tasks"))
      const total = yield* journal.streamVersion("mailroom-tasks")
      assert.isBelow(saved.version, total)
      yield* Effect.gen(function*() {
        const p = yield* Pipeline.make({ types: [Work], reconciler: false })
        assert.strictEqual(p.replayed, total - saved.version)
        for (const t of tickets) assert.strictEqual((yield* p.status.get(t)).status, "succeeded")
      }).pipe(Effect.scoped, Effect.provide(envWith(journal, store)))
    }))

  it.effect("an unreadable snapshot falls back to a full replay: the same index, never a wrong one", () =>
    Effect.gen(function*() {
      const journal = yield* memoryJournal
      const store = yield* memoryStore
      const Work = TaskType.makeUnsafe({ name: "work", payload: Job, handler: (j) => Effect.succeed(j.n) })
      const tickets = yield* Effect.gen(function*() {
        const p = yield* Pipeline.make({ types: [Work], reconciler: false })
        const t = yield* p.frontDesk.submitAll(Work, [{ n: 1 }, { n: 2 }])
        yield* run()
        return t
      }).pipe(Effect.scoped, Effect.provide(envWith(journal, store)))
      const version = yield* journal.streamVersion("mailroom-tasks")
      // This version's format, with a column that does not match the others.
      yield* store.save("mailroom-tasks", version + 1, {
        format: 2,
        live: [],
        finals: { types: ["work"], tenants: ["default"], id: ["a", "b"], type: [0], tenant: [0, 0], key: [null, null], parent: [null, null],
          acceptedAt: [1, 1], version: [1, 1], hash: [null, null], status: [0, 0], attempt: [1, 1], updatedAt: [1, 1], error: [null, null], output: [1, 2] }
      })
      yield* Effect.gen(function*() {
        const p = yield* Pipeline.make({ types: [Work], reconciler: false })
        assert.strictEqual(p.replayed, version)
        assert.strictEqual((yield* p.status.get(tickets[1]!)).output, 2)
        assert.strictEqual(p.backlog.snapshot().depth, 0)
      }).pipe(Effect.scoped, Effect.provide(envWith(journal, store)))
    }))
})
