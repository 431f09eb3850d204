/**
 * The README's example, verbatim apart from assertions (which replace its `console.log`s) and
 * the database file (a fresh one per run instead of accounts.db in the working directory), so it
 * cannot rot. `tools/pack-check` runs the README's text itself from the packed package.
 */
import { afterAll, expect, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Journal, Projection, Replay, SqliteClient, SqlJournal, Upcast } from "@mailroom/persistence"

const dir = mkdtempSync(join(tmpdir(), "mailroom-readme-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

// Domain events: Schema classes, registered with a type name and a schema version.
class Deposited extends Schema.TaggedClass<Deposited>()("Deposited", { cents: Schema.Int }) {}
class Withdrawn extends Schema.TaggedClass<Withdrawn>()("Withdrawn", { cents: Schema.Int }) {}
const AccountEvents = Upcast.registry(Upcast.eventType("Deposited", Deposited), Upcast.eventType("Withdrawn", Withdrawn))

// A durable SQLite journal (WAL, synchronous=FULL) plus projection checkpoints, in one file.
const Live = Layer.mergeAll(SqlJournal.layer(), Projection.layerSql()).pipe(
  Layer.provideMerge(SqliteClient.layer({ filename: join(dir, "accounts.db"), durability: "full" }))
)

const program = Effect.gen(function*() {
  const journal = yield* Journal.Journal
  const version = yield* journal.streamVersion("account-1")
  // Optimistic concurrency: this append fails with WrongExpectedVersion if someone else wrote first.
  const { positions } = yield* journal.append("account-1", [
    yield* AccountEvents.encode(new Deposited({ cents: 500 })),
    yield* AccountEvents.encode(new Withdrawn({ cents: 120 }))
  ], version)

  // Rebuild the state from the journal: a fold over the stream's events.
  const { state, last } = yield* Replay.stream("account-1", {
    types: AccountEvents,
    initial: 0,
    apply: (balance, event) => event._tag === "Deposited" ? balance + event.cents : balance - event.cents
  })
  return { positions, state, last }
})

it.effect("README example: a first run, then a second on the same file", () =>
  Effect.gen(function*() {
    // appended at positions [ 1, 2 ] / balance 380 at version 2
    expect(yield* program.pipe(Effect.provide(Live))).toStrictEqual({ positions: [1, 2], state: 380, last: 2 })
    // "run it again": the journal is durable
    expect(yield* program.pipe(Effect.provide(Live))).toStrictEqual({ positions: [3, 4], state: 760, last: 4 })
  }))
