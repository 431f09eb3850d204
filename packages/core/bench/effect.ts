/**
 * Bare Effect baselines: what an actor built directly from Effect primitives costs.
 *
 * - tell: an unbounded `Queue` and one consumer fiber that drains it with `Queue.takeAll` and adds
 *   each message's `n` to a counter; the sender either calls `Queue.offerUnsafe` in a plain loop
 *   (like `tellUnsafe`) or `yield* Queue.offer` inside one `Effect.gen` loop (like `ref.tell`).
 * - ask: the same queue carrying `{ n, reply: Deferred }`; the server fiber `Queue.take`s, adds and
 *   `Deferred.succeed`s; the client `Effect.gen` loop makes a Deferred, offers, `Deferred.await`s.
 * - memory/spawn: one `Effect.forkDetach`ed fiber per "actor" blocked on `Deferred.await` (the
 *   "fiber per actor" design), and a variant blocked on `Queue.take` of its own queue (fiber +
 *   mailbox).
 */
import { Deferred, Effect, Fiber, Queue } from "effect"
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

interface Add {
  readonly n: number
}

/** Starts a consumer fiber on `queue`; the promise resolves with the count once message N-1 is handled. */
const startCounter = (queue: Queue.Queue<Add>, N: number) => {
  let done!: (count: number) => void
  const finished = new Promise<number>((resolve) => (done = resolve))
  const fiber = Effect.runFork(
    Effect.gen(function*() {
      let count = 0
      while (true) {
        const batch = yield* Queue.takeAll(queue)
        for (let i = 0; i < batch.length; i++) {
          const msg = batch[i]!
          count += msg.n
          if (msg.n === N - 1) done(count)
        }
      }
    })
  )
  return { fiber, finished }
}

/** The 1,000,000 messages, built once per process outside the timed part. */
let messages: Array<Add> | undefined
const prebuilt = (): Array<Add> => (messages ??= Array.from({ length: TELL_MESSAGES }, (_, i) => ({ n: i })))

export const tellUnsafe = (): Promise<ProcessResult> =>
  throughput(TELL_MESSAGES, async () => {
    const N = TELL_MESSAGES
    const msgs = prebuilt()
    const queue = Effect.runSync(Queue.unbounded<Add>())
    const { fiber, finished } = startCounter(queue, N)
    const t0 = now()
    for (let i = 0; i < N; i++) Queue.offerUnsafe(queue, msgs[i]!)
    const count = await finished
    const t1 = now()
    check("effect queue counter", count, sumBelow(N))
    await Effect.runPromise(Fiber.interrupt(fiber))
    return t1 - t0
  })

export const tellEffect = (): Promise<ProcessResult> =>
  throughput(TELL_MESSAGES, async () => {
    const N = TELL_MESSAGES
    const msgs = prebuilt()
    const queue = Effect.runSync(Queue.unbounded<Add>())
    const { fiber, finished } = startCounter(queue, N)
    const send = Effect.gen(function*() {
      for (let i = 0; i < N; i++) yield* Queue.offer(queue, msgs[i]!)
    })
    const t0 = now()
    await Effect.runPromise(send)
    const count = await finished
    const t1 = now()
    check("effect queue counter", count, sumBelow(N))
    await Effect.runPromise(Fiber.interrupt(fiber))
    return t1 - t0
  })

interface AskMsg {
  readonly n: number
  readonly reply: Deferred.Deferred<number>
}

export const ask = async (): Promise<ProcessResult> => {
  const N = ASK_ROUND_TRIPS
  let sampler = new LatencySampler(ASK_SAMPLE_EVERY)
  const { times, warmupRounds } = await timedRounds(async () => {
    sampler = new LatencySampler(ASK_SAMPLE_EVERY)
    const s = sampler
    const queue = Effect.runSync(Queue.unbounded<AskMsg>())
    const server = Effect.runFork(
      Effect.gen(function*() {
        let count = 0
        while (true) {
          const msg = yield* Queue.take(queue)
          count += msg.n
          yield* Deferred.succeed(msg.reply, count)
        }
      })
    )
    const client = Effect.gen(function*() {
      let last = 0
      for (let i = 0; i < N; i++) {
        const start = i % s.every === 0 ? now() : -1
        const reply = yield* Deferred.make<number>()
        yield* Queue.offer(queue, { n: i, reply })
        last = yield* Deferred.await(reply)
        if (start >= 0) s.samples.push(now() - start)
      }
      return last
    })
    const t0 = now()
    const last = await Effect.runPromise(client)
    const t1 = now()
    check("effect ask reply", last, sumBelow(N))
    await Effect.runPromise(Fiber.interrupt(server))
    return t1 - t0
  })
  const rates = times.map((ms) => N / (ms / 1000))
  return { value: median(rates), rounds: rates, warmupRounds, extra: sampler.summary() }
}

interface Parked {
  readonly fibers: Array<Fiber.Fiber<unknown>>
}

/** `count` detached fibers, each blocked on its own Deferred. */
const forkOnDeferred = (count: number): Promise<Parked> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const fibers: Array<Fiber.Fiber<unknown>> = []
      for (let i = 0; i < count; i++) {
        const d = Deferred.makeUnsafe<void>()
        fibers.push(yield* Effect.forkDetach(Deferred.await(d)))
      }
      return { fibers }
    })
  )

/** `count` detached fibers, each blocked on `Queue.take` of its own unbounded queue. */
const forkOnQueue = (count: number): Promise<Parked> =>
  Effect.runPromise(
    Effect.gen(function*() {
      const fibers: Array<Fiber.Fiber<unknown>> = []
      for (let i = 0; i < count; i++) {
        const q = yield* Queue.unbounded<Add>()
        fibers.push(yield* Effect.forkDetach(Queue.take(q)))
      }
      return { fibers }
    })
  )

const interruptAll = (parked: Parked): Promise<void> => Effect.runPromise(Fiber.interruptAll(parked.fibers))

export const memoryFiber = (): Promise<ProcessResult> =>
  heapPerItem(IDLE_ACTORS, forkOnDeferred, interruptAll, IDLE_WARMUP_ACTORS)

export const memoryQueueFiber = (): Promise<ProcessResult> =>
  heapPerItem(IDLE_ACTORS, forkOnQueue, interruptAll, IDLE_WARMUP_ACTORS)

export const spawnFiber = (): Promise<ProcessResult> =>
  spawnRate(SPAWN_ACTORS, SPAWN_WARMUP_ACTORS, async (count) => {
    const t0 = now()
    const parked = await forkOnDeferred(count)
    const t1 = now()
    check("effect fibers forked", parked.fibers.length, count)
    await interruptAll(parked)
    return t1 - t0
  })
