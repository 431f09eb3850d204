/**
 * The sharded actor's semantics, on effect/cluster's in-memory `TestRunner` (one process, the
 * same entity manager and RPC path as a real runner, messages serialized as if remote). The
 * cluster engine runs its own loops (shard acquisition, polling) on the clock, so these tests
 * run on the live clock with short durations.
 */
import { describe, expect, it } from "@effect/vitest"
import { ActorSystem } from "@mailroom/core"
import type { Actor } from "@mailroom/core"
import { Cause, Effect, Exit, Fiber, Layer } from "effect"
import { TestRunner } from "effect/cluster"
import { ShardedActor } from "../src/index.js"
import {
  Account,
  accountBehavior,
  Append,
  Balance,
  Batcher,
  Batches,
  Count,
  Counted,
  Crash,
  FlakyStart,
  Deposit,
  Forget,
  Item,
  lifecycle,
  Lifecycle,
  Log,
  Parent,
  Ping,
  RedeliveringAccount,
  Resident,
  RestartingAccount,
  Risky,
  SelfTeller,
  Slow,
  SlowBox,
  SpawnChild,
  StopChild,
  StoppingAccount,
  Terminations,
  Withdraw
} from "./fixtures.js"

const Entities = Layer.mergeAll(
  ShardedActor.layer(Account),
  ShardedActor.layer(RestartingAccount),
  ShardedActor.layer(RedeliveringAccount),
  ShardedActor.layer(StoppingAccount),
  ShardedActor.layer(Lifecycle),
  ShardedActor.layer(Resident),
  ShardedActor.layer(Batcher),
  ShardedActor.layer(SlowBox),
  ShardedActor.layer(SelfTeller),
  ShardedActor.layer(Parent),
  ShardedActor.layer(FlakyStart)
)
const Live = Entities.pipe(Layer.provideMerge(TestRunner.layer), Layer.provide(ActorSystem.layer()))

const run = <A, E>(effect: Effect.Effect<A, E, any>) => Effect.provide(effect, Live) as Effect.Effect<A, E>

/**
 * A request whose handler fails after 100 ms, and a `Balance` sent while it runs (so it waits
 * behind it in the entity's mailbox): both outcomes, as errors.
 */
const failingThenWaiting = (ref: ShardedActor.ShardedRef<Actor.MessageOf<typeof Account.behavior>>) =>
  Effect.gen(function*() {
    const failing = yield* Effect.forkChild(Effect.flip(ref.ask(new Risky({ fail: true, delay: 100 }))), { startImmediately: true })
    yield* Effect.sleep(10)
    const waiting = yield* Effect.flip(ref.ask(new Balance()))
    return [yield* Fiber.join(failing), waiting] as const
  })

