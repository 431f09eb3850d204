import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema, SchemaTransformation } from "effect"
import { Journal, Upcast } from "../src/index.js"
import { backends } from "./support/backends.js"

class Deposited extends Schema.TaggedClass<Deposited>()("Deposited", {
  cents: Schema.Int,
  currency: Schema.String
}) {}
class Withdrawn extends Schema.TaggedClass<Withdrawn>()("Withdrawn", { cents: Schema.Int }) {}

// Version 1 of Deposited stored whole euros in `amount`; version 2 stores cents and a currency.
const DepositedV1 = Schema.Struct({ _tag: Schema.Literal("Deposited"), amount: Schema.Number }).pipe(
  Schema.decodeTo(
    Deposited,
    SchemaTransformation.transform({
      decode: (v1) => ({ _tag: "Deposited" as const, cents: Math.round(v1.amount * 100), currency: "EUR" }),
      encode: (v2) => ({ _tag: "Deposited" as const, amount: v2.cents / 100 })
    })
  )
)

const AccountEvents = Upcast.registry(
  Upcast.eventType("Deposited", Deposited, { version: 2, upcasts: { 1: DepositedV1 } }),
  Upcast.eventType("Withdrawn", Withdrawn)
)

const sqlite = backends.find((b) => b.name === "sqlite")!

describe("Upcast", () => {
  it.live("stored v1 events are read as v2", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      // Written by an old release: schema version 1.
      yield* journal.append("acc", [
        { id: "old-1", type: "Deposited", schemaVersion: 1, data: { _tag: "Deposited", amount: 2.5 } },
        { id: "old-2", type: "Deposited", schemaVersion: 1, data: { _tag: "Deposited", amount: 10 } }
      ], 0)
      // Written today: encode picks the current version.
      const fresh = yield* AccountEvents.encode(new Deposited({ cents: 99, currency: "USD" }))
      expect(fresh).toMatchObject({ type: "Deposited", schemaVersion: 2, data: { _tag: "Deposited", cents: 99, currency: "USD" } })
      yield* journal.append("acc", [fresh, yield* AccountEvents.encode(new Withdrawn({ cents: 5 }), "w-1")], 2)
      const events = yield* Effect.forEach(yield* journal.readStream("acc"), AccountEvents.decode)
      expect(events).toEqual([
        new Deposited({ cents: 250, currency: "EUR" }),
        new Deposited({ cents: 1000, currency: "EUR" }),
        new Deposited({ cents: 99, currency: "USD" }),
        new Withdrawn({ cents: 5 })
      ])
      expect(events[0]).toBeInstanceOf(Deposited)
    }).pipe(Effect.provide(sqlite.layer())))

  it.effect("undecodable events fail with a typed error naming stream, position, type and version", () =>
    Effect.gen(function*() {
      const base = { stream: "acc", position: 7, version: 3, id: "x" }
      const unknownType = yield* Effect.flip(AccountEvents.decode({ ...base, type: "Closed", schemaVersion: 1, data: {} }))
      expect(unknownType).toMatchObject({ _tag: "UndecodableEvent", stream: "acc", position: 7, type: "Closed" })
      expect(unknownType.message).toContain("unknown event type")
      const unknownVersion = yield* Effect.flip(AccountEvents.decode({ ...base, type: "Deposited", schemaVersion: 3, data: {} }))
      expect(unknownVersion.message).toContain("no decoder for schema version 3")
      const badPayload = yield* Effect.flip(
        AccountEvents.decode({ ...base, type: "Deposited", schemaVersion: 2, data: { _tag: "Deposited", cents: "many" } })
      )
      expect(badPayload).toMatchObject({ _tag: "UndecodableEvent", position: 7, schemaVersion: 2 })
      const unregistered = yield* Effect.flip(AccountEvents.encode({ _tag: "Nope" } as never))
      expect(unregistered._tag).toBe("UnencodableEvent")
      const invalid = yield* Effect.flip(AccountEvents.encode(new Withdrawn({ cents: 1.5 }, { disableChecks: true } as never)))
      expect(invalid).toMatchObject({ _tag: "UnencodableEvent", type: "Withdrawn" })
    }))

  it("event ids are unique and time-ordered", () => {
    const ids = Array.from({ length: 1000 }, () => Upcast.eventId())
    expect(new Set(ids).size).toBe(1000)
    expect([...ids].sort()).toEqual(ids)
  })
})
