import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Schema } from "effect"
import { Actor, ActorSystem, Message } from "@mailroom/core"
import { account, AccountProtocol, Balance, Deposit, InsufficientFunds, Withdraw } from "./fixtures.js"
import { drainLetters, settle } from "./helpers.js"

class Note extends Schema.TaggedClass<Note>()("Note", { sender: Schema.Number, seq: Schema.Number }) {}
class Dump extends Message.Request<Dump>()("Dump", {}, { success: Schema.Array(Schema.String) }) {}
const Log = Actor.protocol(Note, Dump)

const logger = Actor.behavior(Log, {
  initial: () => [] as Array<string>,
  receive: (log, msg, ctx) => {
    if (msg._tag === "Dump") {
      ctx.reply(msg, log)
      return Effect.succeed(log)
    }
    // An effectful handler (not a plain Exit): it runs on a fiber.
    return Effect.sleep(0).pipe(Effect.as([...log, `${msg.sender}:${msg.seq}`]))
  }
})

describe("Actor", () => {
  it.effect("tell then ask returns the typed reply; declared errors reach the asker", () =>
    Effect.gen(function*() {
      const ref = yield* ActorSystem.spawn(account)
      yield* ref.tell(new Deposit({ amount: 10 }))
      expect(ref.tellUnsafe(new Deposit({ amount: 5 }))).toBe(true)
      const balance: number = yield* ref.ask(new Balance())
      expect(balance).toBe(15)
      expect(yield* ref.ask(new Withdraw({ amount: 4 }))).toBe(11)
      const exit = yield* Effect.exit(ref.ask(new Withdraw({ amount: 100 })))
      expect(exit).toStrictEqual(Exit.fail(new InsufficientFunds({ balance: 11, requested: 100 })))
      // a declared error is a reply, not an actor failure: the state is intact
      expect(yield* ref.ask(new Balance())).toBe(11)
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.live("messages from one sender arrive in the order sent, per sender, across async handlers", () =>
    Effect.gen(function*() {
      const ref = yield* ActorSystem.spawn(logger)
      const senders = [1, 2, 3, 4]
      yield* Effect.forEach(
        senders,
        (sender) =>
          Effect.gen(function*() {
            for (let seq = 0; seq < 50; seq++) {
              yield* ref.tell(new Note({ sender, seq }))
              if (seq % 7 === 0) yield* Effect.yieldNow
            }
          }),
        { concurrency: "unbounded", discard: true }
      )
      const log = yield* ref.ask(new Dump())
      expect(log.length).toBe(200)
      for (const sender of senders) {
        const seqs = log.filter((l) => l.startsWith(`${sender}:`)).map((l) => Number(l.split(":")[1]))
        expect(seqs).toStrictEqual(Array.from({ length: 50 }, (_, i) => i))
      }
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("unknown input enters through the protocol decoder with a typed error", () =>
    Effect.gen(function*() {
      const ref = yield* ActorSystem.spawn(account)
      yield* ref.tellUnknown({ _tag: "Deposit", amount: 7 })
      expect(yield* ref.ask(new Balance())).toBe(7)
      const bad = yield* Effect.flip(ref.tellUnknown({ _tag: "Deposit", amount: "seven" }))
      expect(bad._tag).toBe("MessageDecodeError")
      expect(bad.message).toContain("amount")
      const unknownTag = yield* Effect.flip(ref.tellUnknown({ _tag: "Rob" }))
      expect(unknownTag._tag).toBe("MessageDecodeError")
      expect(yield* ref.ask(new Balance())).toBe(7)
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("batch receive hands every waiting message, up to the cap, to one call", () =>
    Effect.gen(function*() {
      const sizes: Array<number> = []
      const batcher = Actor.behavior(AccountProtocol, {
        initial: () => 0,
        batch: {
          max: 4,
          receive: (balance, msgs, ctx) => {
            sizes.push(msgs.length)
            let b = balance
            for (const m of msgs) {
              if (m._tag === "Deposit") b += m.amount
              else if (m._tag === "Balance") ctx.reply(m, b)
            }
            return Effect.succeed(b)
          }
        }
      })
      const ref = yield* ActorSystem.spawn(batcher)
      for (let i = 0; i < 10; i++) ref.tellUnsafe(new Deposit({ amount: 1 }))
      expect(yield* ref.ask(new Balance())).toBe(10)
      expect(sizes).toStrictEqual([4, 4, 3])
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("lifecycle hooks: onStart before the first message, onStop once on stop", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const hooked = Actor.behavior(AccountProtocol, {
        initial: () => 0,
        onStart: (s) => Effect.sync(() => (events.push("started"), s + 100)),
        receive: (s, msg, ctx) => {
          events.push(msg._tag)
          if (msg._tag === "Balance") ctx.reply(msg, s)
          return Effect.succeed(s)
        },
        onStop: (s) => Effect.sync(() => void events.push(`stopping at ${s}`))
      })
      const ref = yield* ActorSystem.spawn(hooked)
      expect(yield* ref.ask(new Balance())).toBe(100)
      yield* ref.stop
      yield* ref.stop
      expect(events).toStrictEqual(["started", "Balance", "stopping at 100"])
      expect(ref.isAlive).toBe(false)
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("named actors: lookup by name and protocol, names are unique while alive", () =>
    Effect.gen(function*() {
      const ref = yield* ActorSystem.spawn(account, { name: "acc" })
      expect(ref.path).toBe("/user/acc")
      const found = yield* ActorSystem.lookup("acc", AccountProtocol)
      expect(found).toBe(ref)
      const taken = yield* Effect.flip(ActorSystem.spawn(account, { name: "acc" }))
      expect(taken._tag).toBe("ActorNameTaken")
      const wrongProtocol = yield* Effect.flip(ActorSystem.lookup("acc", Log))
      expect(wrongProtocol._tag).toBe("ActorNotFound")
      yield* ref.stop
      expect((yield* Effect.flip(ActorSystem.lookup("acc", AccountProtocol)))._tag).toBe("ActorNotFound")
      const again = yield* ActorSystem.spawn(account, { name: "acc" })
      expect(again.isAlive).toBe(true)
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("a request handled without a reply is a defect that names the actor and message", () =>
    Effect.gen(function*() {
      const silent = Actor.behavior(AccountProtocol, { initial: () => 0, receive: (s) => Effect.succeed(s) })
      const ref = yield* ActorSystem.spawn(silent)
      const exit = yield* Effect.exit(ref.ask(new Balance()))
      expect(Exit.isFailure(exit)).toBe(true)
      expect(String(exit)).toContain("without replying")
    }).pipe(Effect.provide(ActorSystem.layer())))

  it.effect("metrics and stats count processed messages, dead letters and live actors", () =>
    Effect.gen(function*() {
      const sub = yield* ActorSystem.subscribeDeadLetters
      const ref = yield* ActorSystem.spawn(account)
      for (let i = 0; i < 5; i++) yield* ref.tell(new Deposit({ amount: 1 }))
      yield* ref.ask(new Balance())
      yield* ref.stop
      yield* ref.tell(new Deposit({ amount: 1 }))
      yield* settle
      const stats = yield* ActorSystem.stats
      expect(stats.processed).toBe(6)
      expect(stats.deadLetters).toBe(1)
      expect(stats.live).toBe(0)
      const letters = yield* drainLetters(sub)
      expect(letters.map((l) => l.reason)).toStrictEqual(["ActorStopped"])
    }).pipe(Effect.provide(ActorSystem.layer())))
})

describe("Tracing", () => {
  it.effect("span: true traces effectful handlers with the actor's path", () =>
    Effect.gen(function*() {
      const spans: Array<string> = []
      const traced = Actor.behavior(Log, {
        label: "logger",
        span: true,
        initial: () => 0,
        receive: (n, msg, ctx) => {
          if (msg._tag === "Dump") {
            ctx.reply(msg, [])
            return Effect.succeed(n)
          }
          return Effect.currentSpan.pipe(
            Effect.map((span) => {
              spans.push(`${span.name} ${String(span.attributes.get("actor.path"))}`)
              return n + 1
            }),
            Effect.orDie
          )
        }
      })
      const ref = yield* ActorSystem.spawn(traced, { name: "traced" })
      yield* ref.tell(new Note({ sender: 1, seq: 1 }))
      yield* ref.ask(new Dump())
      expect(spans).toStrictEqual(["logger.Note /user/traced"])
    }).pipe(Effect.provide(ActorSystem.layer())))
})

describe("ActorSystem.layer options", () => {
  it.effect("an unusable option fails the layer with a typed error naming it", () =>
    Effect.gen(function*() {
      const bad = yield* Effect.flip(Effect.provide(ActorSystem.stats, ActorSystem.layer({ throughput: 0 })))
      expect(bad._tag).toBe("InvalidSystemConfig")
      expect(bad.message).toBe("ActorSystem.layer: option throughput must be a positive integer, got 0")
      const timeout = yield* Effect.flip(Effect.provide(ActorSystem.stats, ActorSystem.layer({ askTimeout: "soon" as never })))
      expect(timeout.option).toBe("askTimeout")
      const shutdown = yield* Effect.flip(Effect.provide(ActorSystem.stats, ActorSystem.layer({ shutdown: "later" as never })))
      expect(shutdown.option).toBe("shutdown")
    }))
})
