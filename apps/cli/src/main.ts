#!/usr/bin/env node
/**
 * `mailroom`: the command line of the Mailroom demos.
 *
 *   mailroom start [shop flags]                                     the shop demo, in the foreground
 *   mailroom submit --item tea=2 [--item mug=1] [--customer c] [--key k] [--url u] [--timeout s]
 *   mailroom status <ticket> [--url u] [--timeout s]                a ticket's status
 *   mailroom journal streams [--db file] [--limit n]                streams in a journal
 *   mailroom journal show <stream> [--db file] [--from v] [--limit n]   one stream's events
 *   mailroom replay <tickets|balances> [--db file] [--progress]     rebuild a projection
 *   mailroom bench [--no-run]                                       benchmarks + tables
 *
 * Every failure is one line on stderr (`mailroom: ...`) and exit code 1 (see `Failure.ts`);
 * everything printed from a journal or the shop is escaped (see `Display.ts`).
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect, Option } from "effect"
import { Argument, CliOutput, Command, Flag } from "effect/cli"
import { FetchHttpClient } from "effect/http"
import { spawn } from "node:child_process"
import { DataFolder } from "@mailroom/persistence"
import { existsSync } from "node:fs"
import { resolve } from "node:path"
import { fileURLToPath } from "node:url"
import * as Bench from "./Bench.js"
import { shellArg } from "./Display.js"
import * as Failure from "./Failure.js"
import { fail } from "./Failure.js"
import * as JournalFile from "./Journal.js"
import * as Output from "./Output.js"
import * as Progress from "./Progress.js"
import * as Replay from "./Replay.js"
import * as Shop from "./Shop.js"

const defaultUrl = "http://127.0.0.1:4000"

const atLeast = (min: number) => (n: number) => n >= min
const atLeastText = (min: number) => () => `must be at least ${min}`

const url = Flag.String("url").pipe(
  Flag.withDescription(`address of the running shop's front desk (default ${defaultUrl})`),
  Flag.withDefault(defaultUrl)
)
const timeout = Flag.Finite("timeout").pipe(
  Flag.withDescription("seconds to wait for the shop's answer (default 10)"),
  Flag.filter((n) => n > 0, () => "must be more than 0 seconds"),
  Flag.withDefault(10)
)

/** Where the built shop program is, next to this package. */
export const shopMain = fileURLToPath(new URL("../../shop/dist/main.js", import.meta.url))

/** Makes sure the data folder exists and is writable before the shop starts in it. */
const dataFolder = (dir: string) =>
  DataFolder.ensure(dir).pipe(Effect.mapError((e) => fail(`${e.message} (pass --data with a writable folder, or --memory)`)))

/**
 * Runs the shop as a child process; answers how it ended. Interrupting the command (Ctrl-C)
 * stops the shop and waits for it to exit.
 */
const runShop = (args: ReadonlyArray<string>) =>
  Effect.callback<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }, Failure.CommandFailed>((resume) => {
    const child = spawn(process.execPath, [shopMain, ...args], { stdio: "inherit" })
    child.on("error", (e) => resume(Effect.fail(fail(`cannot start the shop: ${e.message}`))))
    child.on("exit", (code, signal) => resume(Effect.succeed({ code, signal })))
    return Effect.callback<void>((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done(Effect.void)
      child.once("exit", () => done(Effect.void))
      child.kill("SIGINT")
    })
  })

