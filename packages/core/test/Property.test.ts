import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Schedule, Schema } from "effect"
import * as fc from "fast-check"
import { Actor, ActorSystem, Mailbox, Message, Supervision } from "@mailroom/core"
import { drainLetters } from "./helpers.js"

class Msg extends Schema.TaggedClass<Msg>()("Msg", {
  id: Schema.Number,
  outcome: Schema.Literals(["sync", "async", "fail", "defect"])
}) {}
const P = Actor.protocol(Msg)

const directive = fc.constantFrom<Supervision.Directive>(
  Supervision.resume,
  Supervision.stop,
  Supervision.restart({ backoff: Schedule.spaced(0), maxRestarts: 3 }),
  Supervision.restart({ backoff: Schedule.spaced(0), maxRestarts: 3, redeliver: true })
)

const op = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom("sync", "async", "fail", "defect").map((outcome) => ({ _tag: "Tell" as const, outcome })) },
  { weight: 1, arbitrary: fc.constant({ _tag: "Yield" as const }) },
  { weight: 1, arbitrary: fc.constantFrom("stop", "stopNow").map((how) => ({ _tag: "Stop" as const, how })) }
)

describe("Property: no message is lost or handled twice", () => {
  it("under random failures, restarts and stops, every message is handled or dead-lettered exactly once", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 60 }),
        directive,
        fc.constantFrom<Mailbox.Mailbox>(Mailbox.unbounded, Mailbox.bounded(4, "dropOldest"), Mailbox.bounded(4, "dropNewest")),
        (ops, dir, mailbox) =>
          Effect.runPromise(
            Effect.gen(function*() {
              const sub = yield* ActorSystem.subscribeDeadLetters
              const handled: Array<number> = []
              const behavior = Actor.behavior(P, {
                initial: () => 0,
                mailbox,
                supervision: Supervision.always(dir),
                receive: (n, msg) => {
                  switch (msg.outcome) {
                    case "sync":
                      handled.push(msg.id)
                      return Effect.succeed(n + 1)
                    case "async":
                      return Effect.yieldNow.pipe(Effect.map(() => (handled.push(msg.id), n + 1)))
                    case "fail":
                      return Effect.fail("failed")
                    case "defect":
                      return Effect.sync(() => {
                        throw new Error("defect")
                      })
                  }
                }
              })
              const ref = yield* ActorSystem.spawn(behavior)
              const sent: Array<number> = []
              for (const o of ops) {
                if (o._tag === "Tell") {
                  const id = sent.length
                  sent.push(id)
                  yield* ref.tell(new Msg({ id, outcome: o.outcome as Msg["outcome"] }))
                } else if (o._tag === "Yield") {
                  yield* Effect.yieldNow
                } else if (o.how === "stop") {
                  yield* ref.stop
                } else {
                  yield* ref.stopNow
                }
              }
              yield* ref.stop
              const letters = yield* drainLetters(sub)
              const lettered = letters.map((l) => (l.message as Msg).id)
              const all = [...handled, ...lettered].sort((a, b) => a - b)
              expect(all).toStrictEqual(sent)
            }).pipe(Effect.scoped, Effect.provide(ActorSystem.layer()))
          )
      ),
      { numRuns: 150 }
    )
  }, 60_000)
})

class Note extends Schema.TaggedClass<Note>()("Note", {
  id: Schema.Number,
  outcome: Schema.Literals(["sync", "async", "fail", "defect"])
}) {}
class Query extends Message.Request<Query>()("Query", {
  id: Schema.Number,
  outcome: Schema.Literals(["sync", "async", "fail", "defect"])
}, { success: Schema.Number }) {}
const Q = Actor.protocol(Note, Query)

const send = fc.record({
  kind: fc.constantFrom("tell" as const, "ask" as const),
  outcome: fc.constantFrom("sync" as const, "async" as const, "fail" as const, "defect" as const)
})

const senderOp = fc.oneof(
  { weight: 8, arbitrary: send.map((s) => ({ _tag: "Send" as const, ...s })) },
  {
    weight: 4,
    arbitrary: fc.record({
      sends: fc.array(send, { minLength: 1, maxLength: 6 }),
      yields: fc.integer({ min: 0, max: 2 })
    }).map((a) => ({ _tag: "Abandon" as const, ...a }))
  },
  { weight: 2, arbitrary: fc.constant({ _tag: "Yield" as const }) },
  { weight: 1, arbitrary: fc.constantFrom("stop", "stopNow").map((how) => ({ _tag: "Stop" as const, how })) }
)

