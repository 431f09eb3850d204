import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Actor, ActorSystem, Mailbox, Message } from "@mailroom/core"
import { drainLetters, settle } from "./helpers.js"

class Job extends Schema.TaggedClass<Job>()("Job", { n: Schema.Number }) {}
class Done extends Message.Request<Done>()("Done", {}, { success: Schema.Array(Schema.Number) }) {}
class SpawnChild extends Message.Request<SpawnChild>()("SpawnChild", { name: Schema.String }, { success: Schema.Any }) {}
const P = Actor.protocol(Job, Done, SpawnChild)

const tree = (log: Array<string>, label: string): Actor.Behavior<Job | Done | SpawnChild, Array<number>> =>
  Actor.behavior(P, {
    initial: () => [] as Array<number>,
    receive: (done, msg, ctx) => {
      switch (msg._tag) {
        case "Job":
          return Effect.sleep(10).pipe(Effect.as([...done, msg.n]))
        case "Done":
          ctx.reply(msg, done)
          return Effect.succeed(done)
        case "SpawnChild":
          return Effect.map(ctx.spawn(tree(log, msg.name), { name: msg.name }), (child) => {
            ctx.reply(msg, child)
            return done
          }).pipe(Effect.orDie)
      }
    },
    onStop: (done) => Effect.sync(() => void log.push(`${label} stopped after ${done.join(",")}`))
  })

