import { afterEach, assert, beforeEach, describe, it } from "@effect/vitest"
import { Cause, Effect } from "effect"
import * as Failure from "../src/Failure.js"
import { OutputClosed } from "../src/Output.js"

describe("Failure.report", () => {
  let written: Array<string>
  let original: typeof process.stderr.write
  beforeEach(() => {
    written = []
    original = process.stderr.write
    process.stderr.write = ((chunk: unknown) => {
      written.push(String(chunk))
      return true
    }) as typeof process.stderr.write
    process.exitCode = undefined
  })
  afterEach(() => {
    process.stderr.write = original
    process.exitCode = undefined
  })

  it("a defect is one line saying it is a bug, without its stack trace", () => {
    Effect.runSync(Failure.report(Cause.die(new TypeError("Cannot read properties of undefined (reading 'id')\n    at line (Shop.js:1:2)"))))
    assert.deepStrictEqual(written, [
      "mailroom: unexpected error (a bug in mailroom; please report it with the command you ran): TypeError: Cannot read properties of undefined (reading 'id')\n"
    ])
    assert.strictEqual(process.exitCode, 1)
  })

  it("a failure's message is one line even when it holds line breaks or escape sequences", () => {
    Effect.runSync(Failure.report(Cause.fail(Failure.fail("the shop answered 500: boom\n\u001b[2Jagain"))))
    assert.deepStrictEqual(written, ["mailroom: the shop answered 500: boom\\u000a\\u001b[2Jagain\n"])
    assert.strictEqual(process.exitCode, 1)
  })

  it("Ctrl-C exits with 130 and a closed output quietly", () => {
    Effect.runSync(Failure.report(Cause.interrupt()))
    assert.strictEqual(process.exitCode, 130)
    process.exitCode = undefined
    Effect.runSync(Failure.report(Cause.fail(new OutputClosed())))
    assert.strictEqual(process.exitCode, undefined)
    assert.deepStrictEqual(written, [])
  })
})