describe("Property: senders that give up withdraw their messages", () => {
  it("with abandoned tells and asks on every kind of mailbox, each accepted message is handled or dead-lettered exactly once", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(senderOp, { minLength: 1, maxLength: 50 }),
        directive,
        fc.constantFrom<Mailbox.Mailbox>(
          Mailbox.unbounded,
          Mailbox.bounded(2, "suspend", { maxWaitingSenders: 1 }),
          Mailbox.bounded(3, "dropOldest"),
          Mailbox.bounded(3, "dropNewest"),
          Mailbox.bounded(3, "fail")
        ),
        (ops, dir, mailbox) =>
          Effect.runPromise(
            Effect.gen(function*() {
              const sub = yield* ActorSystem.subscribeDeadLetters
              const handled: Array<number> = []
              const behavior = Actor.behavior(Q, {
                initial: () => 0,
                mailbox,
                supervision: Supervision.always(dir),
                receive: (n, msg, ctx) => {
                  const done = () => {
                    handled.push(msg.id)
                    if (msg._tag === "Query") ctx.reply(msg, msg.id)
                    return n + 1
                  }
                  switch (msg.outcome) {
                    case "sync":
                      return Effect.succeed(done())
                    case "async":
                      return Effect.yieldNow.pipe(Effect.map(done))
                    case "fail":
                      return Effect.fail("failed")
                    case "defect":
                      return Effect.sync(() => {
                        throw new Error("defect")
                      })
                  }
                }
              })
              const ref = yield* ActorSystem.spawn(behavior)
              const exits = new Map<number, Exit.Exit<unknown, unknown>>()
              let next = 0
              const sendOne = (s: { readonly kind: "tell" | "ask"; readonly outcome: Note["outcome"] }) => {
                const id = next++
                const effect: Effect.Effect<unknown, unknown> = s.kind === "tell"
                  ? ref.tell(new Note({ id, outcome: s.outcome }))
                  : ref.ask(new Query({ id, outcome: s.outcome }))
                return { id, effect }
              }
              for (const o of ops) {
                if (o._tag === "Send") {
                  const { effect, id } = sendOne(o)
                  exits.set(id, yield* Effect.exit(effect))
                } else if (o._tag === "Abandon") {
                  // Each send starts at once (so it reached the actor), then its sender gives up.
                  const started = []
                  for (const s of o.sends) {
                    const { effect, id } = sendOne(s)
                    started.push({ id, fiber: yield* Effect.forkChild(effect, { startImmediately: true }) })
                  }
                  for (let i = 0; i < o.yields; i++) yield* Effect.yieldNow
                  for (const { fiber, id } of started) {
                    yield* Fiber.interrupt(fiber)
                    exits.set(id, yield* Fiber.await(fiber))
                  }
                } else if (o._tag === "Yield") {
                  yield* Effect.yieldNow
                } else if (o.how === "stop") {
                  yield* ref.stop
                } else {
                  yield* ref.stopNow
                }
              }
              yield* ref.stop
              const letters = yield* drainLetters(sub)
              const count = new Map<number, number>()
              for (const id of [...handled, ...letters.map((l) => (l.message as Note | Query).id)]) {
                count.set(id, (count.get(id) ?? 0) + 1)
              }
              for (const [id, exit] of exits) {
                // Refused at once (never accepted): the sender knows, nothing is dead-lettered.
                const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : undefined
                const tag = error?._tag === "Some" ? (error.value as { _tag?: string })._tag : undefined
                const refused = tag === "TooManyWaitingSenders" ||
                  (tag === "MailboxFull" && mailbox._tag === "Bounded" && mailbox.strategy === "fail")
                expect([id, count.get(id) ?? 0]).toStrictEqual([id, refused ? 0 : 1])
              }
            }).pipe(Effect.scoped, Effect.provide(ActorSystem.layer()))
          )
      ),
      { numRuns: 200 }
    )
  }, 60_000)
})
