/**
 * One runner and its clients in one process, on PostgreSQL (`Runner.layerPg`, socket
 * transport, SqlMessageStorage and SqlRunnerStorage), each test on a fresh schema and table
 * prefix dropped afterwards.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { Runner, ShardedActor } from "../src/index.js"
import { Charge, charged, Deposit, Till, Total } from "./fixtures.js"
import { adminLayer, dropStaleSchemas, freePort, pgUrl, skipMessage, testSchema, type TestSchema } from "./support/pg.js"

if (pgUrl === undefined) console.log(skipMessage)

const sharding = { entityMessagePollInterval: "200 millis", refreshAssignmentsInterval: "300 millis" } as const

const runnerLayer = (schema: TestSchema, port: number) =>
  ShardedActor.layer(Till).pipe(
    Layer.provideMerge(Runner.layerPg({ ...schema, port, host: "127.0.0.1", shardsPerGroup: 12, maxConnections: 4, sharding }))
  )
const clientLayer = (schema: TestSchema) =>
  Runner.layerPg({ ...schema, clientOnly: true, shardsPerGroup: 12, maxConnections: 3, sharding })

const inSchema = <A, E>(use: (schema: TestSchema) => Effect.Effect<A, E, any>) =>
  Effect.gen(function*() {
    yield* dropStaleSchemas
    return yield* use(yield* testSchema)
  }).pipe(Effect.scoped, Effect.provide(adminLayer())) as Effect.Effect<A, E>

describe.skipIf(pgUrl === undefined)("ShardedActor on PostgreSQL", () => {
  it.live("persisted messages are stored, handled, then marked processed", () =>
    inSchema((schema) =>
      Effect.gen(function*() {
        const till = yield* ShardedActor.ref(Till, "t1")
        yield* till.tell(new Deposit({ amount: 5 }))
        expect(yield* till.ask(new Charge({ orderId: "o-1", amount: 10 }))).toBe(15)
        expect(yield* till.ask(new Total())).toBe(15)
        const sql = yield* SqlClient.SqlClient
        const rows = yield* sql.unsafe<{ tag: string; processed: boolean }>(
          `SELECT tag, processed FROM ${schema.prefix}_messages WHERE entity_type = 'Till' AND kind = 0 ORDER BY id`
        )
        // Total is volatile: only the persisted Deposit and Charge are stored, both processed.
        expect(rows).toEqual([{ tag: "Deposit", processed: true }, { tag: "Charge", processed: true }])
      }).pipe(Effect.provide(Layer.unwrap(Effect.map(Effect.promise(freePort), (port) => runnerLayer(schema, port)))))
    ))

  it.live("a persisted message with a primary key is handled once however often it is sent", () =>
    inSchema((schema) =>
      Effect.gen(function*() {
        const till = yield* ShardedActor.ref(Till, "t2")
        const first = yield* till.ask(new Charge({ orderId: "o-7", amount: 3 }))
        // A client retrying (after a lost reply, or from another process): the stored reply.
        const again = yield* till.ask(new Charge({ orderId: "o-7", amount: 3 }))
        const concurrent = yield* Effect.all(
          Array.from({ length: 5 }, () => till.ask(new Charge({ orderId: "o-8", amount: 1 }))),
          { concurrency: "unbounded" }
        )
        expect(first).toBe(3)
        expect(again).toBe(3)
        expect(concurrent).toEqual([4, 4, 4, 4, 4])
        expect(charged.get("t2")).toEqual(["o-7", "o-8"])
        expect(yield* till.ask(new Total())).toBe(4)
      }).pipe(Effect.provide(Layer.unwrap(Effect.map(Effect.promise(freePort), (port) => runnerLayer(schema, port)))))
    ))

  it.live("persisted messages sent while no runner is up are handled when one starts", () =>
    inSchema((schema) =>
      Effect.gen(function*() {
        // A client-only process stores the messages: no runner owns the shards yet.
        yield* Effect.gen(function*() {
          const till = yield* ShardedActor.ref(Till, "t3")
          for (let i = 1; i <= 5; i++) yield* till.tell(new Deposit({ amount: i }))
        }).pipe(Effect.provide(clientLayer(schema)))
        const sql = yield* SqlClient.SqlClient
        const waiting = yield* sql.unsafe<{ n: number }>(
          `SELECT count(*)::int AS n FROM "${schema.schema}".${schema.prefix}_messages WHERE processed = false`
        )
        expect(waiting[0]!.n).toBe(5)
        // A runner starts: it takes the shards and handles what was stored, in order.
        const port = yield* Effect.promise(freePort)
        const total = yield* Effect.gen(function*() {
          const till = yield* ShardedActor.ref(Till, "t3")
          let total = 0
          const deadline = performance.now() + 10_000
          while (total < 15 && performance.now() < deadline) {
            total = yield* till.ask(new Total())
            if (total < 15) yield* Effect.sleep(50)
          }
          return total
        }).pipe(Effect.provide(runnerLayer(schema, port)))
        expect(total).toBe(15)
      })
    ))
})

const build = (options: Runner.PgOptions) => Effect.flip(Layer.build(Runner.layerPg(options)).pipe(Effect.scoped))

describe("Runner options", () => {
  it.live("bad options fail the layer with InvalidClusterConfig naming the option", () =>
    Effect.gen(function*() {
      const url = "postgres://nowhere.invalid/none"
      expect(yield* build({ url, port: 0 })).toMatchObject({ _tag: "InvalidClusterConfig", option: "port", value: "0" })
      expect(yield* build({ url, port: 5000, prefix: "Bad-Prefix" })).toMatchObject({ option: "prefix" })
      expect(yield* build({ url, port: 5000, shardsPerGroup: 0 })).toMatchObject({ option: "shardsPerGroup" })
      expect(yield* build({ url, port: 5000, schema: "x; drop" })).toMatchObject({ option: "schema" })
      expect(yield* build({ url, port: 5000, maxConnections: 1 })).toMatchObject({ option: "maxConnections" })
      expect(yield* build({ url, port: 5000, sharding: { shardLockExpiration: "soon" as never } })).toMatchObject({
        option: "sharding.shardLockExpiration"
      })
      expect(yield* build({ url, port: 5000, sharding: { nope: 1 } as never })).toMatchObject({ option: "sharding.nope" })
      const error = yield* build({ url, port: 70000 })
      expect(error.message).toContain("cluster option port must be a TCP port between 1 and 65535")
    }))
})
