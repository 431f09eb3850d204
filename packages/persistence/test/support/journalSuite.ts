/**
 * The one journal test suite, run against every backend (memory, SQLite, PostgreSQL).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Stream } from "effect"
import * as fc from "fast-check"
import { Journal } from "../../src/index.js"
import { type Backend, Corrupt } from "./backends.js"

const ev = (id: string, data: unknown = { n: id }, type = "Noted"): Journal.EventData => ({
  id,
  type,
  schemaVersion: 1,
  data
})

const provider = (backend: Backend) => <A, E>(effect: Effect.Effect<A, E, Journal.Journal | Corrupt>) =>
  Effect.provide(effect, backend.layer()) as Effect.Effect<A, E>

export const journalSuite = (backend: Backend) =>
  describe.skipIf(backend.skip)(`Journal (${backend.name})`, () => {
    const run = provider(backend)

    it.live("appends and reads a stream by version", () =>
      run(Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const first = yield* journal.append("acc-1", [ev("a"), ev("b")], 0)
        expect(first.versions).toEqual([1, 2])
        expect(first.duplicate).toBe(false)
        const second = yield* journal.append("acc-1", [ev("c", { nested: [1, "x", null] })], 2)
        expect(second.versions).toEqual([3])
        expect(second.positions[0]).toBeGreaterThan(first.positions[1]!)
        const all = yield* journal.readStream("acc-1")
        expect(all.map((e) => [e.id, e.version, e.type, e.schemaVersion])).toEqual([
          ["a", 1, "Noted", 1],
          ["b", 2, "Noted", 1],
          ["c", 3, "Noted", 1]
        ])
        expect(all[2]!.data).toEqual({ nested: [1, "x", null] })
        expect((yield* journal.readStream("acc-1", 2)).map((e) => e.id)).toEqual(["b", "c"])
        expect((yield* journal.readStream("acc-1", 2, 1)).map((e) => e.id)).toEqual(["b"])
        expect(yield* journal.readStream("nobody")).toEqual([])
        expect(yield* journal.streamVersion("acc-1")).toBe(3)
        expect(yield* journal.streamVersion("nobody")).toBe(0)
      })))

    it.live("rejects a wrong expected version, naming stream, expected and actual", () =>
      run(Effect.gen(function*() {
        const journal = yield* Journal.Journal
        yield* journal.append("s", [ev("a")], 0)
        const error = yield* Effect.flip(journal.append("s", [ev("b")], 0))
        expect(error._tag).toBe("WrongExpectedVersion")
        expect(error).toMatchObject({ stream: "s", expected: 0, actual: 1 })
        expect(error.message).toContain("\"s\"")
        const ahead = yield* Effect.flip(journal.append("s", [ev("b")], 5))
        expect(ahead).toMatchObject({ _tag: "WrongExpectedVersion", expected: 5, actual: 1 })
        const any = yield* journal.append("s", [ev("b")], "any")
        expect(any.versions).toEqual([2])
        expect((yield* journal.readStream("s")).length).toBe(2)
      })))

    it.live("reads everything by global position", () =>
      run(Effect.gen(function*() {
        const journal = yield* Journal.Journal
        yield* journal.append("x", [ev("x1")], 0)
        yield* journal.append("y", [ev("y1"), ev("y2")], 0)
        yield* journal.append("x", [ev("x2")], 1)
        const all = yield* journal.readAll()
        expect(all.map((e) => `${e.stream}:${e.id}`)).toEqual(["x:x1", "y:y1", "y:y2", "x:x2"])
        const positions = all.map((e) => e.position)
        expect([...positions].sort((a, b) => a - b)).toEqual(positions)
        expect((yield* journal.readAll(positions[1]!)).map((e) => e.id)).toEqual(["y2", "x2"])
        expect((yield* journal.readAll(positions[0]!, 2)).map((e) => e.id)).toEqual(["y1", "y2"])
        expect(yield* journal.readAll(positions[3]!)).toEqual([])
      })))

    it.live("re-appending stored ids is a no-op answering the original positions", () =>
      run(Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const original = yield* journal.append("s", [ev("a"), ev("b")], 0)
        yield* journal.append("s", [ev("c")], 2)
        // A client retrying after a lost acknowledgement: same ids, same (now stale) expected version.
        const retry = yield* journal.append("s", [ev("a"), ev("b")], 0)
        expect(retry).toEqual({ positions: original.positions, versions: [1, 2], duplicate: true })
        expect((yield* journal.readStream("s")).map((e) => e.id)).toEqual(["a", "b", "c"])
        // The same id in another stream is a different event.
        const other = yield* journal.append("t", [ev("a")], 0)
        expect(other.duplicate).toBe(false)
        // Part stored, part new: refused, naming the stored ids.
        const mixed = yield* Effect.flip(journal.append("s", [ev("b"), ev("d")], 3))
        expect(mixed).toMatchObject({ _tag: "EventIdConflict", stream: "s", ids: ["b"] })
        const twice = yield* Effect.flip(journal.append("s", [ev("e"), ev("e")], 3))
        expect(twice).toMatchObject({ _tag: "EventIdConflict", ids: ["e"] })
      })))

    it.live("retries inside one group commit resolve to the first write", () =>
      run(Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const results = yield* Effect.all(
          [journal.append("s", [ev("a")], 0), journal.append("s", [ev("a")], 0)],
          { concurrency: "unbounded" }
        )
        expect(results[0].positions).toEqual(results[1].positions)
        expect(results.map((r) => r.duplicate).sort()).toEqual([false, true])
        expect((yield* journal.readStream("s")).length).toBe(1)
      })))

    it.live("rejects malformed appends with a typed error naming the problem", () =>
      run(Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const bad = [
          journal.append("", [ev("a")], 0),
          journal.append("s", [ev("a")], -1),
          journal.append("s", [ev("a")], 1.5),
          journal.append("s", [], 0),
          journal.append("s", [{ id: "", type: "T", schemaVersion: 1, data: 1 }], 0),
          journal.append("s", [{ id: "a", type: "", schemaVersion: 1, data: 1 }], 0),
          journal.append("s", [{ id: "a", type: "T", schemaVersion: 0, data: 1 }], 0),
          journal.append("s", [{ id: "a", type: "T", schemaVersion: 1, data: undefined }], 0),
          journal.append("s", [{ id: "a", type: "T", schemaVersion: 1, data: { big: 1n } }], 0)
        ]
        for (const attempt of bad) {
          const error = yield* Effect.flip(attempt)
          expect(error._tag).toBe("InvalidAppend")
          expect(error.message.length).toBeGreaterThan(20)
        }
        expect(yield* journal.readAll()).toEqual([])
      })))

    it.live("group commit: a retry in the same batch as its original answers the original positions", () =>
      run(Effect.gen(function*() {
        const journal = yield* Journal.Journal
        // Issued together, so (usually) planned in one batch; the answers are the same either way.
        const [original, retry, mixed, next, wrong] = yield* Effect.all([
          Effect.exit(journal.append("s", [ev("a"), ev("b")], 0)),
          Effect.exit(journal.append("s", [ev("a"), ev("b")], 0)),
          Effect.exit(journal.append("s", [ev("b"), ev("c")], "any")),
          Effect.exit(journal.append("s", [ev("d")], 2)),
          Effect.exit(journal.append("s", [ev("e")], 0))
        ], { concurrency: "unbounded" })
        expect(Exit.isSuccess(original) && original.value).toEqual({ positions: [1, 2], versions: [1, 2], duplicate: false })
        expect(Exit.isSuccess(retry) && retry.value).toEqual({ positions: [1, 2], versions: [1, 2], duplicate: true })
        expect(Exit.isFailure(mixed) && JSON.stringify(mixed.cause)).toContain("EventIdConflict")
        expect(Exit.isSuccess(next) && next.value.versions).toEqual([3])
        expect(Exit.isFailure(wrong) && JSON.stringify(wrong.cause)).toContain("WrongExpectedVersion")
        expect((yield* journal.readStream("s")).map((e) => e.id)).toEqual(["a", "b", "d"])
      })))

    it.live("group commit: concurrent appends are all acknowledged, in order, exactly once", () =>
      run(Effect.gen(function*() {
        const journal = yield* Journal.Journal
        // Appends issued together to the same stream with consecutive expected versions land in
        // one batch and must be applied in arrival order.
        const chained = yield* Effect.all(
          Array.from({ length: 20 }, (_, i) => journal.append("chain", [ev(`c${i}`)], i)),
          { concurrency: "unbounded" }
        )
        expect(chained.map((r) => r.versions[0])).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
        // Many writers, many streams.
        const writers = 200
        const results = yield* Effect.all(
          Array.from({ length: writers }, (_, w) =>
            Effect.forEach(
              [0, 1, 2],
              (k) => journal.append(`w-${w}`, [ev(`w${w}-${k}`, { w, k })], k)
            )),
          { concurrency: "unbounded" }
        )
        const acknowledged = results.flat().flatMap((r) => r.positions)
        expect(new Set(acknowledged).size).toBe(writers * 3)
        const all = yield* journal.readAll(0, 100_000)
        expect(all.length).toBe(writers * 3 + 20)
        for (let i = 1; i < all.length; i++) expect(all[i]!.position).toBeGreaterThan(all[i - 1]!.position)
        for (let w = 0; w < writers; w += 37) {
          const stream = yield* journal.readStream(`w-${w}`)
          expect(stream.map((e) => e.data)).toEqual([0, 1, 2].map((k) => ({ w, k })))
        }
        // Competing writers on one stream, all expecting version 0: exactly one wins.
        const race = yield* Effect.all(
          Array.from({ length: 30 }, (_, i) => Effect.exit(journal.append("contested", [ev(`r${i}`)], 0))),
          { concurrency: "unbounded" }
        )
        expect(race.filter(Exit.isSuccess).length).toBe(1)
        for (const exit of race.filter(Exit.isFailure)) {
          expect(JSON.stringify(exit.cause)).toContain("WrongExpectedVersion")
        }
      })))

    it.live("subscribe delivers stored events, then new ones as they commit", () =>
      run(Effect.gen(function*() {
        const journal = yield* Journal.Journal
        yield* journal.append("s", [ev("a"), ev("b")], 0)
        const fiber = yield* Effect.forkChild(Stream.runCollect(Stream.take(journal.subscribe(0), 5)))
        yield* Effect.sleep(30)
        yield* journal.append("t", [ev("c")], 0)
        yield* journal.append("s", [ev("d"), ev("e")], 2)
        const seen = yield* Fiber.join(fiber)
        expect(seen.map((e) => e.id)).toEqual(["a", "b", "c", "d", "e"])
        const after = yield* Stream.runCollect(Stream.take(journal.subscribe(seen[3]!.position), 1))
        expect(after.map((e) => e.id)).toEqual(["e"])
      })))

    it.live("a corrupt row fails with a typed error naming stream and position", () =>
      run(Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const corrupt = yield* Corrupt
        const { positions } = yield* journal.append("s", [ev("a"), ev("b"), ev("c")], 0)
        yield* corrupt(positions[1]!, "{not json")
        const fromStream = yield* Effect.flip(journal.readStream("s"))
        expect(fromStream).toMatchObject({ _tag: "CorruptEvent", stream: "s", position: positions[1] })
        expect(fromStream.message).toContain(`position ${positions[1]}`)
        const fromAll = yield* Effect.flip(journal.readAll(0))
        expect(fromAll).toMatchObject({ _tag: "CorruptEvent", stream: "s", position: positions[1] })
        // Neighbours stay readable, and the journal keeps working.
        expect((yield* journal.readStream("s", 3)).map((e) => e.id)).toEqual(["c"])
        expect((yield* journal.readAll(0, 1)).map((e) => e.id)).toEqual(["a"])
        yield* journal.append("s", [ev("d")], 3)
        expect(yield* journal.streamVersion("s")).toBe(4)
      })))

    it.live("property: behaves like a model of streams under random appends and retries", () =>
      Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            fc.array(
              fc.record({
                stream: fc.constantFrom("a", "b", "c"),
                count: fc.integer({ min: 1, max: 3 }),
                expectedOffset: fc.constantFrom(0, 0, 0, -1, 1, "any" as const),
                retryOf: fc.option(fc.nat(20), { nil: undefined })
              }),
              { minLength: 1, maxLength: 25 }
            ),
            async (commands) => {
              const model = new Map<string, Array<string>>()
              const history: Array<{ stream: string; events: Array<Journal.EventData> }> = []
              let next = 0
              await Effect.runPromise(run(Effect.gen(function*() {
                const journal = yield* Journal.Journal
                for (const cmd of commands) {
                  const previous = cmd.retryOf !== undefined ? history[cmd.retryOf % Math.max(1, history.length)] : undefined
                  const stream = previous?.stream ?? cmd.stream
                  const events = previous?.events ?? Array.from({ length: cmd.count }, () => ev(`e${next++}`))
                  const current = model.get(stream) ?? []
                  const expected = cmd.expectedOffset === "any" ? "any" : Math.max(0, current.length + cmd.expectedOffset)
                  const exit = yield* Effect.exit(journal.append(stream, events, expected))
                  const stored = events.filter((e) => current.includes(e.id)).length
                  if (stored === events.length) {
                    expect(Exit.isSuccess(exit) && exit.value.duplicate).toBe(true)
                  } else if (stored > 0) {
                    expect(Exit.isFailure(exit)).toBe(true)
                  } else if (expected === "any" || expected === current.length) {
                    expect(Exit.isSuccess(exit) && !exit.value.duplicate).toBe(true)
                    model.set(stream, [...current, ...events.map((e) => e.id)])
                    history.push({ stream, events })
                  } else {
                    expect(Exit.isFailure(exit)).toBe(true)
                  }
                }
                for (const [stream, ids] of model) {
                  expect((yield* journal.readStream(stream)).map((e) => e.id)).toEqual(ids)
                }
                const all = yield* journal.readAll()
                expect(all.length).toBe([...model.values()].reduce((n, ids) => n + ids.length, 0))
              })))
            }
          ),
          { numRuns: backend.name === "memory" ? 60 : 15 }
        )
      ))
  })
