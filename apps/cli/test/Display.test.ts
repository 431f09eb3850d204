import { assert, describe, it } from "@effect/vitest"
import * as Display from "../src/Display.js"

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

describe("Display.escape", () => {
  it("leaves printable text alone (letters, digits, punctuation, non-ASCII, emoji, backslashes)", () => {
    for (const s of ["plain text", "2× tea, 1× mug", "Grüße, 東京 😀", "a\\b", "k-1:0", ""]) assert.strictEqual(Display.escape(s), s)
  })

  it("shows C0 and C1 control characters and DEL as \\u escapes", () => {
    assert.strictEqual(Display.escape("a\u001b[2Jb"), "a\\u001b[2Jb")
    assert.strictEqual(Display.escape("\u0000\r\n\t\u0007"), "\\u0000\\u000d\\u000a\\u0009\\u0007")
    assert.strictEqual(Display.escape("\u007f\u0085\u009b"), "\\u007f\\u0085\\u009b")
  })

  it("shows lone surrogates as \\u escapes and keeps pairs", () => {
    assert.strictEqual(Display.escape("x\ud800y"), "x\\ud800y")
    assert.strictEqual(Display.escape("x\udc00"), "x\\udc00")
    assert.strictEqual(Display.escape("\ude00\ud83d"), "\\ude00\\ud83d")
    assert.strictEqual(Display.escape("\ud83d\ude00\ud800"), "\ud83d\ude00\\ud800")
  })

  it("shows bidirectional overrides and line separators as \\u escapes", () => {
    assert.strictEqual(Display.escape("a\u202eb\u2066c\u2028d"), "a\\u202eb\\u2066c\\u2028d")
  })
})

describe("Display.field", () => {
  it("prints a plain value as is", () => {
    for (const s of ["ada", "tea", "shop-orders", "saga:transfer:1-00020", "9m93f9mx453b6m-0", "gk1HbAAGW4vMhnJhFgCBbQ"]) {
      assert.strictEqual(Display.field(s), s)
    }
  })

  it("quotes a value that could be confused: empty, spaces, quotes, backslashes, anything escaped", () => {
    assert.strictEqual(Display.field(""), `""`)
    assert.strictEqual(Display.field("ada lovelace"), `"ada lovelace"`)
    assert.strictEqual(Display.field(`say "hi"`), `"say \\"hi\\""`)
    // a backslash is doubled, so a name that spells an escape is not taken for one
    assert.strictEqual(Display.field("a\\u001b"), `"a\\\\u001b"`)
    assert.strictEqual(Display.field("a\u001b"), `"a\\u001b"`)
    assert.strictEqual(Display.field("x\ud800"), `"x\\ud800"`)
  })

  it("never lets a raw control character or lone surrogate through", () => {
    const leaks: Array<string> = []
    for (let c = 0; c < 0x10000; c++) {
      const out = Display.field(`a${String.fromCharCode(c)}b`)
      // oxlint-disable-next-line no-control-regex -- matching control characters is the point
      if (/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(out) || loneSurrogate.test(out)) leaks.push(`U+${c.toString(16)}`)
    }
    assert.deepStrictEqual(leaks, [])
  })
})

describe("Display.shellArg", () => {
  it("quotes what a shell would split or expand, and only that", () => {
    assert.strictEqual(Display.shellArg("gk1HbAAGW4vMhnJhFgCBbQ"), "gk1HbAAGW4vMhnJhFgCBbQ")
    assert.strictEqual(Display.shellArg("a b"), "'a b'")
    assert.strictEqual(Display.shellArg("it's"), `'it'\\''s'`)
    assert.strictEqual(Display.shellArg(""), "''")
  })
})
