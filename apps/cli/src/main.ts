#!/usr/bin/env node
/**
 * `mailroom`: the command line of the Mailroom demos.
 *
 *   mailroom start [--duration s] [--rate n] [--data dir] [--port n] [--memory]   the shop demo
 *   mailroom submit --item tea=2 [--item mug=1] [--customer c] [--key k] [--url]  POST an order
 *   mailroom status <ticket> [--url]                                              a ticket's status
 *   mailroom journal streams [--db file] [--limit n]                              streams in a journal
 *   mailroom journal show <stream> [--db file]                                    one stream's events
 *   mailroom replay <tickets|balances> [--db file]                                rebuild a projection
 *   mailroom bench [--no-run]                                                     benchmarks + tables
 *
 * Errors are one line (`mailroom: ...`) and exit code 1.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Effect, Option } from "effect"
import { Argument, CliError, Command, Flag } from "effect/cli"
import { FetchHttpClient } from "effect/http"
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { resolve } from "node:path"
import { fileURLToPath } from "node:url"
import * as Bench from "./Bench.js"
import { fail } from "./Failure.js"
import * as JournalFile from "./Journal.js"
import * as Replay from "./Replay.js"
import * as Shop from "./Shop.js"

const url = Flag.String("url").pipe(
  Flag.withDescription("the running shop (default http://127.0.0.1:4000)"),
  Flag.withDefault("http://127.0.0.1:4000")
)
const db = Flag.String("db").pipe(
  Flag.withDescription("journal file (default .mailroom-data/shop.db; replay balances: .mailroom-data/bank.db)"),
  Flag.optional
)

/** Where the built shop program is, next to this package. */
export const shopMain = fileURLToPath(new URL("../../shop/dist/main.js", import.meta.url))

const start = Command.make("start", {
  duration: Flag.Finite("duration").pipe(Flag.withDescription("seconds to run; 0 = until Ctrl-C (shop default 30)"), Flag.optional),
  rate: Flag.Finite("rate").pipe(Flag.withDescription("peak orders/s of the load generator (shop default 900)"), Flag.optional),
  data: Flag.String("data").pipe(Flag.withDescription("data folder (shop default .mailroom-data)"), Flag.optional),
  port: Flag.Int("port").pipe(Flag.withDescription("HTTP port (shop default 4000)"), Flag.optional),
  memory: Flag.Boolean("memory").pipe(Flag.withDescription("journal in memory"), Flag.withDefault(false))
}, (f) =>
  Effect.gen(function*() {
    if (!existsSync(shopMain)) return yield* fail(`the shop is not built (${shopMain} is missing): run \`npx nx run shop:build\``)
    const args: Array<string> = []
    if (Option.isSome(f.duration)) args.push("--duration", String(f.duration.value))
    if (Option.isSome(f.rate)) args.push("--rate", String(f.rate.value))
    if (Option.isSome(f.data)) args.push("--data", f.data.value)
    if (Option.isSome(f.port)) args.push("--port", String(f.port.value))
    if (f.memory) args.push("--memory")
    const code = yield* Effect.callback<number | null>((resume) => {
      const child = spawn(process.execPath, [shopMain, ...args], { stdio: "inherit" })
      child.on("exit", (c) => resume(Effect.succeed(c)))
      return Effect.sync(() => void child.kill("SIGINT"))
    })
    if (code !== 0 && code !== 130 && code !== null) process.exitCode = code
  })).pipe(Command.withDescription("run the shop demo (load generator, live summary, dashboard); Ctrl-C stops it"))

const submit = Command.make("submit", {
  item: Flag.String("item").pipe(Flag.withDescription("sku=qty, repeat for more items (e.g. --item tea=2 --item mug=1)"), Flag.atLeast(1)),
  customer: Flag.String("customer").pipe(Flag.withDescription("who orders (default cli)"), Flag.withDefault("cli")),
  key: Flag.String("key").pipe(Flag.withDescription("Idempotency-Key: the same key returns the same ticket"), Flag.optional),
  url
}, (f) =>
  Effect.gen(function*() {
    const lines = yield* Shop.parseItems(f.item)
    const r = yield* Shop.submit(f.url, { customer: f.customer, lines }, Option.getOrUndefined(f.key))
    yield* Console.log(`${r.duplicate ? "already accepted" : "accepted"}: ${Shop.line(r.ticket)}`)
    yield* Console.log(`follow it: mailroom status ${r.ticket.id}   (or GET ${f.url}${r.location})`)
  }).pipe(Effect.provide(FetchHttpClient.layer))).pipe(Command.withDescription("submit an order to a running shop and print its ticket"))

