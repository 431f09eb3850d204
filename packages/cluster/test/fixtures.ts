/**
 * Messages and behaviors shared by the tests (and by the runner processes of the
 * multi-process test, which import this file on the TypeScript sources).
 */
import { Actor, Message, Supervision } from "@mailroom/core"
import { Effect, PrimaryKey, Schedule, Schema } from "effect"
import { ShardedActor } from "../src/index.js"

export class InsufficientFunds extends Schema.TaggedError<InsufficientFunds>()("InsufficientFunds", {
  balance: Schema.Number
}) {}

export class Deposit extends Schema.TaggedClass<Deposit>()("Deposit", { amount: Schema.Number }) {}
export class Withdraw extends Message.Request<Withdraw>()("Withdraw", { amount: Schema.Number }, {
  success: Schema.Number,
  error: InsufficientFunds
}) {}
export class Balance extends Message.Request<Balance>()("Balance", {}, { success: Schema.Number }) {}
/** Fails the handler (a typed error) when `fail`, to exercise supervision. */
export class Crash extends Schema.TaggedClass<Crash>()("Crash", { how: Schema.Literals(["error", "defect", "throw", "slow"]) }) {}
export class Forget extends Message.Request<Forget>()("Forget", {}, { success: Schema.Number }) {}
export class Log extends Message.Request<Log>()("Log", {}, { success: Schema.Array(Schema.Number) }) {}
export class Append extends Schema.TaggedClass<Append>()("Append", { n: Schema.Number }) {}

export class Boom extends Schema.TaggedError<Boom>()("Boom", { reason: Schema.String }) {}

export interface AccountState {
  readonly balance: number
  readonly log: ReadonlyArray<number>
}

export const accountBehavior = (supervision: Supervision.Strategy = Supervision.always(Supervision.resume)) =>
  Actor.behavior(Actor.protocol(Deposit, Withdraw, Balance, Crash, Forget, Log, Append), {
    initial: (): AccountState => ({ balance: 0, log: [] }),
    supervision,
    timeout: "300 millis",
    receive: (state, msg, ctx) => {
      switch (msg._tag) {
        case "Deposit":
          return Effect.succeed({ ...state, balance: state.balance + msg.amount })
        case "Withdraw":
          if (msg.amount > state.balance) {
            ctx.fail(msg, new InsufficientFunds({ balance: state.balance }))
            return Effect.succeed(state)
          }
          ctx.reply(msg, state.balance - msg.amount)
          return Effect.succeed({ ...state, balance: state.balance - msg.amount })
        case "Balance":
          ctx.reply(msg, state.balance)
          return Effect.succeed(state)
        case "Crash":
          switch (msg.how) {
            case "error":
              return Effect.fail(new Boom({ reason: "asked to" }))
            case "defect":
              return Effect.die("asked to die")
            case "throw":
              throw new Error("thrown")
            case "slow":
              return Effect.as(Effect.sleep("5 seconds"), state)
          }
        // A request the handler forgets to answer: the asker gets a defect naming it.
        case "Forget":
          return Effect.succeed(state)
        case "Log":
          ctx.reply(msg, state.log)
          return Effect.succeed(state)
        case "Append":
          return Effect.succeed({ ...state, log: [...state.log, msg.n] })
      }
    }
  })

export const Account = ShardedActor.entity("Account", accountBehavior())

export const RestartingAccount = ShardedActor.entity(
  "RestartingAccount",
  accountBehavior(Supervision.always(Supervision.restart({ backoff: Schedule.spaced("10 millis"), maxRestarts: 2, within: "1 minute" })))
)

export const StoppingAccount = ShardedActor.entity("StoppingAccount", accountBehavior(Supervision.always(Supervision.stop)))

/** A persisted, idempotent charge: its primary key makes the cluster store it once. */
export class Charge extends Message.Request<Charge>()("Charge", { orderId: Schema.String, amount: Schema.Number }, {
  success: Schema.Number
}) {
  [PrimaryKey.symbol](): string {
    return this.orderId
  }
}