const start = Command.make("start", {
  duration: Flag.Finite("duration").pipe(
    Flag.withDescription("seconds to run; 0 runs until Ctrl-C (default 30)"),
    Flag.filter(atLeast(0), atLeastText(0)),
    Flag.optional
  ),
  rate: Flag.Finite("rate").pipe(
    Flag.withDescription("peak orders per second of the load generator; 0 turns it off (default 900)"),
    Flag.filter(atLeast(0), atLeastText(0)),
    Flag.optional
  ),
  data: Flag.String("data").pipe(Flag.withDescription("folder of the SQLite journal, created on first run (default ./.mailroom-data)"), Flag.optional),
  memory: Flag.Boolean("memory").pipe(Flag.withDescription("keep the journal in memory instead of the data folder"), Flag.withDefault(false)),
  port: Flag.Int("port").pipe(
    Flag.withDescription("HTTP port of the front desk and dashboard, 0 = any free port (default 4000)"),
    Flag.filter((n) => n >= 0 && n <= 65535, () => "must be 0..65535"),
    Flag.optional
  ),
  host: Flag.String("host").pipe(Flag.withDescription("interface to listen on (default 127.0.0.1)"), Flag.optional),
  highWater: Flag.Int("high-water").pipe(
    Flag.withDescription("backlog (unfinished orders) past which the front desk answers 429 (default 3000)"),
    Flag.filter(atLeast(1), atLeastText(1)),
    Flag.optional
  ),
  tenantRate: Flag.Finite("tenant-rate").pipe(
    Flag.withDescription("orders per second one customer may place, fractions allowed; 0 = no limit (default 20)"),
    Flag.filter(atLeast(0), atLeastText(0)),
    Flag.optional
  ),
  maxWorkers: Flag.Int("max-workers").pipe(
    Flag.withDescription("largest warehouse pool the autoscaler may grow to (default 8)"),
    Flag.filter(atLeast(1), atLeastText(1)),
    Flag.optional
  ),
  cluster: Flag.Boolean("cluster").pipe(
    Flag.withDescription("run as one process of a clustered shop: the orders' request log is partitioned over the processes on PostgreSQL (see --pg-url, --runner-port; npm run shop:cluster starts three)"),
    Flag.withDefault(false)
  ),
  pgUrl: Flag.String("pg-url").pipe(
    Flag.withDescription("PostgreSQL of a clustered shop (default $MAILROOM_PG_URL, else postgres://postgres@127.0.0.1:5432/test)"),
    Flag.optional
  ),
  pgSchema: Flag.String("pg-schema").pipe(
    Flag.withDescription("PostgreSQL schema (it must exist) for a clustered shop's tables (default: the connection's search_path)"),
    Flag.optional
  ),
  runnerPort: Flag.Int("runner-port").pipe(
    Flag.withDescription("TCP port the other processes of a clustered shop reach this one at (default 34431)"),
    Flag.filter((n) => n >= 1 && n <= 65535, () => "must be 1..65535"),
    Flag.optional
  ),
  partitions: Flag.Int("partitions").pipe(
    Flag.withDescription("partitions of a clustered shop's request log, the same on every process (default 12)"),
    Flag.filter((n) => n >= 1 && n <= 4096, () => "must be 1..4096"),
    Flag.optional
  ),
  adminToken: Flag.String("admin-token").pipe(
    Flag.withDescription("token for the shop's ticket list (GET /tickets), /metrics and /admin/*; prefer $MAILROOM_ADMIN_TOKEN: a flag shows in the process list (none = those answer 401)"),
    Flag.optional
  )
}, (f) =>
  Effect.gen(function*() {
    if (!existsSync(shopMain)) return yield* fail(`the shop is not built (${shopMain} is missing): run \`npx nx run shop:build\``)
    if (!f.memory && !f.cluster) yield* dataFolder(resolve(Option.getOrElse(f.data, () => ".mailroom-data")))
    const args: Array<string> = []
    const pass = (name: string, value: Option.Option<string | number>) => {
      if (Option.isSome(value)) args.push(`--${name}`, String(value.value))
    }
    pass("duration", f.duration)
    pass("rate", f.rate)
    pass("data", f.data)
    pass("port", f.port)
    pass("host", f.host)
    pass("high-water", f.highWater)
    pass("tenant-rate", f.tenantRate)
    pass("max-workers", f.maxWorkers)
    pass("admin-token", f.adminToken)
    pass("pg-url", f.pgUrl)
    pass("pg-schema", f.pgSchema)
    pass("runner-port", f.runnerPort)
    pass("partitions", f.partitions)
    if (f.memory) args.push("--memory")
    if (f.cluster) args.push("--cluster")
    // The shop prints its own one-line error when it fails; its exit code becomes ours. Killed
    // by a signal it printed nothing: say so (SIGINT/SIGTERM are a Ctrl-C or a stop asked for).
    const ended = yield* runShop(args)
    if (ended.signal !== null && ended.signal !== "SIGINT" && ended.signal !== "SIGTERM") {
      return yield* fail(
        `the shop was stopped by ${ended.signal} (out of memory, or killed from outside); ` +
          (f.memory
            ? "its journal was in memory (--memory), so what it had accepted is gone"
            : "what it accepted is in its journal and the next `mailroom start` on the same data folder finishes it")
      )
    }
    if (ended.code !== null && ended.code !== 0 && ended.code !== 130) process.exitCode = ended.code
  })).pipe(
    Command.withDescription(
      "run the shop demo in the foreground: load generator, live summary, dashboard and the HTTP front desk that submit and status talk to; Ctrl-C stops it (anything unfinished is finished on the next start). The flags are the shop's own."
    ),
    Command.withExamples([
      { command: "mailroom start --duration 0 --rate 0", description: "run until Ctrl-C, no generated load: only what you submit" },
      { command: "mailroom start --memory --port 0", description: "a throw-away run on any free port" }
    ])
  )

