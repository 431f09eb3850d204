import { Effect, Schema } from "effect"
import { Actor, Message } from "@mailroom/core"

export class InsufficientFunds extends Schema.TaggedError<InsufficientFunds>()("InsufficientFunds", {
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

export const account = Actor.behavior(AccountProtocol, {
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
          ctx.fail(msg, new InsufficientFunds({ balance, requested: msg.amount }))
          return Effect.succeed(balance)
        }
        ctx.reply(msg, balance - msg.amount)
        return Effect.succeed(balance - msg.amount)
    }
  }
})
