/**
 * nact contenders. One actor system per process (`start()`); actors are `spawn(system, f, name,
 * { initialState: 0 })` with a reducer `(count, msg) => count + msg.n`; tell is `dispatch`, ask is
 * `query(ref, sender => msg, timeout)` where the actor answers with `dispatch(msg.sender, count)`.
 * nact handles each message in its own `setImmediate` turn, so tell completes when the handler
 * sees the last message (it resolves a promise then).
 */
import { dispatch, query, spawn as nactSpawn, start, stop, type Ref } from "nact"
import {
  check,
  forceGc,
  heapPerItem,
  LatencySampler,
  median,
  now,
  sumBelow,
  throughput,
  timedRounds,
  spawnRate,
  timeSpawns,
  type ProcessResult,
  type RoundOptions
} from "./harness.ts"
import { ASK_ROUND_TRIPS, ASK_SAMPLE_EVERY, IDLE_ACTORS, IDLE_WARMUP_ACTORS, SPAWN_ACTORS, SPAWN_WARMUP_ACTORS, TELL_MESSAGES } from "./sizes.ts"

interface Add {
  readonly n: number
}
interface AskMsg {
  readonly n: number
  readonly sender: Ref<number>
}

const system = start()
let actorSeq = 0
/** nact's anonymous names are 31-bit random numbers: 100,000 of them collide, so name them. */
const nextName = (): string => `a${actorSeq++}`

/** nact is slow per message: one measured round so the whole suite stays within its time budget. */
const oneRound: RoundOptions = { warmupMs: 0, minWarmupRounds: 1, maxWarmupRounds: 1, measureMs: 0, maxRounds: 1 }

/** The 1,000,000 messages, built once per process outside the timed part. */
let messages: Array<Add> | undefined
const prebuilt = (): Array<Add> => (messages ??= Array.from({ length: TELL_MESSAGES }, (_, i) => ({ n: i })))

/** One tell round over the first `N` prebuilt messages. */
const tellRound = async (N: number): Promise<number> => {
  const msgs = prebuilt()
  let done!: (count: number) => void
  const finished = new Promise<number>((resolve) => (done = resolve))
  const ref = nactSpawn(
    system,
    (count: number, msg: Add) => {
      const next = count + msg.n
      if (msg.n === N - 1) done(next)
      return next
    },
    nextName(),
    { initialState: 0 }
  )
  const t0 = now()
  for (let i = 0; i < N; i++) dispatch(ref, msgs[i]!)
  const count = await finished
  const t1 = now()
  check("nact counter", count, sumBelow(N))
  stop(ref)
  return t1 - t0
}

/** nact takes seconds per 1,000,000 messages: warm up with 200,000, then measure one full round. */
export const tell = async (): Promise<ProcessResult> => {
  forceGc()
  await tellRound(200_000)
  return throughput(TELL_MESSAGES, () => tellRound(TELL_MESSAGES), { ...oneRound, minWarmupRounds: 0, maxWarmupRounds: 0 })
}

export const ask = async (): Promise<ProcessResult> => {
  const N = ASK_ROUND_TRIPS
  let sampler = new LatencySampler(ASK_SAMPLE_EVERY)
  const { times, warmupRounds } = await timedRounds(
    async () => {
      sampler = new LatencySampler(ASK_SAMPLE_EVERY)
      const ref = nactSpawn(
        system,
        (count: number, msg: AskMsg) => {
          const next = count + msg.n
          dispatch(msg.sender, next)
          return next
        },
        nextName(),
        { initialState: 0 }
      )
      let last = 0
      const every = sampler.every
      const t0 = now()
      for (let i = 0; i < N; i++) {
        if (i % every === 0) {
          const s = now()
          last = await query(ref, (sender: Ref<number>) => ({ n: i, sender }), 5000)
          sampler.samples.push(now() - s)
        } else {
          last = await query(ref, (sender: Ref<number>) => ({ n: i, sender }), 5000)
        }
      }
      const t1 = now()
      check("nact ask reply", last, sumBelow(N))
      stop(ref)
      return t1 - t0
    },
    { ...oneRound, maxWarmupRounds: 2, minWarmupRounds: 1, warmupMs: 300 }
  )
  const rates = times.map((ms) => N / (ms / 1000))
  return { value: median(rates), rounds: rates, warmupRounds, extra: sampler.summary() }
}

const idle = (count: number, _msg: Add): number => count

const spawnMany = async (count: number): Promise<Array<Ref<Add>>> => {
  const refs: Array<Ref<Add>> = []
  for (let i = 0; i < count; i++) refs.push(nactSpawn(system, idle, nextName(), { initialState: 0 }))
  return refs
}
const stopAll = async (refs: Array<Ref<Add>>): Promise<void> => {
  for (const r of refs) stop(r)
  // nact runs afterStop hooks in setImmediate: let them run
  await new Promise<void>((resolve) => setImmediate(resolve))
}

export const memory = (): Promise<ProcessResult> => heapPerItem(IDLE_ACTORS, spawnMany, stopAll, IDLE_WARMUP_ACTORS)

export const spawn = (): Promise<ProcessResult> =>
  spawnRate(SPAWN_ACTORS, SPAWN_WARMUP_ACTORS, timeSpawns("nact actors spawned", spawnMany, stopAll))
