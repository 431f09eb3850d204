/**
 * The actor of the cluster bench, as a plain behavior (the local baseline spawns it on an
 * `ActorSystem`) and as a sharded entity (what the runner processes host).
 */
import { Actor, Message } from "@mailroom/core"
import { Effect, Schema } from "effect"
import * as ShardedActor from "../src/ShardedActor.js"

export class Ping extends Message.Request<Ping>()("Ping", { n: Schema.Number }, { success: Schema.Number }) {}
export class Add extends Schema.TaggedClass<Add>()("Add", { n: Schema.Number }) {}
export class AddDurable extends Schema.TaggedClass<AddDurable>()("AddDurable", { n: Schema.Number }) {}
export class Count extends Message.Request<Count>()("Count", {}, { success: Schema.Number }) {}

/** Counts what it is told; answers a ping with its count. */
export const behavior = Actor.behavior(Actor.protocol(Ping, Add, AddDurable, Count), {
  initial: () => 0,
  receive: (count, msg, ctx) => {
    switch (msg._tag) {
      case "Ping":
        ctx.reply(msg, count)
        return Effect.succeed(count)
      case "Add":
      case "AddDurable":
        return Effect.succeed(count + 1)
      case "Count":
        ctx.reply(msg, count)
        return Effect.succeed(count)
    }
  }
})

export const Bench = ShardedActor.entity("Bench", behavior, { persisted: ["AddDurable"], maxIdleTime: "10 minutes" })

/** What the runner processes run. */
export const layer = ShardedActor.layer(Bench)
