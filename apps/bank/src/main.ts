#!/usr/bin/env node
/**
 * `mailroom-bank`: the bank demo — event-sourced accounts, transfers as sagas with vouchers,
 * injected faults, a power cut and recovery, reconciliation, and fixing a projection by replay.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Console, Effect, Schema } from "effect"
import { CliError, Command, Flag } from "effect/cli"
import { resolve } from "node:path"
import * as Bank from "./Bank.js"

const flags = {
  accounts: Flag.Int("accounts").pipe(Flag.withDescription("number of accounts (default 20)"), Flag.withDefault(20)),
  transfers: Flag.Int("transfers").pipe(Flag.withDescription("number of transfers (default 400)"), Flag.withDefault(400)),
  faults: Flag.Finite("faults").pipe(
    Flag.withDescription("share of ledger calls that fail, lose their acknowledgement or hang, 0..1 (default 0.2)"),
    Flag.withDefault(0.2)
  ),
  crashAfter: Flag.Int("crash-after").pipe(
    Flag.withDescription("cut the power this many ms into the run, then recover from the vouchers; 0 = no crash (default 300)"),
    Flag.withDefault(300)
  ),
  concurrency: Flag.Int("concurrency").pipe(Flag.withDescription("transfers in flight at once (default 16)"), Flag.withDefault(16)),
  seed: Flag.Int("seed").pipe(Flag.withDescription("seed of the fault switch and the transfers (default 1)"), Flag.withDefault(1)),
  data: Flag.String("data").pipe(
    Flag.withDescription("folder of the SQLite journal; bank.db there is recreated on each run (default ./.mailroom-data)"),
    Flag.withDefault(".mailroom-data")
  ),
  memory: Flag.Boolean("memory").pipe(Flag.withDescription("keep the journal in memory"), Flag.withDefault(false))
}

/** A flag has a value out of range. */
class InvalidFlag extends Schema.TaggedError<InvalidFlag>()("InvalidFlag", { reason: Schema.String }) {
  override get message(): string {
    return this.reason
  }
}

const invalid = (reason: string) => new InvalidFlag({ reason })

const command = Command.make("mailroom-bank", flags, (f) =>
  Effect.gen(function*() {
    if (f.accounts < 2) return yield* invalid(`--accounts must be ≥ 2, got ${f.accounts}`)
    if (f.transfers < 0) return yield* invalid(`--transfers must be ≥ 0, got ${f.transfers}`)
    if (!(f.faults >= 0 && f.faults <= 1)) return yield* invalid(`--faults must be in 0..1, got ${f.faults}`)
    if (f.concurrency < 1) return yield* invalid(`--concurrency must be ≥ 1, got ${f.concurrency}`)
    if (f.crashAfter < 0) return yield* invalid(`--crash-after must be ≥ 0, got ${f.crashAfter}`)
    const dataDir = f.memory ? undefined : resolve(f.data)
    yield* Console.log(`Mailroom bank — journal: ${dataDir === undefined ? "memory" : `${dataDir}/bank.db (fresh)`}\n`)
    yield* Bank.run({
      accounts: f.accounts,
      transfers: f.transfers,
      faultRate: f.faults,
      concurrency: f.concurrency,
      seed: f.seed,
      crashAfterMs: f.crashAfter,
      openingCents: 100_000
    }, (line) => Console.log(line)).pipe(Effect.provide(Bank.journalLayer(dataDir)))
  }))

command.pipe(
  Command.run({ version: "0.1.0" }),
  Effect.catch((error) =>
    Effect.sync(() => {
      if (!CliError.isCliError(error)) console.error(`mailroom-bank: ${error instanceof Error ? error.message : String(error)}`)
      process.exitCode = 1
    })
  ),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
