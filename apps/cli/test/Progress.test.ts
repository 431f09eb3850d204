import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as Progress from "../src/Progress.js"

describe("Progress.track", () => {
  it.effect("lines mode: a line every second while the work runs, and a final one", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      let read = 0
      const work = Effect.sleep("3500 millis").pipe(Effect.andThen(Effect.sync(() => (read = 1_000))), Effect.as("done"))
      const fiber = yield* Progress.track(work, {
        label: "replay tickets",
        total: 1_000,
        read: () => read,
        mode: "lines",
        write: (s) => void lines.push(s)
      }).pipe(Effect.forkChild)
      read = 250
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(lines, ["replay tickets: 250 / 1,000 events (25%), 250 events/s\n"])
      read = 500
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("1500 millis")
      assert.strictEqual(yield* Fiber.join(fiber), "done")
      assert.deepStrictEqual(lines, [
        "replay tickets: 250 / 1,000 events (25%), 250 events/s\n",
        "replay tickets: 500 / 1,000 events (50%), 250 events/s\n",
        "replay tickets: 500 / 1,000 events (50%), 167 events/s\n",
        "replay tickets: 1,000 / 1,000 events (100%) in 3.5 s\n"
      ])
    }))

  it.effect("tty mode: one line rewritten in place, erased when the work ends", () =>
    Effect.gen(function*() {
      const out: Array<string> = []
      let read = 0
      const fiber = yield* Progress.track(Effect.sleep("1500 millis"), {
        label: "journal streams",
        total: 10,
        read: () => read,
        mode: "tty",
        write: (s) => void out.push(s)
      }).pipe(Effect.forkChild)
      read = 5
      yield* TestClock.adjust("2 seconds")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(out, ["\rjournal streams: 5 / 10 events (50%), 5 events/s\u001b[K", "\r\u001b[K"])
    }))

  it.effect("off: writes nothing", () =>
    Effect.gen(function*() {
      const out: Array<string> = []
      const fiber = yield* Progress.track(Effect.sleep("3 seconds"), { label: "x", total: 1, read: () => 1, mode: "off", write: (s) => void out.push(s) })
        .pipe(Effect.forkChild)
      yield* TestClock.adjust("3 seconds")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(out, [])
    }))

  it.effect("a failed work is not reported as finished", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const fiber = yield* Progress.track(Effect.sleep("1500 millis").pipe(Effect.andThen(Effect.fail("boom"))), {
        label: "replay",
        total: 10,
        read: () => 3,
        mode: "lines",
        write: (s) => void lines.push(s)
      }).pipe(Effect.forkChild)
      yield* TestClock.adjust("2 seconds")
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(exit._tag === "Failure")
      assert.deepStrictEqual(lines, ["replay: 3 / 10 events (30%), 3 events/s\n"])
    }))
})
