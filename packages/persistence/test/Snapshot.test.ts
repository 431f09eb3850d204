import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Schema } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import { Journal, Replay, Snapshot, SqlJournal, Upcast } from "../src/index.js"
import { sqliteLayer } from "./support/backends.js"

class Added extends Schema.TaggedClass<Added>()("Added", { n: Schema.Int }) {}
const Events = Upcast.registry(Upcast.eventType("Added", Added))
const fold: Replay.Fold<number, Added> = { types: Events, initial: 0, apply: (s, e) => s + e.n }

const stores = [
  { name: "memory", layer: () => Layer.mergeAll(Journal.layerMemory(), Snapshot.layerMemory).pipe(Layer.provideMerge(sqliteLayer())) },
  {
    name: "sqlite",
    layer: () => Layer.mergeAll(SqlJournal.layer(), Snapshot.layerSql()).pipe(Layer.provideMerge(sqliteLayer()))
  }
]

for (const store of stores) {
  describe(`Snapshot (${store.name})`, () => {
    it.live("recovery = latest snapshot + the events after it, same state as a full replay", () =>
      Effect.gen(function*() {
        const journal = yield* Journal.Journal
        const snapshots = yield* Snapshot.SnapshotStore
        for (let i = 1; i <= 30; i++) {
          yield* journal.append("s", [yield* Events.encode(new Added({ n: i }))], i - 1)
          if (i % 10 === 0) {
            const { state } = yield* Replay.stream("s", fold)
            yield* snapshots.save("s", i, state)
          }
        }
        yield* snapshots.save("s", 5, -1) // older than the stored one: ignored
        expect(yield* snapshots.load("s")).toEqual(Option.some({ stream: "s", version: 30, state: 465 }))
        yield* journal.append("s", [yield* Events.encode(new Added({ n: 100 }))], 30)
        const recovered = yield* Snapshot.recover("s", fold)
        expect(recovered).toEqual({ state: 565, last: 31, events: 1 })
        expect((yield* Replay.stream("s", fold)).state).toBe(565)
        expect(yield* snapshots.load("none")).toEqual(Option.none())
        const notJson = yield* Effect.flip(snapshots.save("s", 40, { f: 1n }))
        expect(notJson).toMatchObject({ _tag: "SnapshotError", stream: "s" })
      }).pipe(Effect.provide(store.layer())))
  })
}

describe("Snapshot (damaged)", () => {
  it.live("an unreadable snapshot falls back to a full replay", () =>
    Effect.gen(function*() {
      const journal = yield* Journal.Journal
      const snapshots = yield* Snapshot.SnapshotStore
      for (let i = 1; i <= 5; i++) yield* journal.append("s", [yield* Events.encode(new Added({ n: i }))], i - 1)
      yield* snapshots.save("s", 5, 15)
      const sql = yield* SqlClient
      yield* sql.unsafe(`UPDATE mailroom_snapshots SET state = '{oops'`)
      expect(yield* Effect.flip(snapshots.load("s"))).toMatchObject({ _tag: "SnapshotError", stream: "s" })
      expect(yield* Snapshot.recover("s", fold)).toEqual({ state: 15, last: 5, events: 5 })
    }).pipe(Effect.provide(Layer.mergeAll(SqlJournal.layer(), Snapshot.layerSql()).pipe(Layer.provideMerge(sqliteLayer())))))
})
