/**
 * A runtime-agnostic smoke program of @mailroom/core: tell, ask, supervision, watch and
 * dead letters. CI runs it under Deno 2 (and Node) and checks its output line by line.
 */
import { Effect, Schedule, Schema } from "effect"
import { Actor, ActorSystem, Message, Supervision } from "@mailroom/core"

class Add extends Schema.TaggedClass<Add>()("Add", { n: Schema.Number }) {}
class Crash extends Schema.TaggedClass<Crash>()("Crash", {}) {}
class Get extends Message.Request<Get>()("Get", {}, { success: Schema.Number }) {}

const counter = Actor.behavior(Actor.protocol(Add, Crash, Get), {
  initial: () => 0,
  supervision: Supervision.always(Supervision.restart({ backoff: Schedule.spaced("1 millis"), maxRestarts: 3 })),
  receive: (n, msg, ctx) => {
    switch (msg._tag) {
      case "Add":
        return Effect.succeed(n + msg.n)
      case "Crash":
        return Effect.fail("crash requested")
      case "Get":
        ctx.reply(msg, n)
        return Effect.succeed(n)
    }
  }
})

const program = Effect.gen(function*() {
  const ref = yield* ActorSystem.spawn(counter, { name: "counter" })
  for (let i = 1; i <= 100; i++) yield* ref.tell(new Add({ n: i }))
  console.log(`sum=${yield* ref.ask(new Get())}`)
  yield* ref.tell(new Crash())
  yield* Effect.sleep("20 millis")
  console.log(`after-restart=${yield* ref.ask(new Get())}`)
  yield* ref.stop
  const late = yield* Effect.flip(ref.ask(new Get()))
  console.log(`late-ask=${late._tag}`)
  const stats = yield* ActorSystem.stats
  console.log(`restarts=${stats.restarts} dead-letters=${stats.deadLetters} live=${stats.live}`)
})

await Effect.runPromise(program.pipe(Effect.provide(ActorSystem.layer())))
console.log("ok")
