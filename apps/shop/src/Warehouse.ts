/**
 * The warehouse: a pool of workers that PULL picking jobs, and the scheduler target that feeds
 * them.
 *
 * Every order line is submitted to the scheduler as a `combine` operation keyed by its sku.
 * While the warehouse is busy, lines for the same sku wait in the scheduler and fold into one
 * bundle (units summed, tickets collected): one warehouse job per item, however many orders
 * asked for it. A job costs a fixed setup time plus a time per unit, so bundling saves the
 * setup of every order folded in — the busier the shop, the more it saves.
 *
 * The target takes small batches (a few skus each) with a few credits, so work waits in the
 * scheduler — where it can still merge — instead of in a queue where it cannot, and each sku's
 * next bundle starts as soon as its previous job is done (per-key order). A
 * dispatched batch becomes jobs on the pool's queue; idle workers take them. The autoscaler
 * resizes the pool between `min` and `max` from the backlog (see `Autoscaler.ts`).
 */
import { Effect, Queue, Scope } from "effect"
import { Operation, Target } from "@mailroom/scheduler"

/** What travels through the scheduler for one sku: the units wanted and the tickets asking. */
export interface Bundle {
  readonly units: number
  readonly tickets: ReadonlyArray<string>
}

/** The outcome of one warehouse job, shared by every order line bundled into it. */
export interface JobResult {
  readonly job: number
  readonly sku: string
  readonly units: number
  readonly orders: number
}

/** Folds pending lines of one sku into one bundle; every submitter gets the job's result. */
export const bundler: Operation.Combiner<Bundle, JobResult> = Operation.combiner<Bundle, JobResult>(
  (inputs) => {
    let units = 0
    const tickets: Array<string> = []
    for (const b of inputs) {
      units += b.units
      for (const t of b.tickets) tickets.push(t)
    }
    return { units, tickets }
  },
  (outcome, inputs) => inputs.map(() => outcome)
)

/** Timing of a picking job. */
export interface Timing {
  /** Fixed cost of a job (walk to the shelf, print the label). */
  readonly setupMs: number
  /** Cost per unit picked. */
  readonly perUnitMs: number
}

interface Job {
  readonly sku: string
  readonly bundle: Bundle
  readonly done: (result: JobResult) => void
  readonly abandon: () => void
  settled: boolean
}

/** A pool of pulling workers whose size can change while it runs. */
export interface Pool {
  readonly size: () => number
  readonly busy: () => number
  /** Jobs handed to the pool and not yet taken by a worker. */
  readonly queued: () => number
  readonly jobsDone: () => number
  readonly unitsDone: () => number
  /** Grows or shrinks the pool; a busy worker retires after its current job. */
  readonly resize: (n: number) => Effect.Effect<void>
  /** Queues a job; `done` is called when a worker finished it, or `abandon` at shutdown. */
  readonly push: (sku: string, bundle: Bundle, done: (result: JobResult) => void, abandon: () => void) => void
  /**
   * Shutdown: every job not finished yet is abandoned at once (its order stays accepted in the
   * journal and is picked on the next run), so stopping never waits for a long job.
   */
  readonly abandonAll: () => void
}

/** Builds the pool; workers live in the current scope. `onPick` sees each job as a worker takes it. */
export const makePool = Effect.fnUntraced(function*(options: {
  readonly initial: number
  readonly timing: Timing
  readonly onPick: (bundle: Bundle) => void
}) {
  // A `null` item asks one worker to retire. Workers are never interrupted while they may hold
  // a job: a worker leaves only by taking a retirement notice, so shrinking never loses a job.
  const queue = yield* Queue.unbounded<Job | null>()
  let alive = 0
  let retire = 0
  let busy = 0
  let jobs = 0
  let units = 0
  let queued = 0
  const live = new Set<Job>()
  // Workers live in their own scope, created before anything that waits for their jobs
  // (the scheduler lane), so they are stopped after it and never strand an in-flight batch.
  const scope = yield* Scope.fork(yield* Effect.scope)

  const work: Effect.Effect<void> = Effect.gen(function*() {
    while (true) {
      const job = yield* Queue.take(queue)
      if (job === null) {
        if (retire > 0) {
          retire--
          alive--
          return
        }
        continue
      }
      queued--
      busy++
      options.onPick(job.bundle)
      yield* Effect.sleep(options.timing.setupMs + options.timing.perUnitMs * job.bundle.units)
      jobs++
      units += job.bundle.units
      busy--
      live.delete(job)
      if (!job.settled) {
        job.settled = true
        job.done({ job: jobs, sku: job.sku, units: job.bundle.units, orders: job.bundle.tickets.length })
      }
    }
  })

  const resize = (n: number): Effect.Effect<void> =>
    Effect.gen(function*() {
      const current = alive - retire
      if (n > current) {
        let needed = n - current
        const cancelled = Math.min(retire, needed)
        retire -= cancelled
        needed -= cancelled
        for (let i = 0; i < needed; i++) {
          alive++
          yield* Effect.forkIn(work, scope)
        }
      } else if (n < current) {
        const k = current - n
        retire += k
        for (let i = 0; i < k; i++) Queue.offerUnsafe(queue, null)
      }
    })

  yield* resize(options.initial)

  const pool: Pool = {
    size: () => alive - retire,
    busy: () => busy,
    queued: () => queued,
    jobsDone: () => jobs,
    unitsDone: () => units,
    resize,
    push: (sku, bundle, done, abandon) => {
      queued++
      const job: Job = { sku, bundle, done, abandon, settled: false }
      live.add(job)
      Queue.offerUnsafe(queue, job)
    },
    abandonAll: () => {
      for (const job of live) {
        if (!job.settled) {
          job.settled = true
          job.abandon()
        }
      }
      live.clear()
    }
  }
  return pool
})

/** Most units one worker picks in one go (one cart): a bigger bundle is split across workers. */
export const cartUnits = 30

/**
 * The scheduler target for the warehouse: each merged work item (one sku, every pending order
 * line for it) becomes one job on the pool — or several carts of at most `cartUnits` units, so
 * a best-seller's bundle is shared by idle workers; the batch completes when its jobs are done.
 */
export const target = (pool: Pool, onDispatch: (batch: ReadonlyArray<Target.Work<string, Bundle>>) => void) =>
  Target.make<string, Bundle, JobResult>({
    name: "warehouse",
    capacity: 6,
    maxBatch: 6,
    handle: (batch) => {
      onDispatch(batch)
      return Effect.forEach(batch, (work) => {
        const carts = Math.max(1, Math.ceil(work.input.units / cartUnits))
        return Effect.map(
          Effect.forEach(Array.from({ length: carts }, (_, i) => Math.min(cartUnits, work.input.units - i * cartUnits)), (units) =>
            Effect.callback<JobResult>((resume) =>
              pool.push(
                work.key,
                { units, tickets: work.input.tickets },
                (r) => resume(Effect.succeed(r)),
                () => resume(Effect.interrupt)
              )
            ), { concurrency: "unbounded" }),
          (results): JobResult => ({ job: results[0]!.job, sku: work.key, units: work.input.units, orders: work.input.tickets.length })
        )
      }, { concurrency: "unbounded" })
    }
  })
