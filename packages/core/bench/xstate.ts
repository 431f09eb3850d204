/**
 * xstate v5 contenders. The actor is a `fromTransition` actor (xstate's lightest actor logic):
 * `createActor(fromTransition(reducer, 0)).start()`, messages go in with `actor.send(event)`.
 * xstate processes a send synchronously when the actor is idle, so tell completes when the
 * send loop returns. Ask: the transition emits a reply with `actorScope.emit` (xstate v5's
 * way for an actor to talk to the outside) and the asker listens with `actor.on("reply")`,
 * resolving the promise it awaits.
 */
import { createActor, fromTransition, type Actor, type AnyActorLogic } from "xstate"
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
  timeSpawns,
  type ProcessResult
} from "./harness.ts"
import { ASK_ROUND_TRIPS, ASK_SAMPLE_EVERY, IDLE_ACTORS, IDLE_WARMUP_ACTORS, SPAWN_ACTORS, SPAWN_WARMUP_ACTORS, TELL_MESSAGES } from "./sizes.ts"

interface AddEvent {
  readonly type: "add"
  readonly n: number
}
interface ReplyEvent {
  readonly type: "reply"
  readonly value: number
}

const counterLogic = fromTransition((count: number, event: AddEvent) => count + event.n, 0)

/** The 1,000,000 events, built once per process outside the timed part. */
let events: Array<AddEvent> | undefined
const prebuilt = (): Array<AddEvent> =>
  (events ??= Array.from({ length: TELL_MESSAGES }, (_, i) => ({ type: "add" as const, n: i })))

export const tell = (): Promise<ProcessResult> =>
  throughput(TELL_MESSAGES, async () => {
    const N = TELL_MESSAGES
    const msgs = prebuilt()
    const actor = createActor(counterLogic).start()
    const t0 = now()
    for (let i = 0; i < N; i++) actor.send(msgs[i]!)
    const t1 = now()
    check("xstate counter", actor.getSnapshot().context, sumBelow(N))
    actor.stop()
    return t1 - t0
  })

const askLogic = fromTransition<number, AddEvent, any, any, ReplyEvent>((count, event, scope) => {
  const next = count + event.n
  scope.emit({ type: "reply", value: next })
  return next
}, 0)

export const ask = async (): Promise<ProcessResult> => {
  const N = ASK_ROUND_TRIPS
  let sampler = new LatencySampler(ASK_SAMPLE_EVERY)
  const { times, warmupRounds } = await timedRounds(async () => {
    sampler = new LatencySampler(ASK_SAMPLE_EVERY)
    const actor = createActor(askLogic).start()
    let pending: ((value: number) => void) | undefined
    actor.on("reply", (e) => pending!(e.value))
    const request = (n: number): Promise<number> =>
      new Promise<number>((resolve) => {
        pending = resolve
        actor.send({ type: "add", n })
      })
    let last = 0
    const every = sampler.every
    const t0 = now()
    for (let i = 0; i < N; i++) {
      if (i % every === 0) {
        const s = now()
        last = await request(i)
        sampler.samples.push(now() - s)
      } else {
        last = await request(i)
      }
    }
    const t1 = now()
    check("xstate ask reply", last, sumBelow(N))
    actor.stop()
    return t1 - t0
  })
  const rates = times.map((ms) => N / (ms / 1000))
  return { value: median(rates), rounds: rates, warmupRounds, extra: sampler.summary() }
}

const spawnMany = async (count: number): Promise<Array<Actor<AnyActorLogic>>> => {
  const actors: Array<Actor<AnyActorLogic>> = []
  for (let i = 0; i < count; i++) actors.push(createActor(counterLogic).start())
  return actors
}
const stopAll = async (actors: Array<Actor<AnyActorLogic>>): Promise<void> => {
  for (const a of actors) a.stop()
}

export const memory = (): Promise<ProcessResult> => heapPerItem(IDLE_ACTORS, spawnMany, stopAll, IDLE_WARMUP_ACTORS)

export const spawn = (): Promise<ProcessResult> =>
  spawnRate(SPAWN_ACTORS, SPAWN_WARMUP_ACTORS, timeSpawns("xstate actors spawned", spawnMany, stopAll))