describe("Lifecycle", () => {
  it.effect("graceful stop handles what is already in the mailbox; later messages are dead-lettered", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const sub = yield* ActorSystem.subscribeDeadLetters
      const ref = yield* ActorSystem.spawn(tree(log, "a"))
      for (const n of [1, 2, 3]) yield* ref.tell(new Job({ n }))
      const stopping = yield* Effect.forkChild(ref.stop)
      yield* settle
      yield* ref.tell(new Job({ n: 4 }))
      yield* TestClock.adjust("30 millis")
      yield* Fiber.await(stopping)
      expect(log).toStrictEqual(["a stopped after 1,2,3"])
      const letters = yield* drainLetters(sub)
      expect(letters.map((l) => [(l.message as Job).n, l.reason])).toStrictEqual([[4, "ActorStopped"]])
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("immediate stop interrupts the running handler and dead-letters the rest", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const sub = yield* ActorSystem.subscribeDeadLetters
      const ref = yield* ActorSystem.spawn(tree(log, "a"))
      for (const n of [1, 2, 3]) yield* ref.tell(new Job({ n }))
      yield* settle
      yield* ref.stopNow
      expect(log).toStrictEqual(["a stopped after "])
      const letters = yield* drainLetters(sub)
      expect(letters.map((l) => (l.message as Job).n)).toStrictEqual([1, 2, 3])
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("children stop with their parent, before the parent's onStop", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const root = yield* ActorSystem.spawn(tree(log, "root"))
      const child = (yield* root.ask(new SpawnChild({ name: "child" }))) as Actor.ActorRef<Job | Done | SpawnChild>
      const grandchild = (yield* child.ask(new SpawnChild({ name: "grandchild" }))) as Actor.ActorRef<Job | Done>
      expect(grandchild.path).toBe("/user/#1/child/grandchild")
      yield* root.stop
      expect([child.isAlive, grandchild.isAlive]).toStrictEqual([false, false])
      expect(log).toStrictEqual(["grandchild stopped after ", "child stopped after ", "root stopped after "])
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("watch delivers Terminated, also for an actor that is already stopped", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      class Watch extends Message.Request<Watch>()("Watch", { target: Schema.Any }, { success: Schema.Void }) {}
      const watcher = Actor.behavior(Actor.protocol(Watch), {
        initial: () => 0,
        receive: (s, msg, ctx) => {
          ctx.watch(msg.target)
          ctx.reply(msg, undefined)
          return Effect.succeed(s)
        },
        onTerminated: (s, t) => Effect.sync(() => (seen.push(`${t.actor.path}:${t.reason._tag}`), s + 1))
      })
      const w = yield* ActorSystem.spawn(watcher, { name: "w" })
      const a = yield* ActorSystem.spawn(tree([], "a"), { name: "a" })
      const b = yield* ActorSystem.spawn(tree([], "b"), { name: "b" })
      yield* w.ask(new Watch({ target: a }))
      yield* b.stop
      yield* w.ask(new Watch({ target: b }))
      yield* a.stop
      yield* settle
      expect(seen.sort()).toStrictEqual(["/user/a:Stopped", "/user/b:Stopped"])
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("ask times out with AskTimeout; a stopped actor answers ActorStopped", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      class Slow extends Message.Request<Slow>()("Slow", {}, { success: Schema.Number }) {}
      const slow = Actor.behavior(Actor.protocol(Slow), {
        initial: () => 0,
        receive: (s, msg, ctx) => Effect.map(Deferred.await(gate), () => (ctx.reply(msg, 1), s))
      })
      const ref = yield* ActorSystem.spawn(slow)
      const asking = yield* Effect.forkChild(Effect.exit(ref.ask(new Slow(), { timeout: "2 seconds" })))
      yield* settle
      yield* TestClock.adjust("2 seconds")
      const exit = yield* Fiber.join(asking)
      expect(Exit.isFailure(exit) && String(exit)).toContain("AskTimeout")
      yield* ref.stopNow
      const stopped = yield* Effect.flip(ref.ask(new Slow()))
      expect(stopped._tag).toBe("ActorStopped")
      expect(stopped.message).toContain("Slow")
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.live("closing the system stops every actor (gracefully); spawning afterwards is refused", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const { root, system } = yield* Effect.gen(function*() {
        const system = yield* ActorSystem.ActorSystem
        const root = yield* system.spawn(tree(log, "root"))
        yield* root.ask(new SpawnChild({ name: "kid" }))
        yield* root.tell(new Job({ n: 1 }))
        return { root, system }
      }).pipe(Effect.provide(ActorSystem.layer()))
      expect(root.isAlive).toBe(false)
      expect(log).toStrictEqual(["kid stopped after ", "root stopped after 1"])
      const refused = yield* Effect.flip(system.spawn(tree(log, "late")))
      expect(refused._tag).toBe("SystemClosed")
    }))

  it.effect("stopping answers every waiting sender at once, without waiting for onStop", () =>
    Effect.gen(function*() {
      const sub = yield* ActorSystem.subscribeDeadLetters
      const latch = yield* Deferred.make<void>()
      class Block extends Schema.TaggedClass<Block>()("Block", {}) {}
      class Ping extends Message.Request<Ping>()("Ping", { n: Schema.Number }, { success: Schema.Number }) {}
      const slowToStop = Actor.behavior(Actor.protocol(Block, Ping), {
        initial: () => 0,
        mailbox: Mailbox.bounded(1, "suspend"),
        receive: (s, msg, ctx) => {
          if (msg._tag === "Block") return Effect.as(Deferred.await(latch), s)
          ctx.reply(msg, msg.n)
          return Effect.succeed(s)
        },
        onStop: () => Effect.sleep("1 hour")
      })
      const ref = yield* ActorSystem.spawn(slowToStop)
      yield* ref.tell(new Block()) // running
      const queued = yield* Effect.forkChild(Effect.flip(ref.ask(new Ping({ n: 1 }))))
      const waitingAsk = yield* Effect.forkChild(Effect.flip(ref.ask(new Ping({ n: 2 }))))
      const waitingTell = yield* Effect.forkChild(ref.tell(new Ping({ n: 3 })))
      yield* settle
      const stopping = yield* Effect.forkChild(ref.stopNow)
      yield* settle
      expect(stopping.pollUnsafe()).toBeUndefined() // onStop still runs
      for (const f of [queued, waitingAsk]) {
        expect(f.pollUnsafe(), "answered before onStop ended").toBeDefined()
        expect((yield* Fiber.join(f))._tag).toBe("ActorStopped")
      }
      expect(waitingTell.pollUnsafe(), "answered before onStop ended").toBeDefined()
      const letters = yield* drainLetters(sub)
      expect(letters.map((l) => [l.message instanceof Ping ? l.message.n : "block", l.reason])).toStrictEqual([
        ["block", "ActorStopped"],
        [1, "ActorStopped"],
        [2, "ActorStopped"],
        [3, "ActorStopped"]
      ])
      yield* TestClock.adjust("1 hour")
      yield* Fiber.join(stopping)
    }).pipe(
      // on a failed assertion, let onStop end so that the layer can close
      Effect.ensuring(TestClock.adjust("2 hours")),
      Effect.provide(ActorSystem.layer())
    ))

  it.effect("a watcher that terminates is forgotten by the actors it watched (no dead watchers pile up)", () =>
    Effect.gen(function*() {
      class Watch extends Message.Request<Watch>()("Watch", { target: Schema.Any }, { success: Schema.Void }) {}
      const watcher = Actor.behavior(Actor.protocol(Watch), {
        initial: () => 0,
        receive: (s, msg, ctx) => {
          ctx.watch(msg.target)
          ctx.reply(msg, undefined)
          return Effect.succeed(s)
        },
        onTerminated: (s) => Effect.succeed(s + 1)
      })
      const target = yield* ActorSystem.spawn(tree([], "target"))
      for (let i = 0; i < 100; i++) {
        const w = yield* ActorSystem.spawn(watcher)
        yield* w.ask(new Watch({ target }))
        yield* w.stop
      }
      // a watcher that stops before its Watch reached the target is not kept either
      const late = yield* ActorSystem.spawn(watcher)
      late.tellUnsafe(new Watch({ target }))
      yield* late.stopNow
      yield* settle
      // white-box: the watcher set lives in the cell's rarely used fields
      const watchers = (target as unknown as { extra?: { watchers?: ReadonlySet<unknown> } }).extra?.watchers
      expect(watchers?.size ?? 0).toBe(0)
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.live("closing the system ends after shutdownTimeout even when an onStop hook never finishes (graceful and immediate)", () =>
    Effect.gen(function*() {
      for (const shutdown of ["graceful", "immediate"] as const) {
        const stopped: Array<string> = []
        const stuck = Actor.behavior(P, {
          initial: () => [] as Array<number>,
          receive: (s) => Effect.succeed(s),
          onStop: () => Effect.never
        })
        const fine = Actor.behavior(P, {
          initial: () => [] as Array<number>,
          receive: (s) => Effect.succeed(s),
          onStop: () => Effect.sync(() => void stopped.push("fine"))
        })
        const program = Effect.gen(function*() {
          const parent = yield* ActorSystem.spawn(tree([], "parent"))
          yield* parent.ask(new SpawnChild({ name: `child-${shutdown}` }))
          yield* ActorSystem.spawn(stuck)
          yield* ActorSystem.spawn(fine)
        }).pipe(Effect.provide(ActorSystem.layer({ shutdown, shutdownTimeout: "50 millis" })))
        const closing = yield* Effect.forkDetach(program)
        yield* Effect.sleep("1 second")
        expect(closing.pollUnsafe(), `${shutdown}: the layer closed`).toBeDefined()
        expect(stopped).toStrictEqual(["fine"])
      }
    }))
})
