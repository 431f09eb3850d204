import { assert, describe, it } from "@effect/vitest"
import { Result } from "effect"
import * as Catalog from "../src/Catalog.js"
import { decodeOrder, type Problem } from "../src/Order.js"

const refused = (input: unknown): Problem => {
  const result = decodeOrder(input)
  assert.isTrue(Result.isFailure(result), `expected ${JSON.stringify(input)} to be refused`)
  return Result.isFailure(result) ? result.failure : { error: "InvalidBody", message: "" }
}

const line = { sku: "tea", qty: 1 }

describe("Order (the request body of POST /orders)", () => {
  it("accepts a plain order", () => {
    const ok = decodeOrder({ customer: "Ada Lovelace", lines: [line, { sku: "mug", qty: 2 }] })
    assert.isTrue(Result.isSuccess(ok))
  })

  it("accepts names in other scripts and with common punctuation", () => {
    for (const customer of ["Zoë O'Brien", "José-María", "山田 太郎", "customer-42", "a.b@example.org", "Müller & Söhne (GmbH)"]) {
      assert.isTrue(Result.isSuccess(decodeOrder({ customer, lines: [line] })), customer)
    }
  })

  it("refuses control characters, lone surrogates, invisible format characters and odd lengths in customer, naming the field", () => {
    const bad = [
      "nul\u0000byte",
      "esc\u001b[2Jclear",
      "line\r\nbreak",
      "tab\there",
      "del\u007f",
      "c1\u009b31m",
      "lone \ud800 surrogate",
      "lone \udfff low",
      "bidi \u202e override",
      "zero\u200bwidth",
      "",
      " leading space",
      "trailing space ",
      "x".repeat(65)
    ]
    for (const customer of bad) {
      const problem = refused({ customer, lines: [line] })
      assert.strictEqual(problem.field, "customer", JSON.stringify(customer))
      assert.strictEqual(problem.error, "InvalidBody")
    }
  })

  it("refuses a sku that is not in the catalog, naming lines[i].sku", () => {
    const problem = refused({ customer: "ada", lines: [line, { sku: "plutonium", qty: 1 }] })
    assert.strictEqual(problem.field, "lines[1].sku")
    assert.include(problem.message, "plutonium")
    for (const sku of Catalog.skus) assert.isTrue(Result.isSuccess(decodeOrder({ customer: "ada", lines: [{ sku, qty: 1 }] })), sku)
  })

  it("refuses fields the schema does not declare, naming them (additionalProperties: false)", () => {
    assert.strictEqual(refused({ customer: "ada", lines: [line], admin: true }).field, "admin")
    assert.strictEqual(refused({ customer: "ada", lines: [{ ...line, price: 0 }] }).field, "lines[0].price")
  })

  it("names nested fields as JSON paths", () => {
    assert.strictEqual(refused({ customer: "ada", lines: [{ sku: "tea", qty: "2" }] }).field, "lines[0].qty")
    assert.strictEqual(refused({ lines: [line] }).field, "customer")
  })
})
