/**
 * Three runner processes on one PostgreSQL: work is sent to entities on all of them, one is
 * SIGKILLed mid-load. Its shards must move to the two others, every persisted message must be
 * processed (none lost), no entry applied twice (the idempotent counter table) and, per
 * entity, entries applied in the order they were sent.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Fiber } from "effect"
import { SqlClient } from "effect/sql"
import { Runner, ShardedActor } from "../src/index.js"
import { killAll, type RunnerProcess, start } from "./support/launcher.js"
import { Apply, createTables, Hold, Ledger, Progress } from "./support/ledger.js"
import { fastFailover as sharding, until } from "./support/wait.js"
import { adminLayer, dropStaleSchemas, freePort, pgUrl, skipMessage, testSchema } from "./support/pg.js"

if (pgUrl === undefined) console.log(skipMessage)

const SHARDS = 30
const ENTITIES = 24
const ENTRIES = 60

interface RunnerStats {
  readonly shards: number
  readonly processed: number
}

const statsOf = (p: RunnerProcess): RunnerStats => {
  const line = p.last("STATS ")
  if (line === undefined) return { shards: 0, processed: 0 }
  const parsed = JSON.parse(line.slice(6)) as { shards: number; entities: Record<string, { processed: number }> }
  return { shards: parsed.shards, processed: parsed.entities["Ledger"]?.processed ?? 0 }
}

describe.skipIf(pgUrl === undefined)("three runner processes", () => {
  it.live("SIGKILL one mid-load: its shards move, every persisted message is processed once, in order per entity", () =>
    Effect.gen(function*() {
      yield* dropStaleSchemas
      const { schema, prefix, url } = yield* testSchema
      const runners: Array<RunnerProcess> = []
      yield* Effect.addFinalizer(() => Effect.promise(() => killAll(runners)))

      const client = Runner.layerPg({ url, schema, prefix, clientOnly: true, shardsPerGroup: SHARDS, sharding: sharding as never })
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* createTables(sql)

        const ports = yield* Effect.promise(() => Promise.all([freePort(), freePort(), freePort()]))
        for (const [i, port] of ports.entries()) {
          runners.push(start({
            name: `runner-${i}`,
            env: {
              MAILROOM_PG_URL: url,
              CLUSTER_SCHEMA: schema,
              CLUSTER_PREFIX: prefix,
              CLUSTER_PORT: String(port),
              CLUSTER_SHARDS: String(SHARDS),
              CLUSTER_SHARDING: JSON.stringify(sharding),
              CLUSTER_ENTITIES: "./ledger.ts"
            }
          }))
        }
        yield* Effect.promise(() => Promise.all(runners.map((r) => r.waitFor("READY", 40_000))))
        // Every runner holds a share of the shards before the load starts.
        const shardsSeen = () => runners.map((r) => `${r.name}: ${statsOf(r).shards}`).join(", ")
        yield* until("the three runners share all shards", 30_000, () => {
          const stats = runners.map(statsOf)
          return stats.every((s) => s.shards > 0) && stats.reduce((n, s) => n + s.shards, 0) === SHARDS
        }, shardsSeen)
        const before = runners.map(statsOf)

        // One sender per entity, each entry acknowledged (stored) before the next is sent.
        const ledgers = yield* Effect.forEach(Array.from({ length: ENTITIES }, (_, i) => `ledger-${i}`), (id) =>
          ShardedActor.ref(Ledger, id))
        let acknowledged = 0
        const victim = runners[1]!
        const load = Effect.forEach(ledgers, (ledger) =>
          Effect.gen(function*() {
            for (let seq = 1; seq <= ENTRIES; seq++) {
              yield* ledger.tell(new Apply({ seq }))
              acknowledged++
              yield* Effect.sleep(15)
            }
          }), { concurrency: "unbounded", discard: true })
        const killer = Effect.gen(function*() {
          // Mid-load: a third of the entries acknowledged, and the victim busy handling them.
          yield* until("a third of the load is acknowledged", 30_000, () =>
            acknowledged >= (ENTITIES * ENTRIES) / 3 && statsOf(victim).processed > 0)
          // Volatile asks in flight on every entity (1.5 s handlers) when the victim dies.
          const holds = yield* Effect.forkScoped(Effect.forEach(ledgers, (ledger) =>
            Effect.exit(ledger.ask(new Hold({ ms: 1500 }), { timeout: "20 seconds" })), { concurrency: "unbounded" }))
          yield* Effect.sleep(300)
          victim.kill("SIGKILL")
          return { acknowledgedAtKill: acknowledged, victimProcessed: statsOf(victim).processed, holds }
        })
        const started = performance.now()
        const [, kill] = yield* Effect.all([load, killer], { concurrency: "unbounded" })
        // The volatile asks in flight on the victim were sent again to the new owners: every
        // caller is answered, none by the dead runner.
        const holds = yield* Fiber.join(kill.holds)
        const answeredBy = holds.map((e) => (Exit.isSuccess(e) ? e.value : Cause.pretty(e.cause).split("\n")[0]))
        expect(answeredBy.filter((by) => by !== String(ports[0]) && by !== String(ports[2]))).toEqual([])
        expect(acknowledged).toBe(ENTITIES * ENTRIES)
        expect((yield* Effect.promise(() => victim.exited)).signal).toBe("SIGKILL")

        // Its shards move: the two survivors own every shard between them.
        const survivors = runners.filter((r) => r !== victim)
        yield* until("the survivors own all shards", 30_000, () =>
          survivors.reduce((n, r) => n + statsOf(r).shards, 0) === SHARDS, shardsSeen)
        const moved = survivors.map(statsOf)

        // Every acknowledged entry is applied: nothing lost, nothing applied twice.
        // Every acknowledged entry is applied and every persisted message is marked processed
        // (a redelivery of an entry the victim applied but never reported finishes last).
        const progressSeen = () =>
          Effect.runPromise(Effect.map(
            Effect.all([
              sql<{ n: number }>`SELECT count(*)::int AS n FROM effects`,
              sql.unsafe<{ n: number }>(`SELECT count(*)::int AS n FROM ${prefix}_messages WHERE processed = false AND kind = 0`)
            ]),
            ([applied, unprocessed]) => ({ applied: applied[0]!.n, unprocessed: unprocessed[0]!.n })
          ))
        yield* until(
          `all ${ENTITIES * ENTRIES} acknowledged entries are applied and no persisted message is left unprocessed`,
          40_000,
          async () => {
            const seen = await progressSeen()
            return seen.applied === ENTITIES * ENTRIES && seen.unprocessed === 0
          },
          async () => JSON.stringify(await progressSeen())
        )
        const elapsed = Math.round(performance.now() - started)
        const [effects] = yield* sql<{ n: number; distinct_n: number }>`
          SELECT count(*)::int AS n, count(DISTINCT (entity_id, seq))::int AS distinct_n FROM effects`
        const [applied] = yield* sql<{ total: number }>`SELECT coalesce(sum(applied), 0)::int AS total FROM progress`
        const [attempts] = yield* sql<{ n: number }>`SELECT count(*)::int AS n FROM attempts`
        const violations = yield* sql`SELECT entity_id, seq, runner FROM violations`
        const progress = yield* sql<{ entity_id: string; last_seq: number }>`SELECT entity_id, last_seq FROM progress`
        const [unprocessed] = yield* sql.unsafe<{ n: number }>(
          `SELECT count(*)::int AS n FROM ${prefix}_messages WHERE processed = false AND kind = 0`
        )
        const byRunner = yield* sql<{ runner: string; n: number }>`SELECT runner, count(*)::int AS n FROM effects GROUP BY runner ORDER BY runner`

        expect(effects!.n).toBe(ENTITIES * ENTRIES)
        expect(effects!.distinct_n).toBe(ENTITIES * ENTRIES)
        expect(applied!.total).toBe(ENTITIES * ENTRIES) // the counter advanced once per entry
        expect(violations).toEqual([]) // per entity: in order, no gap
        expect(progress.length).toBe(ENTITIES)
        for (const row of progress) expect(row.last_seq).toBe(ENTRIES)
        expect(unprocessed!.n).toBe(0) // no persisted message left behind
        expect(attempts!.n).toBeGreaterThanOrEqual(ENTITIES * ENTRIES)
        // Every runner did part of the work, the victim before it died.
        expect(byRunner.length).toBe(3)
        expect(kill.victimProcessed).toBeGreaterThan(0)
        for (const r of moved) expect(r.shards).toBeGreaterThan(0)

        // Every entity answers a volatile ask from its new owner.
        const answers = yield* Effect.forEach(ledgers, (ledger) => ledger.ask(new Progress(), { timeout: "10 seconds" }), {
          concurrency: 8
        })
        expect(answers).toEqual(ledgers.map(() => ENTRIES))

        console.log(
          `multi-process: ${ENTITIES * ENTRIES} entries, killed ${victim.name} after ${kill.acknowledgedAtKill} acknowledged ` +
            `(it had handled ${kill.victimProcessed}); shards before ${before.map((s) => s.shards).join("/")}, after ` +
            `${moved.map((s) => s.shards).join("/")}; applied by runner ${byRunner.map((r) => `${r.runner}:${r.n}`).join(" ")}; ` +
            `${attempts!.n - ENTITIES * ENTRIES} redelivered executions absorbed; all applied ${Duration.format(Duration.millis(elapsed))} after the load started`
        )
      }).pipe(Effect.provide(client))
    }).pipe(Effect.scoped, Effect.provide(adminLayer())), { timeout: 120_000 })
})