const submit = Command.make("submit", {
  item: Flag.String("item").pipe(
    Flag.withDescription("sku=qty, repeat for more lines (e.g. --item tea=2 --item mug=1); the shop takes skus of a-z, 0-9 and - and quantities 1..99"),
    Flag.atLeast(1)
  ),
  customer: Flag.String("customer").pipe(Flag.withDescription("who orders (default cli)"), Flag.withDefault("cli")),
  key: Flag.String("key").pipe(
    Flag.withDescription("Idempotency-Key: sending the same order with the same key again answers the first ticket instead of placing a second order"),
    Flag.optional
  ),
  url,
  timeout
}, (f) =>
  Effect.gen(function*() {
    const base = yield* Shop.parseUrl(f.url)
    const lines = yield* Shop.parseItems(f.item)
    const r = yield* Shop.submit({ url: base, timeout: f.timeout }, { customer: f.customer, lines }, Option.getOrUndefined(f.key))
    yield* Output.line(`${r.duplicate ? "already accepted" : "accepted"}: ${Shop.line(r.ticket)}`)
    yield* Output.line(`follow it: ${Shop.statusCommand(r.ticket.id, base, defaultUrl)}   (or GET ${base}${r.location})`)
  }).pipe(Effect.provide(FetchHttpClient.layer))).pipe(
    Command.withDescription("submit an order to a running shop (POST /orders) and print its ticket"),
    Command.withExamples([{ command: "mailroom submit --item tea=2 --item mug=1 --customer ada --key order-42", description: "two lines, retry-safe" }])
  )

const status = Command.make("status", {
  ticket: Argument.String("ticket").pipe(
    Argument.withDescription("the ticket id `mailroom submit` printed (an opaque id; one that starts with - goes after --)")
  ),
  url,
  timeout
}, (f) =>
  Effect.gen(function*() {
    const base = yield* Shop.parseUrl(f.url)
    const t = yield* Shop.status({ url: base, timeout: f.timeout }, f.ticket)
    yield* Output.line(Shop.line(t))
  }).pipe(Effect.provide(FetchHttpClient.layer))).pipe(
    Command.withDescription("print a ticket's current status, customer and lines (GET /tickets/<id>)")
  )

/** The journal file of a command, and how to make it when it is missing. */
const journalLayer = (given: Option.Option<string>, fallback: "shop.db" | "bank.db") => {
  const file = Option.isSome(given) ? resolve(given.value) : resolve(".mailroom-data", fallback)
  return JournalFile.layer(file, {
    missingHint: fallback === "shop.db"
      ? "run `mailroom start` first, or pass --db"
      : "run the bank demo (`npm run bank`) first, or pass --db",
    dbArg: Option.isSome(given) ? ` --db ${shellArg(file)}` : ""
  })
}

const shopDb = Flag.String("db").pipe(
  Flag.withDescription("journal file (default .mailroom-data/shop.db, the shop's; the bank's is .mailroom-data/bank.db)"),
  Flag.optional
)

const streams = Command.make("streams", {
  db: shopDb,
  limit: Flag.Int("limit").pipe(
    Flag.withDescription("show at most this many streams, the most recently written first (default 30)"),
    Flag.filter(atLeast(1), atLeastText(1)),
    Flag.withDefault(30)
  )
}, (f) => JournalFile.printStreams(f.limit).pipe(Effect.provide(journalLayer(f.db, "shop.db")))).pipe(
  Command.withDescription(
    "list the streams of a journal with their event counts and last event type, the most recently written first (the shop's: shop-orders, its request log of orders and their picks; the bank's: account-<id>, sagas:transfer, saga:transfer:<id>)"
  )
)