describe("ShardedActor", () => {
  it.live("tell and ask: typed replies and the request's declared error", () =>
    run(Effect.gen(function*() {
      const alice = yield* ShardedActor.ref(Account, "alice")
      yield* alice.tell(new Deposit({ amount: 100 }))
      expect(yield* alice.ask(new Withdraw({ amount: 30 }))).toBe(70)
      expect(yield* alice.ask(new Balance())).toBe(70)
      const error = yield* Effect.flip(alice.ask(new Withdraw({ amount: 1000 })))
      expect(error).toMatchObject({ _tag: "InsufficientFunds", balance: 70 })
      // Another id is another actor with its own state.
      const bob = yield* ShardedActor.ref(Account, "bob")
      expect(yield* bob.ask(new Balance())).toBe(0)
      expect(alice.entity).toBe("Account")
      expect(alice.id).toBe("alice")
    })))

  it.live("one message at a time, in the order each sender sent them", () =>
    run(Effect.gen(function*() {
      const ref = yield* ShardedActor.ref(Account, "order")
      // Two senders interleaving: each one's messages stay in its own order.
      yield* Effect.all([
        Effect.forEach(Array.from({ length: 100 }, (_, i) => i), (i) => ref.tell(new Append({ n: i })), { discard: true }),
        Effect.forEach(Array.from({ length: 100 }, (_, i) => 1000 + i), (i) => ref.tell(new Append({ n: i })), { discard: true })
      ], { concurrency: 2 })
      const log = yield* ref.ask(new Log())
      expect(log.length).toBe(200)
      expect(log.filter((n) => n < 1000)).toEqual(Array.from({ length: 100 }, (_, i) => i))
      expect(log.filter((n) => n >= 1000)).toEqual(Array.from({ length: 100 }, (_, i) => 1000 + i))
    })))

  it.live("resume: the failing message is dropped (the asker gets HandlerFailed), the state is kept", () =>
    run(Effect.gen(function*() {
      const ref = yield* ShardedActor.ref(Account, "resume")
      yield* ref.tell(new Deposit({ amount: 5 }))
      const failed = yield* Effect.flip(ref.ask(new Risky({ fail: true, delay: 0 })))
      expect(failed).toMatchObject({ _tag: "HandlerFailed", actor: "Account/resume", messageTag: "Risky" })
      expect(failed.message).toContain("Boom")
      // A thrown exception and a defect are failures too, supervised the same way.
      yield* ref.tell(new Crash({ how: "throw" }))
      yield* ref.tell(new Crash({ how: "defect" }))
      expect(yield* ref.ask(new Risky({ fail: false, delay: 0 }))).toBe(5)
    })))

  it.live("a handler past the behavior's timeout fails with a timeout, supervised like any failure", () =>
    run(Effect.gen(function*() {
      const ref = yield* ShardedActor.ref(Account, "slow")
      yield* ref.tell(new Deposit({ amount: 1 }))
      yield* ref.tell(new Crash({ how: "slow" })) // sleeps 5 s; the behavior's timeout is 300 ms
      const started = performance.now()
      expect(yield* ref.ask(new Balance(), { timeout: "3 seconds" })).toBe(1)
      expect(performance.now() - started).toBeLessThan(2000)
    })))

  it.live("a request handled without a reply fails its asker with a defect naming it", () =>
    run(Effect.gen(function*() {
      const ref = yield* ShardedActor.ref(Account, "forget")
      const exit = yield* Effect.exit(ref.ask(new Forget()))
      expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
      expect(Exit.isFailure(exit) && Cause.pretty(exit.cause)).toContain("handled the request Forget without replying")
      // The actor goes on.
      expect(yield* ref.ask(new Balance())).toBe(0)
    })))

  it.live("an initial() that throws fails the message that started the entity; the next one starts it", () =>
    run(Effect.gen(function*() {
      const ref = yield* ShardedActor.ref(FlakyStart, "f")
      const error = yield* Effect.flip(ref.ask(new Ping(), { timeout: "2 seconds" }))
      expect(error).toMatchObject({ _tag: "HandlerFailed", actor: "FlakyStart/f", messageTag: "Ping" })
      expect(error.message).toContain("no initial state today")
      expect(yield* ref.ask(new Ping(), { timeout: "2 seconds" })).toBe(1)
    })))

  it.live("restart: fresh state after the backoff; past maxRestarts the actor stops", () =>
    run(Effect.gen(function*() {
      const ref = yield* ShardedActor.ref(RestartingAccount, "r")
      yield* ref.tell(new Deposit({ amount: 10 }))
      expect(yield* ref.ask(new Balance())).toBe(10)
      expect(yield* Effect.flip(ref.ask(new Risky({ fail: true, delay: 0 })))).toMatchObject({ _tag: "HandlerFailed" })
      expect(yield* ref.ask(new Balance())).toBe(0) // restarted from initial()
      yield* ref.tell(new Deposit({ amount: 3 }))
      yield* ref.tell(new Crash({ how: "error" })) // second restart within the window
      expect(yield* ref.ask(new Balance())).toBe(0)
      // The third failure is past maxRestarts (2): the incarnation stops, what waits behind
      // the failing message is answered ActorStopped.
      yield* ref.tell(new Deposit({ amount: 7 }))
      const [failed, waiting] = yield* failingThenWaiting(ref)
      expect(failed).toMatchObject({ _tag: "HandlerFailed", messageTag: "Risky" })
      expect(failed.message).toContain("gave up after 2 restarts")
      expect(waiting).toMatchObject({ _tag: "ActorStopped", actor: "RestartingAccount/r", messageTag: "Balance" })
      // The next message starts a new incarnation.
      expect(yield* ref.ask(new Balance())).toBe(0)
    })))

  it.live("restart with redeliver: the failing message is handled first by the new incarnation", () =>
    run(Effect.gen(function*() {
      const ref = yield* ShardedActor.ref(RedeliveringAccount, "x")
      yield* ref.tell(new Deposit({ amount: 4 }))
      // Fails every time: redelivered until the intensity limit (3) gives up on it.
      const error = yield* Effect.flip(ref.ask(new Risky({ fail: true, delay: 0 })))
      expect(error).toMatchObject({ _tag: "HandlerFailed" })
      expect(error.message).toContain("gave up after 3 restarts")
    })))

  it.live("stop: waiting messages are answered ActorStopped, the next one starts afresh", () =>
    run(Effect.gen(function*() {
      const ref = yield* ShardedActor.ref(StoppingAccount, "s")
      yield* ref.tell(new Deposit({ amount: 9 }))
      const [failed, waiting] = yield* failingThenWaiting(ref)
      expect(failed).toMatchObject({ _tag: "HandlerFailed" })
      expect(waiting).toMatchObject({ _tag: "ActorStopped" })
      expect(yield* ref.ask(new Balance())).toBe(0)
    })))

  it.live("onStart runs when an entity is activated, onStop when it is passivated (maxIdleTime); keepAlive prevents it", () =>
    run(Effect.gen(function*() {
      const ref = yield* ShardedActor.ref(Lifecycle, "life")
      const resident = yield* ShardedActor.ref(Resident, "resident")
      expect(yield* ref.ask(new Ping())).toBe(101)
      expect(yield* ref.ask(new Ping())).toBe(102)
      expect(yield* resident.ask(new Ping())).toBe(101)
      expect(lifecycle).toEqual(["start life", "start resident"])
      // The reaper checks every 5 s at the finest; idle past 100 ms, the entity is passivated.
      yield* Effect.promise(async () => {
        const deadline = performance.now() + 8000
        while (!lifecycle.includes("stop life at 102") && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      })
      expect(lifecycle).toEqual(["start life", "start resident", "stop life at 102"])
      // State was in memory only: the next message activates a fresh incarnation.
      expect(yield* ref.ask(new Ping())).toBe(101)
      expect(lifecycle).toEqual(["start life", "start resident", "stop life at 102", "start life"])
      // The resident one kept its state.
      expect(yield* resident.ask(new Ping())).toBe(102)
    })), { timeout: 15_000 })

  it.live("batch receive: messages waiting together are handled in one call, in order", () =>
    run(Effect.gen(function*() {
      const ref = yield* ShardedActor.ref(Batcher, "b")
      yield* Effect.forEach(Array.from({ length: 100 }, (_, i) => i), (n) => ref.tell(new Item({ n })), { discard: true })
      let batches: ReadonlyArray<ReadonlyArray<number>> = []
      while (batches.flat().length < 100) batches = yield* ref.ask(new Batches())
      expect(batches.flat()).toEqual(Array.from({ length: 100 }, (_, i) => i))
      expect(batches.length).toBeLessThan(100) // some arrived together
      expect(Math.max(...batches.map((b) => b.length))).toBeLessThanOrEqual(16)
    })))

  it.live("a full entity mailbox refuses volatile messages with MailboxFull", () =>
    run(Effect.gen(function*() {
      const ref = yield* ShardedActor.ref(SlowBox, "full")
      const exits = yield* Effect.all(Array.from({ length: 6 }, () => Effect.exit(ref.ask(new Slow()))), { concurrency: "unbounded" })
      const full = exits.filter((e) => Exit.isFailure(e))
      expect(exits.filter(Exit.isSuccess).length).toBeGreaterThanOrEqual(2)
      expect(full.length).toBeGreaterThan(0)
      for (const e of full) {
        expect(Exit.isFailure(e) && e.cause.reasons[0]?._tag === "Fail" && e.cause.reasons[0].error).toMatchObject({
          _tag: "MailboxFull",
          actor: "SlowBox/full",
          messageTag: "Slow",
          capacity: 2
        })
      }
    })))

  it.live("ctx.self sends through the cluster to the same entity", () =>
    run(Effect.gen(function*() {
      const ref = yield* ShardedActor.ref(SelfTeller, "me")
      yield* ref.tell(new Count({ k: 9 }))
      let counted = 0
      while (counted < 10) counted = yield* ref.ask(new Counted())
      expect(counted).toBe(10)
    })))

  it.live("ctx.spawn starts a child on the runner's ActorSystem; its termination reaches onTerminated", () =>
    run(Effect.gen(function*() {
      const ref = yield* ShardedActor.ref(Parent, "p")
      const path = yield* ref.ask(new SpawnChild())
      expect(path).toMatch(/^\/user\//)
      expect(yield* ref.ask(new StopChild())).toBe(true)
      let terminations = 0
      while (terminations === 0) terminations = yield* ref.ask(new Terminations())
      expect(terminations).toBe(1)
    })))

  it.live("tellUnknown decodes with the protocol and names what is wrong", () =>
    run(Effect.gen(function*() {
      const ref = yield* ShardedActor.ref(Account, "unknown")
      yield* ref.tellUnknown({ _tag: "Deposit", amount: 12 })
      expect(yield* ref.ask(new Balance())).toBe(12)
      const error = yield* Effect.flip(ref.tellUnknown({ _tag: "Deposit", amount: "lots" }))
      expect(error).toMatchObject({ _tag: "MessageDecodeError", actor: "Account/unknown" })
      expect(error.message).toContain("amount")
      expect(yield* ref.ask(new Balance())).toBe(12)
    })))

  it.live("ask fails with AskTimeout when no reply comes in time", () =>
    run(Effect.gen(function*() {
      const ref = yield* ShardedActor.ref(SlowBox, "timeout")
      const error = yield* Effect.flip(ref.ask(new Slow(), { timeout: "20 millis" }))
      expect(error).toMatchObject({ _tag: "AskTimeout", actor: "SlowBox/timeout", messageTag: "Slow", timeoutMillis: 20 })
    })))
})

describe("ShardedActor configuration", () => {
  it.live("bad options and ids fail with typed errors naming them", () =>
    Effect.gen(function*() {
      const unknownTag = ShardedActor.entity("Bad", accountBehavior(), { persisted: ["Nope" as "Deposit"] })
      expect(unknownTag.invalid).toMatchObject({ _tag: "InvalidClusterConfig", option: "Bad.persisted", value: "Nope" })
      const layerError = yield* Effect.flip(Layer.build(ShardedActor.layer(unknownTag)).pipe(Effect.scoped, Effect.provide(TestRunner.layer)))
      expect(layerError).toMatchObject({ _tag: "InvalidClusterConfig", option: "Bad.persisted" })
      const refError = yield* Effect.flip(ShardedActor.ref(unknownTag, "x").pipe(Effect.provide(TestRunner.layer)))
      expect(refError.message).toContain("Bad.persisted must be one of Deposit, Withdraw")

      expect(ShardedActor.entity("", accountBehavior()).invalid).toMatchObject({ option: "name" })
      expect(ShardedActor.entity("has space", accountBehavior()).invalid).toMatchObject({ option: "name" })
      expect(ShardedActor.entity("A", accountBehavior(), { mailboxCapacity: 0 }).invalid).toMatchObject({
        option: "A.mailboxCapacity",
        value: "0"
      })
      expect(ShardedActor.entity("A", accountBehavior(), { maxIdleTime: -1 }).invalid).toMatchObject({ option: "A.maxIdleTime" })
      expect(ShardedActor.entity("A", accountBehavior()).invalid).toBeUndefined()

      const badId = yield* Effect.flip(ShardedActor.ref(Account, "").pipe(Effect.provide(TestRunner.layer)))
      expect(badId).toMatchObject({ _tag: "InvalidEntityId", entity: "Account", entityId: "" })
      const tooLong = yield* Effect.flip(ShardedActor.ref(Account, "x".repeat(256)).pipe(Effect.provide(TestRunner.layer)))
      expect(tooLong.message).toContain("at most 255 characters")
    }))

  it.live("a tell to an entity whose protocol lacks the tag is refused at compile time and at run time", () =>
    run(Effect.gen(function*() {
      const ref = yield* ShardedActor.ref(Account, "strict")
      // @ts-expect-error Ping is not a message of Account
      const exit = yield* Effect.exit(ref.tell(new Ping()))
      expect(Exit.isFailure(exit) && Cause.pretty(exit.cause)).toContain("Ping is not a message of its protocol")
    })))
})