const status = Command.make("status", {
  ticket: Argument.String("ticket").pipe(Argument.withDescription("the ticket id (t-...)")),
  url
}, (f) =>
  Effect.flatMap(Shop.status(f.url, f.ticket), (t) => Console.log(Shop.line(t))).pipe(Effect.provide(FetchHttpClient.layer))).pipe(
    Command.withDescription("print a ticket's current status")
  )

const dbFile = (given: Option.Option<string>, fallback: string) =>
  Option.isSome(given) ? resolve(given.value) : resolve(".mailroom-data", fallback)

const streams = Command.make("streams", {
  db,
  limit: Flag.Int("limit").pipe(Flag.withDescription("show at most this many streams, newest first (default 30)"), Flag.withDefault(30))
}, (f) => {
  const file = dbFile(f.db, "shop.db")
  return Effect.gen(function*() {
    const r = yield* JournalFile.streams(f.limit)
    yield* Console.log(`${file}: ${r.count} streams, ${r.total} events${r.count > r.rows.length ? ` (newest ${r.rows.length} shown)` : ""}`)
    for (const s of r.rows) yield* Console.log(`  ${s.name.padEnd(40)} ${String(s.events).padStart(6)} events  last ${s.last} @${s.position}`)
  }).pipe(Effect.provide(JournalFile.layer(file)))
}).pipe(Command.withDescription("list the streams of a journal"))

const show = Command.make("show", {
  stream: Argument.String("stream").pipe(Argument.withDescription("stream name (see `mailroom journal streams`)")),
  db
}, (f) => {
  const file = dbFile(f.db, "shop.db")
  return Effect.gen(function*() {
    const events = yield* JournalFile.show(f.stream)
    yield* Console.log(`${f.stream} (${events.length} events)`)
    for (const e of events) {
      yield* Console.log(`  v${e.version} @${e.position}  ${e.type} (schema v${e.schemaVersion}, id ${e.id})  ${JSON.stringify(e.data)}`)
    }
  }).pipe(Effect.provide(JournalFile.layer(file)))
}).pipe(Command.withDescription("print the events of one stream"))

const journal = Command.make("journal").pipe(
  Command.withDescription("look into a journal file"),
  Command.withSubcommands([streams, show])
)

const replay = Command.make("replay", {
  projection: Argument.Literals("projection", ["tickets", "balances"]).pipe(
    Argument.withDescription("tickets (shop.db) or balances (bank.db)")
  ),
  db
}, (f) => {
  const name = f.projection as Replay.Name
  const file = dbFile(f.db, Replay.projections[name])
  return Effect.gen(function*() {
    const lines = yield* Replay.run(name)
    yield* Console.log(`${name} from ${file}:`)
    for (const l of lines) yield* Console.log(l)
  }).pipe(Effect.provide(JournalFile.layer(file)))
}).pipe(Command.withDescription("rebuild a projection from zero by replaying the journal, and print it"))

const bench = Command.make("bench", {
  noRun: Flag.Boolean("no-run").pipe(Flag.withDescription("only print the tables of the last results"), Flag.withDefault(false))
}, (f) =>
  Effect.gen(function*() {
    const root = Bench.findRoot(fileURLToPath(new URL(".", import.meta.url)))
    if (root === undefined) return yield* fail("cannot find the repository root (nx.json) above the mailroom command")
    if (!f.noRun) yield* Bench.runAll(root)
    for (const l of yield* Bench.tables(root)) yield* Console.log(l)
  })).pipe(Command.withDescription(`run every benchmark (npx nx run-many -t bench) and print the comparison tables from bench-results/`))

const mailroom = Command.make("mailroom").pipe(
  Command.withDescription("Mailroom: asynchronous work on Effect — demos and tools"),
  Command.withSubcommands([start, submit, status, journal, replay, bench])
)


mailroom.pipe(
  Command.run({ version: "0.1.0" }),
  Effect.catch((error) =>
    Effect.sync(() => {
      if (!CliError.isCliError(error)) console.error(`mailroom: ${error instanceof Error ? error.message : String(error)}`)
      process.exitCode = 1
    })
  ),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
