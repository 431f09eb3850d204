/// <reference lib="dom" />
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest, HttpServer } from "effect/http"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { chromium } from "playwright-core"
import * as Shop from "../src/Shop.js"

const executablePath = "/usr/bin/chromium"
const available = existsSync(executablePath)
const skip = !available && !process.env["CI"]
if (skip) console.log(`dashboard e2e skipped: ${executablePath} is missing (apt-get install chromium, or set CI=1 to make this a failure)`)

const config: Shop.Config = {
  dataDir: undefined,
  rate: 400,
  period: 20,
  desk: { highWater: 5000, minWorkers: 1, maxWorkers: 4, timing: { setupMs: 8, perUnitMs: 1 } },
  adminToken: "e2e-admin-token",
  port: 0,
  sampleMs: 250
}

describe.skipIf(skip)("dashboard in headless Chromium", () => {
  it.live("loads, its charts move while load runs (public figures), an order placed from the page shows its final status, and customers' tickets appear only with the admin token", () =>
    Effect.gen(function*() {
      const server = yield* HttpServer.HttpServer
      const port = server.address._tag === "InetAddressV4" ? server.address.port : 0
      const base = `http://127.0.0.1:${port}`
      const profile = mkdtempSync(join(tmpdir(), "mailroom-chromium-"))
      // A fresh profile directory per run (playwright passes it as --user-data-dir).
      const browser = yield* Effect.acquireRelease(
        Effect.promise(() =>
          chromium.launchPersistentContext(profile, {
            executablePath,
            headless: true,
            args: [
              "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync"
            ]
          })
        ),
        (b) => Effect.promise(() => b.close()).pipe(Effect.andThen(Effect.sync(() => rmSync(profile, { recursive: true, force: true }))))
      )
      const page = yield* Effect.promise(() => browser.newPage())
      yield* Effect.promise(() => page.goto(base))
      assert.strictEqual(yield* Effect.promise(() => page.title()), "Mailroom shop — live")

      // charts fill up and move
      yield* Effect.promise(() => page.waitForFunction(() => Number(document.getElementById("chart-rates")!.dataset["points"]) >= 4, undefined, { timeout: 15_000 }))
      const before = yield* Effect.promise(() => page.evaluate(() => ({
        points: Number(document.getElementById("chart-rates")!.dataset["points"]),
        accepted: Number(document.getElementById("t-accepted")!.textContent)
      })))
      yield* Effect.promise(() => page.waitForFunction((n) => Number(document.getElementById("t-accepted")!.textContent) > n + 50, before.accepted, { timeout: 15_000 }))
      const after = yield* Effect.promise(() => page.evaluate(() => ({
        points: Number(document.getElementById("chart-rates")!.dataset["points"]),
        lastRates: JSON.parse(document.getElementById("chart-rates")!.dataset["last"] ?? "[]") as Array<number>,
        backlogPoints: Number(document.getElementById("chart-backlog")!.dataset["points"])
      })))
      assert.isAbove(after.points, before.points)
      assert.isAbove(after.lastRates[0]!, 0, "arrivals per second are drawn")
      assert.isAtLeast(after.backlogPoints, 4)

      // without the token the page holds no customer data
      const locked = yield* Effect.promise(() => page.evaluate(() => ({
        api: document.querySelectorAll("#api-tickets tr").length,
        latest: document.querySelectorAll("#latest-tickets tr").length,
        text: document.body.innerText
      })))
      assert.strictEqual(locked.api, 0)
      assert.strictEqual(locked.latest, 0)
      assert.notInclude(locked.text, "customer-")

      // an order placed from the page (same-origin POST /orders) shows up with its final status
      yield* Effect.promise(() => page.selectOption("#o-sku", "kettle"))
      yield* Effect.promise(() => page.fill("#o-qty", "2"))
      yield* Effect.promise(() => page.click("#order-form button"))
      yield* Effect.promise(() => page.waitForSelector(`#my-tickets tr[data-status="succeeded"]`, { timeout: 20_000 }))
      const mine = yield* Effect.promise(() => page.textContent("#my-tickets"))
      assert.include(mine ?? "", "kettle")
      assert.include(yield* Effect.promise(() => page.textContent("#order-result")) ?? "", "202 accepted")

      // with the admin token, a ticket submitted through the API shows up with its final status
      const res = yield* HttpClient.execute(
        HttpClientRequest.post(`${base}/orders`).pipe(
          HttpClientRequest.bodyJsonUnsafe({ customer: "e2e", lines: [{ sku: "teapot", qty: 1 }, { sku: "tea", qty: 2 }] })
        )
      )
      assert.strictEqual(res.status, 202)
      const id = ((yield* res.json) as any).ticket.id as string
      yield* Effect.promise(() => page.fill("#admin-token", "wrong"))
      yield* Effect.promise(() => page.click("#admin-form button"))
      yield* Effect.promise(() => page.waitForFunction(() => document.getElementById("admin-result")!.textContent!.includes("refused"), undefined, { timeout: 10_000 }))
      yield* Effect.promise(() => page.fill("#admin-token", "e2e-admin-token"))
      yield* Effect.promise(() => page.click("#admin-form button"))
      yield* Effect.promise(() => page.waitForSelector(`#api-tickets tr[data-ticket="${id}"][data-status="succeeded"]`, { timeout: 20_000 }))
      const text = yield* Effect.promise(() => page.textContent(`#api-tickets tr[data-ticket="${id}"]`))
      assert.include(text ?? "", "succeeded")
      assert.include(text ?? "", "teapot")
    }).pipe(Effect.scoped, Effect.provide(Layer.merge(Shop.serve(config), FetchHttpClient.layer))), 60_000)
})