const show = Command.make("show", {
  stream: Argument.String("stream").pipe(Argument.withDescription("stream name, e.g. shop-orders (list them with `mailroom journal streams`)")),
  db: shopDb,
  from: Flag.Int("from").pipe(
    Flag.withDescription("first stream version to show (default 1)"),
    Flag.filter(atLeast(1), atLeastText(1)),
    Flag.withDefault(1)
  ),
  limit: Flag.Int("limit").pipe(
    Flag.withDescription("most events to show (default 100); a last line says how many more there are and the command that shows them"),
    Flag.filter(atLeast(1), atLeastText(1)),
    Flag.withDefault(100)
  )
}, (f) => JournalFile.show(f.stream, f.from, f.limit).pipe(Effect.provide(journalLayer(f.db, "shop.db")))).pipe(
  Command.withDescription(
    "print the events of one stream: version, global position, type, schema version, id and data (JSON), printed as they are read"
  ),
  Command.withExamples([
    { command: "mailroom journal show shop-orders", description: "the first 100 events of the shop's request log (TasksAccepted, TasksProgressed)" },
    { command: "mailroom journal show shop-orders --from 101 --limit 50", description: "the next 50" }
  ])
)

const journal = Command.make("journal").pipe(
  Command.withDescription("look into a journal file (opened read-only: safe beside a running app)"),
  Command.withSubcommands([streams, show])
)

const replay = Command.make("replay", {
  projection: Argument.Literals("projection", ["tickets", "balances"]).pipe(
    Argument.withDescription(
      "tickets: the shop's orders by status and the oldest unfinished one, from its request log (stream shop-orders: TasksAccepted, TasksProgressed; order tasks, not the picks they spawn; default --db .mailroom-data/shop.db). balances: the bank's accounts and their total (streams account-<id>: Opened, Debited, Credited; default --db .mailroom-data/bank.db)"
    )
  ),
  db: Flag.String("db").pipe(
    Flag.withDescription("journal file (default .mailroom-data/shop.db for tickets, .mailroom-data/bank.db for balances)"),
    Flag.optional
  ),
  progress: Flag.Boolean("progress").pipe(
    Flag.withDescription("report events read / total on stderr every second (always on when stderr is a terminal)"),
    Flag.withDefault(false)
  )
}, (f) => {
  const name = f.projection as Replay.Name
  return Effect.gen(function*() {
    const { file } = yield* JournalFile.JournalFile
    const lines = yield* Replay.run(name, { progress: Progress.mode(f.progress) })
    yield* Output.line(`${name} from ${file}:`)
    yield* Output.lines(lines)
  }).pipe(Effect.provide(journalLayer(f.db, Replay.projections[name])))
}).pipe(
  Command.withDescription(
    "rebuild a projection from zero by replaying the journal (in memory; the file is not written) and print it; a journal without the projection's events is named the wrong one"
  )
)

const bench = Command.make("bench", {
  noRun: Flag.Boolean("no-run").pipe(Flag.withDescription("only print the tables of the last results"), Flag.withDefault(false))
}, (f) =>
  Effect.gen(function*() {
    const root = Bench.findRoot(fileURLToPath(new URL(".", import.meta.url)))
    if (root === undefined) return yield* fail("cannot find the repository root (nx.json) above the mailroom command")
    if (!f.noRun) yield* Bench.runAll(root)
    yield* Output.lines(yield* Bench.tables(root))
  })).pipe(
    Command.withDescription(
      "run every benchmark (npx nx run-many -t bench --parallel=1, from the repository root), then print the comparison tables from bench-results/*.json"
    )
  )

const mailroom = Command.make("mailroom").pipe(
  Command.withDescription("Mailroom: asynchronous work on Effect — run the shop demo, follow its tickets, look into journals, replay projections, run the benchmarks"),
  Command.withSubcommands([start, submit, status, journal, replay, bench])
)

// Output the reader closed early (`mailroom --help | head`) is not worth a stack trace.
process.stdout.on("error", () => undefined)

mailroom.pipe(
  Command.run({ version: "0.1.0" }),
  Effect.provide(Output.layer),
  Effect.provide(CliOutput.layerPresenter(Failure.presenter)),
  Effect.provide(NodeServices.layer),
  Effect.catchCause(Failure.report),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
