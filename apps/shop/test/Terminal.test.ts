import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import * as Terminal from "../src/Terminal.js"

describe("Terminal.escape", () => {
  it("leaves printable text alone, including other scripts", () => {
    for (const s of ["ada", "Zoë O'Brien", "山田 太郎", "orders/s in 120 — ok", "✓ done"]) assert.strictEqual(Terminal.escape(s), s)
  })

  it("escapes C0 and C1 controls, DEL, lone surrogates and bidi/invisible format characters", () => {
    const cases: Array<[string, string]> = [
      ["\u001b[2J", "\\x1b[2J"],
      ["a\u0000b", "a\\x00b"],
      ["cr\r\nlf", "cr\\r\\nlf"],
      ["\u007f", "\\x7f"],
      ["\u009b31m", "\\x9b31m"],
      ["\ud800", "\\ud800"],
      ["x\udc00y", "x\\udc00y"],
      ["\u202eevil", "\\u202eevil"],
      ["\u200b", "\\u200b"],
      ["back\\slash", "back\\\\slash"]
    ]
    for (const [input, expected] of cases) assert.strictEqual(Terminal.escape(input), expected, JSON.stringify(input))
  })

  it("keeps a well-formed surrogate pair (an emoji) as it is", () => {
    assert.strictEqual(Terminal.escape("🍵"), "🍵")
  })

  it.effect("the shop's logger escapes every message before it reaches the terminal", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const logger = Terminal.logger((line) => lines.push(line))
      yield* Effect.logWarning("customer \u001b[2J\u001b[H said hi").pipe(Effect.provide(Logger.layer([logger])))
      assert.strictEqual(lines.length, 1)
      assert.notInclude(lines[0]!, "\u001b")
      assert.include(lines[0]!, "\\x1b[2J")
    }))
})
