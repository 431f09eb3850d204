import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"

const main = fileURLToPath(new URL("../dist/main.js", import.meta.url))

/** Runs the built shop; resolves with its exit code and output. `onLine` may send signals. */
const run = (args: ReadonlyArray<string>, onOutput?: (out: string, kill: () => void) => void, env: Record<string, string> = {}) =>
  new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const { MAILROOM_ADMIN_TOKEN: _, ...inherited } = process.env
    const child = spawn(process.execPath, [main, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...inherited, ...env } })
    let out = ""
    let err = ""
    child.stdout.on("data", (d) => {
      out += String(d)
      onOutput?.(out, () => child.kill("SIGINT"))
    })
    child.stderr.on("data", (d) => void (err += String(d)))
    child.on("exit", (code) => resolve({ code, out, err }))
  })

describe.skipIf(!existsSync(main))("mailroom-shop (built)", { timeout: 60_000 }, () => {
  it("--help explains the flags", async () => {
    const { code, out } = await run(["--help"])
    assert.strictEqual(code, 0)
    for (const flag of ["--duration", "--rate", "--data", "--port", "--admin-token"]) assert.include(out, flag)
  })

  it("runs for --duration, prints the live summary and the story, and exits 0", async () => {
    const { code, out } = await run(["--duration", "3", "--rate", "300", "--memory", "--port", "0"])
    assert.strictEqual(code, 0)
    assert.include(out, "dashboard http://127.0.0.1:")
    assert.include(out, "orders/s")
    assert.include(out, "What happened")
    assert.match(out, /(\d+) orders were recorded/)
  })

  it("Ctrl-C (SIGINT) stops it cleanly within seconds", async () => {
    let sent = false
    const started = Date.now()
    const { code, out } = await run(["--duration", "0", "--rate", "300", "--memory", "--port", "0"], (text, kill) => {
      if (!sent && text.includes("orders/s")) {
        sent = true
        setTimeout(kill, 1500)
      }
    })
    assert.isTrue(sent)
    assert.include(out, "What happened")
    assert.isBelow(Date.now() - started, 15_000)
    assert.include([0, 130], code)
  })

  it("warns that --admin-token shows in the process list; MAILROOM_ADMIN_TOKEN gives no warning (item 13)", async () => {
    const quick = ["--duration", "1", "--rate", "0", "--memory", "--port", "0"]
    const flag = await run([...quick, "--admin-token", "tok-9f3e2a"])
    assert.strictEqual(flag.code, 0)
    assert.match(flag.err, /--admin-token .*process list/)
    assert.include(flag.err, "MAILROOM_ADMIN_TOKEN")
    assert.notInclude(flag.err + flag.out, "tok-9f3e2a", "the token itself is never printed")
    assert.include(flag.out, "admin enabled")
    const env = await run(quick, undefined, { MAILROOM_ADMIN_TOKEN: "tok-9f3e2a" })
    assert.strictEqual(env.code, 0)
    assert.notMatch(env.err, /process list/)
    assert.include(env.out, "admin enabled")
  })

  it("a bad flag value is one clear line and a non-zero exit", async () => {
    const { code, err } = await run(["--rate", "-1", "--memory"])
    assert.strictEqual(code, 1)
    assert.include(err, "--rate must be ≥ 0, got -1")
  })

  // Node's recursive mkdir never returned for such a path: the shop spun at full CPU, deaf to SIGTERM.
  it.skipIf(process.platform !== "linux")("a data folder that cannot be created is one clear line, at once", async () => {
    const started = performance.now()
    const child = spawn(process.execPath, [main, "--data", "/proc/mailroom-shop/x", "--duration", "1"], { stdio: ["ignore", "pipe", "pipe"] })
    let err = ""
    child.stderr.on("data", (d) => void (err += String(d)))
    const killer = setTimeout(() => child.kill("SIGKILL"), 15_000)
    const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)))
    clearTimeout(killer)
    assert.strictEqual(code, 1)
    assert.include(err, "cannot use the data folder /proc/mailroom-shop/x")
    assert.isBelow(performance.now() - started, 10_000)
  })
})
