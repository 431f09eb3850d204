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
/** A request whose handler fails (typed error) when `fail` is set, after `delay` ms. */
export class Risky extends Message.Request<Risky>()("Risky", { fail: Schema.Boolean, delay: Schema.Number }, {
  success: Schema.Number
}) {}

export class Boom extends Schema.TaggedError<Boom>()("Boom", { reason: Schema.String }) {}

export interface AccountState {
  readonly balance: number
  readonly log: ReadonlyArray<number>
}

export const accountBehavior = (supervision: Supervision.Strategy = Supervision.always(Supervision.resume)) =>
  Actor.behavior(Actor.protocol(Deposit, Withdraw, Balance, Crash, Forget, Log, Append, Risky), {
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
        case "Risky": {
          const outcome = msg.fail ? Effect.fail(new Boom({ reason: "risky" })) : Effect.sync(() => {
            ctx.reply(msg, state.balance)
            return state
          })
          return msg.delay > 0 ? Effect.andThen(Effect.sleep(msg.delay), outcome) : outcome
        }
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

export const RedeliveringAccount = ShardedActor.entity(
  "RedeliveringAccount",
  accountBehavior(Supervision.always(Supervision.restart({ backoff: Schedule.spaced("10 millis"), maxRestarts: 3, redeliver: true })))
)

/** Records lifecycle hooks, per entity id, in this process. */
export const lifecycle: Array<string> = []

export class Ping extends Message.Request<Ping>()("Ping", {}, { success: Schema.Number }) {}

export const Lifecycle = ShardedActor.entity(
  "Lifecycle",
  Actor.behavior(Actor.protocol(Ping), {
    initial: () => 0,
    onStart: (n, ctx) => Effect.sync(() => (lifecycle.push(`start ${ctx.self.name}`), n + 100)),
    onStop: (n, ctx) => Effect.sync(() => void lifecycle.push(`stop ${ctx.self.name} at ${n}`)),
    receive: (n, msg, ctx) => {
      ctx.reply(msg, n + 1)
      return Effect.succeed(n + 1)
    }
  }),
  { maxIdleTime: "100 millis" }
)

/** Like `Lifecycle`, but keeps itself alive from `onStart`: never passivated. */
export const Resident = ShardedActor.entity(
  "Resident",
  Actor.behavior(Actor.protocol(Ping), {
    initial: () => 0,
    onStart: (n, ctx) =>
      Effect.as(
        Effect.andThen(ShardedActor.keepAlive(true), Effect.sync(() => lifecycle.push(`start ${ctx.self.name}`))),
        n + 100
      ),
    onStop: (n, ctx) => Effect.sync(() => void lifecycle.push(`stop ${ctx.self.name} at ${n}`)),
    receive: (n, msg, ctx) => {
      ctx.reply(msg, n + 1)
      return Effect.succeed(n + 1)
    }
  }),
  { maxIdleTime: "100 millis" }
)

/** A batch behavior: records the size of each batch it receives. */
export class Item extends Schema.TaggedClass<Item>()("Item", { n: Schema.Number }) {}
export class Batches extends Message.Request<Batches>()("Batches", {}, {
  success: Schema.Array(Schema.Array(Schema.Number))
}) {}

export const Batcher = ShardedActor.entity(
  "Batcher",
  Actor.behavior(Actor.protocol(Item, Batches), {
    initial: (): ReadonlyArray<ReadonlyArray<number>> => [],
    batch: {
      max: 16,
      receive: (batches, messages, ctx) => {
        const items: Array<number> = []
        for (const msg of messages) {
          if (msg._tag === "Item") items.push(msg.n)
          else ctx.reply(msg, batches)
        }
        // Some work per batch, so that messages pile up behind it.
        return Effect.as(Effect.sleep(5), items.length > 0 ? [...batches, items] : batches)
      }
    }
  })
)

/** A slow actor with room for 2 messages in flight. */
export class Slow extends Message.Request<Slow>()("Slow", {}, { success: Schema.Number }) {}
export const SlowBox = ShardedActor.entity(
  "SlowBox",
  Actor.behavior(Actor.protocol(Slow), {
    initial: () => 0,
    receive: (n, msg, ctx) => {
      ctx.reply(msg, n)
      return Effect.as(Effect.sleep(100), n + 1)
    }
  }),
  { mailboxCapacity: 2 }
)

/** Tells itself: `Count(k)` sends itself `Count(k - 1)` until 0, counting messages. */
export class Count extends Schema.TaggedClass<Count>()("Count", { k: Schema.Number }) {}
export class Counted extends Message.Request<Counted>()("Counted", {}, { success: Schema.Number }) {}
export const SelfTeller = ShardedActor.entity(
  "SelfTeller",
  Actor.behavior(Actor.protocol(Count, Counted), {
    initial: () => 0,
    receive: (n, msg, ctx) => {
      if (msg._tag === "Counted") {
        ctx.reply(msg, n)
        return Effect.succeed(n)
      }
      return msg.k > 0 ? Effect.as(ctx.self.tell(new Count({ k: msg.k - 1 })), n + 1) : Effect.succeed(n + 1)
    }
  })
)

/** A parent that spawns a local child actor on its runner and counts `Terminated` signals. */
class Hello extends Schema.TaggedClass<Hello>()("Hello", {}) {}
const child = Actor.behavior(Actor.protocol(Hello), { initial: () => 0, receive: (n) => Effect.succeed(n + 1) })

export class SpawnChild extends Message.Request<SpawnChild>()("SpawnChild", {}, { success: Schema.String }) {}
export class StopChild extends Message.Request<StopChild>()("StopChild", {}, { success: Schema.Boolean }) {}
export class Terminations extends Message.Request<Terminations>()("Terminations", {}, { success: Schema.Number }) {}

interface ParentState {
  readonly child: Actor.ActorRef<Hello> | undefined
  readonly terminated: number
}

export const Parent = ShardedActor.entity(
  "Parent",
  Actor.behavior(Actor.protocol(SpawnChild, StopChild, Terminations), {
    initial: (): ParentState => ({ child: undefined, terminated: 0 }),
    onTerminated: (state) => Effect.succeed({ ...state, terminated: state.terminated + 1 }),
    receive: (state, msg, ctx) =>
      Effect.gen(function*() {
        switch (msg._tag) {
          case "SpawnChild": {
            const ref = yield* ctx.spawn(child)
            ctx.reply(msg, ref.path)
            return { ...state, child: ref }
          }
          case "StopChild":
            if (state.child !== undefined) yield* state.child.stop
            ctx.reply(msg, state.child !== undefined)
            return { ...state, child: undefined }
          case "Terminations":
            ctx.reply(msg, state.terminated)
            return state
        }
      }).pipe(Effect.orDie)
  })
)

/** Charges handled by `Till` in this process (entity id → order ids, in handling order). */
export const charged = new Map<string, Array<string>>()

export class Total extends Message.Request<Total>()("Total", {}, { success: Schema.Number }) {}

/** A till: `Charge` is persisted and carries a primary key (its order id). */
export const Till = ShardedActor.entity(
  "Till",
  Actor.behavior(Actor.protocol(Charge, Deposit, Total), {
    initial: () => 0,
    receive: (total, msg, ctx) => {
      switch (msg._tag) {
        case "Charge": {
          const orders = charged.get(ctx.self.name!) ?? []
          orders.push(msg.orderId)
          charged.set(ctx.self.name!, orders)
          ctx.reply(msg, total + msg.amount)
          return Effect.succeed(total + msg.amount)
        }
        case "Deposit":
          return Effect.succeed(total + msg.amount)
        case "Total":
          ctx.reply(msg, total)
          return Effect.succeed(total)
      }
    }
  }),
  { persisted: ["Charge", "Deposit"] }
)

/** A behavior whose `initial()` throws the first `failures` times it is called. */
export const flakyStart = { failures: 1 }
export const FlakyStart = ShardedActor.entity(
  "FlakyStart",
  Actor.behavior(Actor.protocol(Ping), {
    initial: () => {
      if (flakyStart.failures > 0) {
        flakyStart.failures--
        throw new Error("no initial state today")
      }
      return 0
    },
    receive: (n, msg, ctx) => {
      ctx.reply(msg, n + 1)
      return Effect.succeed(n + 1)
    }
  })
)
