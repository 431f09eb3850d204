/**
 * The demo's domain: bank accounts as actors, an auditor that crashes now and then, a slow
 * clerk behind a bounded mailbox, and a watcher that hears when accounts close.
 */
import { Effect, Schedule, Schema } from "effect"
import { Actor, Mailbox, Message, Supervision } from "@mailroom/core"

export class InsufficientFunds extends Schema.TaggedError<InsufficientFunds>()("InsufficientFunds", {
  account: Schema.String,
  balance: Schema.Number,
  requested: Schema.Number
}) {}

export class Deposit extends Schema.TaggedClass<Deposit>()("Deposit", { amount: Schema.Number }) {}
export class Withdraw extends Message.Request<Withdraw>()("Withdraw", { amount: Schema.Number }, {
  success: Schema.Number,
  error: InsufficientFunds
}) {}
export class Balance extends Message.Request<Balance>()("Balance", {}, { success: Schema.Number }) {}
export const AccountProtocol = Actor.protocol(Deposit, Withdraw, Balance)

/** An account: its state is the balance; withdrawals answer a typed error when short. */
export const account = (name: string) =>
  Actor.behavior(AccountProtocol, {
    label: "account",
    initial: () => 0,
    receive: (balance, msg, ctx) => {
      switch (msg._tag) {
        case "Deposit":
          return Effect.succeed(balance + msg.amount)
        case "Balance":
          ctx.reply(msg, balance)
          return Effect.succeed(balance)
        case "Withdraw":
          if (msg.amount > balance) {
            ctx.fail(msg, new InsufficientFunds({ account: name, balance, requested: msg.amount }))
            return Effect.succeed(balance)
          }
          ctx.reply(msg, balance - msg.amount)
          return Effect.succeed(balance - msg.amount)
      }
    }
  })

export class Audit extends Schema.TaggedClass<Audit>()("Audit", { entry: Schema.Number }) {}
export class Audited extends Message.Request<Audited>()("Audited", {}, { success: Schema.Number }) {}

/** An auditor with a bug: every entry divisible by 4 crashes it. Supervision restarts it. */
export const auditor = (onStart: () => void) =>
  Actor.behavior(Actor.protocol(Audit, Audited), {
    label: "auditor",
    initial: () => 0,
    supervision: Supervision.always(Supervision.restart({
      backoff: Schedule.exponential("20 millis"),
      maxRestarts: 5,
      within: "10 seconds"
    })),
    onStart: (n) => Effect.sync(() => (onStart(), n)),
    receive: (count, msg, ctx) => {
      if (msg._tag === "Audited") {
        ctx.reply(msg, count)
        return Effect.succeed(count)
      }
      if (msg.entry % 4 === 0) return Effect.die(new Error(`cannot audit entry ${msg.entry}`))
      return Effect.succeed(count + 1)
    }
  })

export class File extends Schema.TaggedClass<File>()("File", { page: Schema.Number }) {}
export class Filed extends Message.Request<Filed>()("Filed", {}, { success: Schema.Number }) {}

/** A slow clerk with a small mailbox: senders wait when it is full (backpressure). */
export const clerk = Actor.behavior(Actor.protocol(File, Filed), {
  label: "clerk",
  initial: () => 0,
  mailbox: Mailbox.bounded(3, "suspend"),
  receive: (filed, msg, ctx) => {
    if (msg._tag === "Filed") {
      ctx.reply(msg, filed)
      return Effect.succeed(filed)
    }
    return Effect.sleep("50 millis").pipe(Effect.as(filed + 1))
  }
})

export class Stuck extends Schema.TaggedClass<Stuck>()("Stuck", { job: Schema.Number, millis: Schema.Number }) {}
export class Progress extends Message.Request<Progress>()("Progress", {}, { success: Schema.Number }) {}

/** A worker whose handler may hang: a per-message timeout turns that into a failure. */
export const worker = Actor.behavior(Actor.protocol(Stuck, Progress), {
  label: "worker",
  initial: () => 0,
  timeout: "200 millis",
  supervision: Supervision.byTag({ tags: {}, timeout: Supervision.resume, otherwise: Supervision.stop }),
  receive: (done, msg, ctx) => {
    if (msg._tag === "Progress") {
      ctx.reply(msg, done)
      return Effect.succeed(done)
    }
    return Effect.sleep(msg.millis).pipe(Effect.as(done + 1))
  }
})

export class Watch extends Message.Request<Watch>()("Watch", { target: Schema.Any }, { success: Schema.Void }) {}

/** Watches accounts and reports when they close. */
export const watcher = (report: (line: string) => void) =>
  Actor.behavior(Actor.protocol(Watch), {
    label: "watcher",
    initial: () => 0,
    receive: (n, msg, ctx) => {
      ctx.watch(msg.target)
      ctx.reply(msg, undefined)
      return Effect.succeed(n)
    },
    onTerminated: (n, t) => Effect.sync(() => (report(`${t.actor.path} terminated (${t.reason._tag})`), n + 1))
  })
