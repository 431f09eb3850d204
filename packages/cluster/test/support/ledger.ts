/**
 * The entity of the multi-process test: a ledger per entity id that applies numbered entries.
 * `Apply` is persisted; its handler applies the entry to PostgreSQL idempotently:
 *
 * - `attempts` gets a row for every execution (a redelivery after a crash shows here);
 * - `effects (entity_id, seq)` is the idempotent counter: its primary key lets an entry be
 *   applied once, and only the first application advances `progress`;
 * - `progress.last_seq` must advance by exactly one each time: an entry applied out of order
 *   (or after a gap) is recorded in `violations`.
 *
 * `Progress` (volatile) answers the entity's `last_seq`, from any runner that owns it.
 */
import { Actor, Message } from "@mailroom/core"
import { Effect, Schema } from "effect"
import { SqlClient } from "effect/sql"
import * as ShardedActor from "../../src/ShardedActor.js"

export class Apply extends Schema.TaggedClass<Apply>()("Apply", { seq: Schema.Number }) {}
export class Progress extends Message.Request<Progress>()("Progress", {}, { success: Schema.Number }) {}
/** Volatile: answers the runner's port after `ms`, to be in flight when a runner dies. */
export class Hold extends Message.Request<Hold>()("Hold", { ms: Schema.Number }, { success: Schema.String }) {}

const runner = process.env["CLUSTER_PORT"] ?? "parent"

export const Ledger = ShardedActor.entity(
  "Ledger",
  Actor.behavior(Actor.protocol(Apply, Progress, Hold), {
    initial: () => 0,
    receive: (handled, msg, ctx) =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const id = ctx.self.name!
        if (msg._tag === "Hold") {
          yield* Effect.sleep(msg.ms)
          ctx.reply(msg, runner)
          return handled
        }
        if (msg._tag === "Progress") {
          const rows = yield* sql<{ last_seq: number }>`SELECT last_seq FROM progress WHERE entity_id = ${id}`
          ctx.reply(msg, rows[0]?.last_seq ?? 0)
          return handled
        }
        yield* sql`INSERT INTO attempts (entity_id, seq, runner) VALUES (${id}, ${msg.seq}, ${runner})`
        // Some work, so that a kill lands while handlers run.
        yield* Effect.sleep(2)
        yield* sql.withTransaction(Effect.gen(function*() {
          const first = yield* sql`INSERT INTO effects (entity_id, seq, runner) VALUES (${id}, ${msg.seq}, ${runner})
            ON CONFLICT DO NOTHING RETURNING seq`
          if (first.length === 0) return // applied before: the idempotent counter absorbs the redelivery
          yield* sql`INSERT INTO progress (entity_id, last_seq, applied) VALUES (${id}, 0, 0) ON CONFLICT DO NOTHING`
          const advanced = yield* sql`UPDATE progress SET last_seq = ${msg.seq}, applied = applied + 1
            WHERE entity_id = ${id} AND last_seq = ${msg.seq - 1} RETURNING entity_id`
          if (advanced.length === 0) {
            yield* sql`INSERT INTO violations (entity_id, seq, runner) VALUES (${id}, ${msg.seq}, ${runner})`
          }
        }))
        return handled + 1
      }).pipe(Effect.orDie)
  }),
  { persisted: ["Apply"] }
)

/** The tables of the ledger, in the test's schema. */
export const createTables = (sql: SqlClient.SqlClient) =>
  Effect.all([
    sql`CREATE TABLE attempts (entity_id TEXT NOT NULL, seq INT NOT NULL, runner TEXT NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())`,
    sql`CREATE TABLE effects (entity_id TEXT NOT NULL, seq INT NOT NULL, runner TEXT NOT NULL, PRIMARY KEY (entity_id, seq))`,
    sql`CREATE TABLE progress (entity_id TEXT PRIMARY KEY, last_seq INT NOT NULL, applied INT NOT NULL)`,
    sql`CREATE TABLE violations (entity_id TEXT NOT NULL, seq INT NOT NULL, runner TEXT NOT NULL)`
  ], { discard: true })

/** What the runner script runs. */
export const layer = ShardedActor.layer(Ledger)
