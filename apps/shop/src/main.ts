#!/usr/bin/env node
/**
 * `mailroom-shop`: runs the shop demo with its load generator, prints a live summary and serves
 * the dashboard. Ctrl-C (SIGINT) stops it cleanly; anything accepted and not finished stays in
 * the request log and is recovered by the pipelines on the next run.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Config, Console, Effect, Logger, Option } from "effect"
import { CliError, Command, Flag } from "effect/cli"
import { HttpServer } from "effect/http"
import { resolve } from "node:path"
import * as Desk from "./Desk.js"
import { Monitor } from "./Monitor.js"
import * as Shop from "./Shop.js"
import * as Terminal from "./Terminal.js"

const positive = (name: string) => (n: number) => n >= 0 ? Effect.succeed(n) : Effect.fail(`--${name} must be ≥ 0, got ${n}`)

const flags = {
  duration: Flag.Finite("duration").pipe(
    Flag.withDescription("seconds to run; 0 runs until Ctrl-C (default 30)"),
    Flag.withDefault(30)
  ),
  rate: Flag.Finite("rate").pipe(
    Flag.withDescription("peak orders per second of the load generator (the wave goes calm → rush → flood → lull); 0 turns it off (default 900)"),
    Flag.withDefault(900)
  ),
  data: Flag.String("data").pipe(
    Flag.withDescription("folder of the SQLite journal, created on first run (default ./.mailroom-data)"),
    Flag.withDefault(".mailroom-data")
  ),
  memory: Flag.Boolean("memory").pipe(
    Flag.withDescription("keep the journal in memory instead of the data folder"),
    Flag.withDefault(false)
  ),
  port: Flag.Int("port").pipe(
    Flag.withDescription("HTTP port of the front desk and dashboard, 0 = any free port (default 4000)"),
    Flag.withDefault(4000)
  ),
  host: Flag.String("host").pipe(Flag.withDescription("interface to listen on (default 127.0.0.1)"), Flag.withDefault("127.0.0.1")),
  highWater: Flag.Int("high-water").pipe(
    Flag.withDescription(`backlog (unfinished orders) past which the front desk answers 429 (default ${Desk.defaults.highWater})`),
    Flag.withDefault(Desk.defaults.highWater)
  ),
  tenantRate: Flag.Finite("tenant-rate").pipe(
    Flag.withDescription(`orders per second one customer may place, fractions allowed (bursts of twice that, at least 1); 0 = no limit (default ${Desk.defaults.tenantRate?.perSecond ?? 0})`),
    Flag.withDefault(Desk.defaults.tenantRate?.perSecond ?? 0)
  ),
  maxWorkers: Flag.Int("max-workers").pipe(
    Flag.withDescription(`largest warehouse pool the autoscaler may grow to (default ${Desk.defaults.maxWorkers})`),
    Flag.withDefault(Desk.defaults.maxWorkers)
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
    Flag.withDefault(34431)
  ),
  partitions: Flag.Int("partitions").pipe(
    Flag.withDescription("partitions of a clustered shop's request log, the same on every process (default 12)"),
    Flag.withDefault(12)
  ),
  adminToken: Flag.String("admin-token").pipe(
    Flag.withDescription("token for /tickets, /metrics and /admin/*; prefer $MAILROOM_ADMIN_TOKEN: a flag shows in the process list (none = those answer 401)"),
    Flag.optional
  )
}

const command = Command.make("mailroom-shop", flags, (f) =>
  Effect.gen(function*() {
    for (const [name, value] of [["duration", f.duration], ["rate", f.rate], ["tenant-rate", f.tenantRate]] as const) {
      const ok = yield* Effect.result(positive(name)(value))
      if (ok._tag === "Failure") return yield* Effect.fail(new Desk.DeskError({ operation: "start", reason: ok.failure }))
    }
    if (f.port < 0 || f.port > 65535) return yield* new Desk.DeskError({ operation: "start", reason: `--port must be 0..65535, got ${f.port}` })
    if (f.highWater < 1) return yield* new Desk.DeskError({ operation: "start", reason: `--high-water must be ≥ 1, got ${f.highWater}` })
    if (f.maxWorkers < 1) return yield* new Desk.DeskError({ operation: "start", reason: `--max-workers must be ≥ 1, got ${f.maxWorkers}` })
    if (f.runnerPort < 1 || f.runnerPort > 65535) {
      return yield* new Desk.DeskError({ operation: "start", reason: `--runner-port must be 1..65535, got ${f.runnerPort}` })
    }
    if (f.partitions < 1 || f.partitions > 4096) {
      return yield* new Desk.DeskError({ operation: "start", reason: `--partitions must be 1..4096, got ${f.partitions}` })
    }
    const pgFromEnv = yield* Config.option(Config.String("MAILROOM_PG_URL"))
    const pgUrl = Option.getOrElse(Option.orElse(f.pgUrl, () => pgFromEnv), () => "postgres://postgres@127.0.0.1:5432/test")
    // A command-line argument is readable by every user of the machine (`ps`, /proc/<pid>/cmdline)
    // and lands in shell history; the environment is not.
    if (Option.isSome(f.adminToken)) {
      yield* Console.error(
        "mailroom-shop: warning: --admin-token is visible to every user of this machine in the process list (ps) and in your shell history; set MAILROOM_ADMIN_TOKEN in the environment instead"
      )
    }
    const fromEnv = yield* Config.option(Config.String("MAILROOM_ADMIN_TOKEN"))
    const adminToken = Option.getOrUndefined(Option.orElse(f.adminToken, () => fromEnv))
    const duration = f.duration === 0 ? undefined : f.duration
    const dataDir = f.memory || f.cluster ? undefined : resolve(f.data)
    const config: Shop.Config = {
      dataDir,
      rate: f.rate,
      period: duration === undefined ? 40 : Math.min(duration, 120),
      desk: {
        ...Desk.defaults,
        highWater: f.highWater,
        maxWorkers: f.maxWorkers,
        tenantRate: f.tenantRate === 0 ? undefined : { perSecond: f.tenantRate, burst: Math.max(1, 2 * f.tenantRate) }
      },
      adminToken,
      port: f.port,
      host: f.host,
      cluster: f.cluster
        ? { pgUrl, runnerPort: f.runnerPort, partitions: f.partitions, schema: Option.getOrUndefined(f.pgSchema) }
        : undefined
    }
    yield* run(config, duration).pipe(Effect.provide(Shop.serve(config)))
  }))

const run = (config: Shop.Config, duration: number | undefined) =>
  Effect.gen(function*() {
    const server = yield* HttpServer.HttpServer
    const desk = yield* Desk.Desk
    const monitor = yield* Monitor
    const address = `${HttpServer.formatAddress(server.address)}/`
    const started = Date.now()
    const tty = process.stdout.isTTY === true
    const journal = config.cluster !== undefined
      ? `PostgreSQL (cluster, ${config.cluster.partitions} partitions; runner port ${config.cluster.runnerPort})`
      : config.dataDir === undefined
      ? "memory"
      : Shop.journalFile(config.dataDir)
    yield* Console.log(`Mailroom shop — dashboard ${address}   journal: ${journal}`)
    yield* Console.log(`Front desk: POST ${address}orders · GET ${address}tickets/<id> · ${address}openapi.json · admin ${config.adminToken === undefined ? "disabled (set MAILROOM_ADMIN_TOKEN)" : "enabled"}`)
    const recovered = desk.figures().recovered
    yield* Console.log(`Press Ctrl-C to stop.${recovered > 0 ? ` Recovered ${recovered} unfinished orders from the last run.` : ""}\n`)
    let drawn = 0
    let lastPlain = 0
    const draw = Effect.sync(() => {
      const elapsed = (Date.now() - started) / 1000
      if (tty) {
        const block = Terminal.live(monitor.snapshot(), desk.figures(), elapsed, duration)
        if (drawn > 0) process.stdout.write(`\x1b[${drawn}A`)
        for (const line of block) process.stdout.write(`\x1b[2K${line}\n`)
        drawn = block.length
      } else if (elapsed - lastPlain >= 2) {
        lastPlain = elapsed
        process.stdout.write(Terminal.compact(monitor.snapshot(), desk.figures(), elapsed, duration) + "\n")
      }
    })
    const finish = Effect.suspend(() => {
      const seconds = (Date.now() - started) / 1000
      return Console.log(Terminal.summary(monitor.snapshot(), desk.figures(), seconds).join("\n"))
    })
    const loop = Effect.forever(Effect.andThen(draw, Effect.sleep(tty ? 250 : 500)))
    yield* (duration === undefined ? loop : Effect.timeoutOption(loop, duration * 1000)).pipe(
      Effect.ensuring(Effect.andThen(draw, finish))
    )
  })

command.pipe(
  Command.run({ version: "0.1.0" }),
  // One clear line and a non-zero exit code; the CLI module already printed its own parse errors.
  Effect.catch((error) =>
    Effect.sync(() => {
      if (!CliError.isCliError(error)) console.error(`mailroom-shop: ${Terminal.escape(error instanceof Error ? error.message : String(error))}`)
      process.exitCode = 1
    })
  ),
  // Every log line is escaped: log messages can quote what a request sent.
  Effect.provide(Logger.layer([Terminal.logger()])),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
