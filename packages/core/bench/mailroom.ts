/**
 * Mailroom contenders, driven through the public API of `@mailroom/core` (resolved to dist/).
 *
 * - tell: a counter behavior `(count, Add) => Effect.succeed(count + msg.n)` spawned with
 *   `ActorSystem.spawn`; the 1,000,000 `Add` instances are built once per process, outside the
 *   timed part (as every contender's messages are); the sender calls `ref.tellUnsafe` in a plain
 *   loop, or `yield* ref.tell` inside one `Effect.gen` loop. The timed part ends when the handler
 *   has seen the last message. An informational variant builds `new Add({ n })` inside the timed
 *   loop, to show what Schema class construction adds.
 * - ask: a request `Bump` (`Message.Request`, success `Schema.Number`); the handler adds `n` and
 *   `ctx.reply`s the new count; the client `yield* ref.ask(request)` in one `Effect.gen` loop.
 *   Requests are built before the timed loop.
 * - memory/spawn: an idle counter behavior spawned anonymously with `ActorSystem.spawn` in one
 *   `Effect.gen` loop, in a fresh actor system (`ManagedRuntime.make(ActorSystem.layer())`).
 */
import { Effect, ManagedRuntime, Schema } from "effect"
import { Actor, type ActorError, ActorSystem, Message } from "@mailroom/core"
import {
  check,
  heapPerItem,
  LatencySampler,
  median,
  now,
  sumBelow,
  throughput,
  timedRounds,
  spawnRate,
  type ProcessResult
} from "./harness.ts"
import { ASK_ROUND_TRIPS, ASK_SAMPLE_EVERY, IDLE_ACTORS, IDLE_WARMUP_ACTORS, SPAWN_ACTORS, SPAWN_WARMUP_ACTORS, TELL_MESSAGES } from "./sizes.ts"

class Add extends Schema.TaggedClass<Add>()("Add", { n: Schema.Number }) {}
class Bump extends Message.Request<Bump>()("Bump", { n: Schema.Number }, { success: Schema.Number }) {}

/** Called by the counter when it handles the message numbered `lastN`. */
let onLast: (count: number) => void = () => {}
let lastN = -1

const Counter = Actor.behavior(Actor.protocol(Add), {
  initial: () => 0,
  receive: (count, msg) => {
    const next = count + msg.n
    if (msg.n === lastN) onLast(next)
    return Effect.succeed(next)
  }
})

const Bumper = Actor.behavior(Actor.protocol(Bump), {
  initial: () => 0,
  receive: (count, msg, ctx) => {
    const next = count + msg.n
    ctx.reply(msg, next)
    return Effect.succeed(next)
  }
})

type Runtime = ManagedRuntime.ManagedRuntime<ActorSystem.ActorSystem, ActorError.InvalidSystemConfig>

let shared: Runtime | undefined
const runtime = (): Runtime => (shared ??= ManagedRuntime.make(ActorSystem.layer({ shutdown: "immediate" })))

let messages: Array<Add> | undefined
const prebuilt = (): Array<Add> =>
  (messages ??= Array.from({ length: TELL_MESSAGES }, (_, i) => new Add({ n: i })))

/** One tell round: spawn a counter, run `send`, wait until the last message was handled. */
const tellRound = async (send: (ref: Actor.ActorRef<Add>) => Promise<void> | void): Promise<number> => {
  const N = TELL_MESSAGES
  const rt = runtime()
  const ref = await rt.runPromise(ActorSystem.spawn(Counter))
  const finished = new Promise<number>((resolve) => {
    onLast = resolve
  })
  lastN = N - 1
  const t0 = now()
  await send(ref)
  const count = await finished
  const t1 = now()
  check("mailroom counter", count, sumBelow(N))
  await rt.runPromise(ref.stopNow)
  return t1 - t0
}

export const tellUnsafe = (): Promise<ProcessResult> =>
  throughput(TELL_MESSAGES, () => {
    const msgs = prebuilt()
    return tellRound((ref) => {
      for (let i = 0; i < msgs.length; i++) ref.tellUnsafe(msgs[i]!)
    })
  })

export const tellUnsafeConstructing = (): Promise<ProcessResult> =>
  throughput(TELL_MESSAGES, () =>
    tellRound((ref) => {
      const N = TELL_MESSAGES
      for (let i = 0; i < N; i++) ref.tellUnsafe(new Add({ n: i }))
    }))

export const tellEffect = (): Promise<ProcessResult> =>
  throughput(TELL_MESSAGES, () => {
    const msgs = prebuilt()
    return tellRound((ref) =>
      runtime().runPromise(
        Effect.gen(function*() {
          for (let i = 0; i < msgs.length; i++) yield* ref.tell(msgs[i]!)
        })
      )
    )
  })

export const ask = async (): Promise<ProcessResult> => {
  const N = ASK_ROUND_TRIPS
  const rt = runtime()
  let sampler = new LatencySampler(ASK_SAMPLE_EVERY)
  const { times, warmupRounds } = await timedRounds(async () => {
    sampler = new LatencySampler(ASK_SAMPLE_EVERY)
    const s = sampler
    const requests = Array.from({ length: N }, (_, i) => new Bump({ n: i }))
    const ref = await rt.runPromise(ActorSystem.spawn(Bumper))
    const client = Effect.gen(function*() {
      let last = 0
      for (let i = 0; i < N; i++) {
        const start = i % s.every === 0 ? now() : -1
        last = yield* ref.ask(requests[i]!)
        if (start >= 0) s.samples.push(now() - start)
      }
      return last
    })
    const t0 = now()
    const last = await rt.runPromise(client)
    const t1 = now()
    check("mailroom ask reply", last, sumBelow(N))
    await rt.runPromise(ref.stopNow)
    return t1 - t0
  })
  const rates = times.map((ms) => N / (ms / 1000))
  return { value: median(rates), rounds: rates, warmupRounds, extra: sampler.summary() }
}

interface Spawned {
  readonly rt: Runtime
  readonly refs: Array<Actor.ActorRef<Add>>
}

/** A fresh actor system, built before anything is spawned in it. */
const freshSystem = async (): Promise<Runtime> => {
  const rt = ManagedRuntime.make(ActorSystem.layer({ shutdown: "immediate" }))
  await rt.runPromise(Effect.void)
  return rt
}

const spawnIn = (rt: Runtime, count: number): Promise<Array<Actor.ActorRef<Add>>> =>
  rt.runPromise(
    Effect.gen(function*() {
      const refs: Array<Actor.ActorRef<Add>> = []
      for (let i = 0; i < count; i++) refs.push(yield* ActorSystem.spawn(Counter))
      return refs
    })
  )

const spawnMany = async (count: number): Promise<Spawned> => {
  const rt = await freshSystem()
  return { rt, refs: await spawnIn(rt, count) }
}

const closeSystem = (spawned: Spawned): Promise<void> => spawned.rt.dispose()

export const memory = (): Promise<ProcessResult> => heapPerItem(IDLE_ACTORS, spawnMany, closeSystem, IDLE_WARMUP_ACTORS)

export const spawn = (): Promise<ProcessResult> =>
  spawnRate(SPAWN_ACTORS, SPAWN_WARMUP_ACTORS, async (count) => {
    const rt = await freshSystem()
    const t0 = now()
    const refs = await spawnIn(rt, count)
    const t1 = now()
    check("mailroom actors spawned", refs.length, count)
    await rt.dispose()
    return t1 - t0
  })
