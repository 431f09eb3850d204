/**
 * The scheduler's engine for one target: plain data structures and loops, no Effect per
 * operation. Submissions arrive through `submit(op, done)`; answers leave through `done`.
 *
 * Invariants:
 * - Per key there is a FIFO list of pending groups and at most one group in flight. A new
 *   submission only ever merges into the *tail* group of its key (or into the in-flight read
 *   when nothing is pending), so no operation overtakes an earlier one on the same key.
 * - A key is in `ready` iff it has a pending group and nothing in flight.
 * - `pending` counts live submissions in pending groups (the bound `maxPending` applies to it).
 * - Every submission's `done` is called at most once; it is cleared before the call.
 */
import { Clock, Context, Effect, Exit, Metric, Result } from "effect"
import * as Metrics from "../Metrics.js"
import type { Candidate, Select } from "../Policy.js"
import type { Combiner, Key, Kind, Operation } from "../Operation.js"
import type { Target, Work } from "../Target.js"

/**
 * Called once with the outcome; `superseded` is true for a write another write replaced;
 * `index` is the value given to `submit` (lets one callback serve many submissions).
 */
export type Done<A, E> = (exit: Exit.Exit<A, E>, superseded: boolean, index: number) => void

const PENDING = 0
const INFLIGHT = 1
const DONE = 2

/**
 * One submitter. Returned by `submit` as the handle to withdraw it. A submitter is live while
 * `done` is set (it has neither been answered nor withdrawn).
 */
export class Sub {
  arg: unknown
  done: Done<any, any> | undefined
  group: Group | undefined = undefined
  index: number
  constructor(arg: unknown, done: Done<any, any> | undefined, index: number) {
    this.arg = arg
    this.done = done
    this.index = index
  }
}

/**
 * A merged operation. It is itself the first submitter (saving an allocation per operation);
 * later submitters that merge into it are in `more`. When the first submitter was admitted
 * from the blocked queue it is in `more` and the inline slot stays empty (`done` unset).
 */
class Group extends Sub implements Candidate, Work<Key, unknown> {
  readonly key: Key
  readonly kind: Kind
  readonly combiner: Combiner<any, any> | undefined
  readonly tenant: string
  readonly seq: number
  readonly enqueuedAt: number
  readonly ks: KeyState
  priority: number
  deadline: number
  more: Array<Sub> | undefined = undefined
  live = 1
  state = PENDING
  input: unknown = undefined
  /** For combine: the live submissions at dispatch, in the order their inputs were folded. */
  dispatched: Array<Sub> | undefined = undefined
  /** For last-wins: the submission whose input was applied. */
  winner: Sub | undefined = undefined
  /** Next pending group on the same key. */
  next: Group | undefined = undefined
  constructor(
    op: Operation<Key, unknown>,
    done: Done<any, any> | undefined,
    index: number,
    ks: KeyState,
    seq: number,
    now: number,
    deadline: number
  ) {
    super(op.input, done, index)
    this.group = this
    this.key = op.key
    this.kind = op.kind
    this.combiner = op.combiner
    this.tenant = op.tenant
    this.priority = op.priority
    this.deadline = deadline
    this.seq = seq
    this.enqueuedAt = now
    this.ks = ks
  }
  /** Every submitter in submission order (allocates; not for the single-submitter hot path). */
  subs(): Array<Sub> {
    const out: Array<Sub> = this.done !== undefined || this.more === undefined ? [this] : []
    if (this.more !== undefined) for (let i = 0; i < this.more.length; i++) out.push(this.more[i]!)
    return out
  }
  join(sub: Sub): void {
    sub.group = this
    if (this.more === undefined) this.more = [sub]
    else this.more.push(sub)
    this.live++
  }
  get size(): number {
    return this.live
  }
}

/** Per key: pending groups as a linked list (oldest `head` → newest `tail`) and the one in flight. */
class KeyState {
  readonly key: Key
  head: Group | undefined = undefined
  tail: Group | undefined = undefined
  inflight: Group | undefined = undefined
  ready = false
  /** Last pump that collected this key (dedups stale entries in `ready`). */
  mark = 0
  constructor(key: Key) {
    this.key = key
  }
}

interface Blocked {
  readonly op: Operation<Key, unknown>
  readonly sub: Sub
}

export interface EngineConfig {
  readonly name: string
  readonly capacity: number
  readonly maxBatch: number
  readonly maxDelay: number
  readonly maxPending: number
  readonly whenFull: "wait" | "fail"
  readonly deadlines: { readonly [K in Kind]: number }
  readonly select: Select
  readonly context: Context.Context<never>
  readonly overloaded: (pending: number) => unknown
}

/** Plain counters, also exported through `Metrics`. */
export interface Stats {
  submitted: number
  dispatched: number
  coalesced: number
  superseded: number
  combined: number
  dropped: number
  overloaded: number
  batches: number
  pending: number
  inflightBatches: number
}

const kindAttributes = (name: string) => ({
  coalesce: Metric.withAttributes(Metrics.waitTime, { target: name, kind: "coalesce" }),
  "last-wins": Metric.withAttributes(Metrics.waitTime, { target: name, kind: "last-wins" }),
  combine: Metric.withAttributes(Metrics.waitTime, { target: name, kind: "combine" }),
  none: Metric.withAttributes(Metrics.waitTime, { target: name, kind: "none" })
})

/** The counters kept as plain numbers and pushed to their `Metric` in bulk. */
const COUNTERS = ["submitted", "coalesced", "superseded", "combined", "dropped", "overloaded"] as const

export class Engine {
  readonly config: EngineConfig
  readonly target: Target<Key, unknown, unknown, unknown, any>
  readonly clock: Clock.Clock
  keys = new Map<Key, KeyState>()
  sweepAt = 16_384
  ready: Array<KeyState> = []
  blocked: Array<Blocked> = []
  blockedHead = 0
  credits: number
  /** The target's current capacity (credits when nothing is in flight); see `setCapacity`. */
  capacity: number
  seq = 0
  pumps = 0
  /** Submissions merged into pending operations since the last dispatch (0: waiting gains nothing). */
  mergesSinceDispatch = 0
  burstNow = -1
  closed = false
  pumping = false
  pumpScheduled = false
  timerAt = Infinity
  cancelTimer: (() => void) | undefined = undefined
  drained: (() => void) | undefined = undefined
  readonly stats: Stats = {
    submitted: 0,
    dispatched: 0,
    coalesced: 0,
    superseded: 0,
    combined: 0,
    dropped: 0,
    overloaded: 0,
    batches: 0,
    pending: 0,
    inflightBatches: 0
  }
  // counts not yet pushed to the Metric registry
  private unreported = { submitted: 0, coalesced: 0, superseded: 0, combined: 0, dropped: 0, overloaded: 0 }
  private readonly m: {
    submitted: Metric.Metric<number, any>
    dispatched: Metric.Metric<number, any>
    coalesced: Metric.Metric<number, any>
    superseded: Metric.Metric<number, any>
    combined: Metric.Metric<number, any>
    dropped: Metric.Metric<number, any>
    overloaded: Metric.Metric<number, any>
    batchSize: Metric.Metric<number, any>
    depth: Metric.Metric<number, any>
    wait: { readonly [K in Kind]: Metric.Metric<number, any> }
  }

  constructor(config: EngineConfig, target: Target<any, any, any, any, any>) {
    this.config = config
    this.target = target
    this.credits = config.capacity
    this.capacity = config.capacity
    this.clock = Context.get(config.context, Clock.Clock)
    const attrs = { target: config.name }
    this.m = {
      submitted: Metric.withAttributes(Metrics.submitted, attrs),
      dispatched: Metric.withAttributes(Metrics.dispatched, attrs),
      coalesced: Metric.withAttributes(Metrics.coalesced, attrs),
      superseded: Metric.withAttributes(Metrics.superseded, attrs),
      combined: Metric.withAttributes(Metrics.combined, attrs),
      dropped: Metric.withAttributes(Metrics.dropped, attrs),
      overloaded: Metric.withAttributes(Metrics.overloaded, attrs),
      batchSize: Metric.withAttributes(Metrics.batchSize, attrs),
      depth: Metric.withAttributes(Metrics.depth, attrs),
      wait: kindAttributes(config.name)
    }
  }

  /** Submits `op`; returns the handle to `withdraw` the submitter (interruption / timeout). */
  submit(op: Operation<Key, unknown>, done: Done<any, any>, index: number): Sub {
    if (this.closed) {
      done(Exit.interrupt(), false, index)
      return answered
    }
    this.stats.submitted++
    this.unreported.submitted++
    if (this.stats.pending >= this.config.maxPending) {
      if (this.config.whenFull === "fail") {
        this.stats.overloaded++
        this.unreported.overloaded++
        done(Exit.fail(this.config.overloaded(this.stats.pending)), false, index)
        return answered
      }
      const sub = new Sub(op.input, done, index)
      this.blocked.push({ op, sub })
      return sub
    }
    return this.enqueue(op, done, index, undefined)
  }

  /** Adds a submission; `blocked` is the submitter's handle when it waited for admission. */
  private enqueue(op: Operation<Key, unknown>, done: Done<any, any>, index: number, blocked: Sub | undefined): Sub {
    const key = op.key
    let ks = this.keys.get(key)
    if (ks === undefined) {
      // Idle keys stay in the map (a Map insert costs far more than a lookup); they are swept
      // in bulk when they outnumber the busy ones.
      if (this.keys.size >= this.sweepAt) this.sweep()
      ks = new KeyState(key)
      this.keys.set(key, ks)
    }
    const kind = op.kind
    const tail = ks.tail
    let into: Group | undefined = undefined
    if (tail !== undefined) {
      if (tail.kind === kind && kind !== "none" && (kind !== "combine" || tail.combiner === op.combiner)) into = tail
    } else if (kind === "coalesce" && ks.inflight !== undefined && ks.inflight.kind === "coalesce") {
      // Nothing is pending on the key, so no write was submitted after the in-flight read
      // started: joining it cannot skip a write submitted before this read.
      const sub = blocked ?? new Sub(op.input, done, index)
      ks.inflight.join(sub)
      this.stats.coalesced++
      this.unreported.coalesced++
      return sub
    }
    let handle: Sub
    if (into !== undefined) {
      handle = blocked ?? new Sub(op.input, done, index)
      into.join(handle)
      if (op.priority > into.priority) into.priority = op.priority
      const deadline = this.deadlineOf(op)
      if (deadline < into.deadline) into.deadline = deadline
      this.mergesSinceDispatch++
      if (kind === "coalesce") {
        this.stats.coalesced++
        this.unreported.coalesced++
      } else if (kind === "last-wins") {
        this.stats.superseded++
        this.unreported.superseded++
      } else {
        this.stats.combined++
        this.unreported.combined++
      }
    } else {
      const now = this.now()
      const deadline = now + (op.deadline ?? this.config.deadlines[kind])
      let g: Group
      if (blocked === undefined) g = new Group(op, done, index, ks, this.seq++, now, deadline)
      else {
        g = new Group(op, undefined, index, ks, this.seq++, now, deadline)
        g.more = [blocked]
        blocked.group = g
      }
      handle = blocked ?? g
      if (tail === undefined) ks.head = g
      else tail.next = g
      ks.tail = g
      if (ks.inflight === undefined && !ks.ready) {
        ks.ready = true
        this.ready.push(ks)
      }
    }
    this.stats.pending++
    this.schedulePump()
    return handle
  }

  /**
   * The clock read once per synchronous burst of submissions: submissions in one burst are
   * simultaneous as far as the scheduler can tell, and reading the clock costs more than the
   * rest of a submission.
   */
  private now(): number {
    if (this.burstNow >= 0) return this.burstNow
    this.burstNow = this.clock.currentTimeMillisUnsafe()
    queueMicrotask(this.endBurst)
    return this.burstNow
  }

  private readonly endBurst = () => {
    this.burstNow = -1
  }

  private deadlineOf(op: Operation<Key, unknown>): number {
    return this.now() + (op.deadline ?? this.config.deadlines[op.kind])
  }

  private sweep(): void {
    const kept = new Map<Key, KeyState>()
    for (const [key, ks] of this.keys) {
      if (ks.inflight !== undefined || ks.head !== undefined) kept.set(key, ks)
    }
    this.keys = kept
    this.sweepAt = Math.max(16_384, kept.size * 2)
  }

  /** Withdraws a submitter: it gets no answer; its operation goes on for the others (or is dropped if none remain). */
  withdraw(sub: Sub): void {
    if (sub.done === undefined) return
    sub.done = undefined
    const g = sub.group
    if (g === undefined) return // still blocked: admit() skips it
    g.live--
    if (g.state === PENDING) {
      this.stats.pending--
      this.admit()
    }
  }

  /** Lets blocked submitters in while there is room. */
  private admit(): void {
    while (this.blockedHead < this.blocked.length && this.stats.pending < this.config.maxPending) {
      const b = this.blocked[this.blockedHead]!
      this.blocked[this.blockedHead++] = undefined as any
      if (b.sub.done !== undefined) this.enqueue(b.op, b.sub.done, b.sub.index, b.sub)
    }
    if (this.blockedHead > 1024 && this.blockedHead * 2 > this.blocked.length) {
      this.blocked = this.blocked.slice(this.blockedHead)
      this.blockedHead = 0
    }
  }

  /**
   * Changes how many batches may be in flight. Growing gives credits at once (and dispatches if
   * work waits); shrinking takes them back as in-flight batches finish (credits may go below
   * zero meanwhile: nothing is dispatched until they are positive again).
   */
  setCapacity(capacity: number): void {
    this.credits += capacity - this.capacity
    this.capacity = capacity
    if (this.credits > 0) this.schedulePump()
  }

  private schedulePump(): void {
    if (this.pumpScheduled || this.pumping || this.credits <= 0) return
    this.pumpScheduled = true
    queueMicrotask(this.pumpTask)
  }

  private readonly pumpTask = () => {
    this.pumpScheduled = false
    this.pump()
  }

  /** Dispatches batches while there is demand and a reason to flush. */
  pump(): void {
    if (this.pumping) return
    this.pumping = true
    try {
      let candidates: Array<Group> | undefined
      while (this.credits > 0 && !this.closed) {
        // Collect once per pump; recollect only when keys became ready meanwhile.
        if (candidates === undefined || this.ready.length > 0) {
          candidates = this.collect(candidates)
        }
        if (candidates.length === 0) break
        const now = this.clock.currentTimeMillisUnsafe()
        const take = this.flushSize(candidates, now)
        if (take === 0) break
        // One policy call serves every free credit: batches are consecutive slices of its pick.
        const picked = this.choose(candidates, now, take)
        if (picked.length === 0) break
        // drop what was dispatched from the candidates
        let w = 0
        for (let i = 0; i < candidates.length; i++) {
          const g = candidates[i]!
          if (g.state === PENDING) candidates[w++] = g
        }
        candidates.length = w
        const limit = this.maxBatch()
        if (picked.length <= limit) this.dispatch(picked, now)
        else for (let off = 0; off < picked.length; off += limit) this.dispatch(picked.slice(off, off + limit), now)
      }
      // whatever is still a candidate stays ready
      if (candidates !== undefined) {
        for (let i = 0; i < candidates.length; i++) {
          const ks = candidates[i]!.ks
          if (ks.ready) this.ready.push(ks)
        }
      }
    } finally {
      this.pumping = false
    }
    this.flushMetrics()
  }

  /**
   * Moves the heads of ready keys into `into` (the current candidates), dropping groups whose
   * submitters all left, and empties `ready`.
   */
  private collect(into: Array<Group> | undefined): Array<Group> {
    const ready = this.ready
    const out: Array<Group> = into ?? []
    const mark = ++this.pumps
    if (into !== undefined) for (let i = 0; i < into.length; i++) into[i]!.ks.mark = mark
    for (let i = 0; i < ready.length; i++) {
      const ks = ready[i]!
      if (!ks.ready || ks.mark === mark) continue
      ks.mark = mark
      let head = ks.head
      while (head !== undefined && head.live === 0) {
        head.state = DONE
        head = head.next
        this.stats.dropped++
        this.unreported.dropped++
      }
      ks.head = head
      if (head === undefined) {
        ks.tail = undefined
        ks.ready = false
        continue
      }
      out.push(head)
    }
    ready.length = 0
    return out
  }

  /**
   * How many candidates to dispatch now (0: hold). Called only when there is demand. Flush
   * when nothing merged since the last dispatch (waiting would only add latency), or a batch
   * is full, or the oldest waited `maxDelay`, or a deadline is due.
   */
  private flushSize(candidates: Array<Group>, now: number): number {
    const maxDelay = this.config.maxDelay
    const limit = this.maxBatch()
    const all = Math.min(candidates.length, limit * this.credits)
    // Nothing merged since the last dispatch means nothing to gain by waiting: no added latency.
    if (maxDelay <= 0 || this.mergesSinceDispatch === 0) return all
    let wake = Infinity
    for (let i = 0; i < candidates.length; i++) {
      const g = candidates[i]!
      const due = Math.min(g.enqueuedAt + maxDelay, g.deadline)
      if (due <= now) return all
      if (due < wake) wake = due
    }
    if (candidates.length >= limit) return Math.min(all, Math.floor(candidates.length / limit) * limit)
    this.armTimer(wake, now)
    return 0
  }

  private maxBatch(): number {
    return this.target.maxBatch ?? this.config.maxBatch
  }

  private armTimer(at: number, now: number): void {
    if (at >= this.timerAt) return
    this.cancelTimer?.()
    this.timerAt = at
    const cancel = Effect.runCallbackWith(this.config.context)(Effect.sleep(Math.max(0, at - now)), {
      onExit: (exit) => {
        if (this.cancelTimer === cancel) {
          this.cancelTimer = undefined
          this.timerAt = Infinity
        }
        if (Exit.isSuccess(exit)) this.pump()
      }
    })
    this.cancelTimer = cancel
  }

  /** Expired first (earliest deadline), then the policy. */
  private choose(candidates: Array<Group>, now: number, limit: number): Array<Group> {
    let expired: Array<Group> | undefined
    let rest: Array<Group> = candidates
    for (let i = 0; i < candidates.length; i++) {
      if (candidates[i]!.deadline <= now) {
        expired = []
        rest = []
        for (let j = 0; j < candidates.length; j++) {
          const g = candidates[j]!
          if (g.deadline <= now) expired.push(g)
          else rest.push(g)
        }
        break
      }
    }
    let picked: ReadonlyArray<Candidate>
    if (expired === undefined) {
      picked = this.select(rest, limit, now)
    } else {
      expired.sort((a, b) => a.deadline - b.deadline || a.seq - b.seq)
      if (expired.length >= limit) picked = expired.slice(0, limit)
      else {
        const more = rest.length > 0 ? this.select(rest, limit - expired.length, now) : []
        for (let i = 0; i < more.length; i++) expired.push(more[i] as Group)
        picked = expired
      }
    }
    // Commit: chosen keys go in flight; the rest stay ready. Entries a custom policy invented,
    // repeated or took from a busy key are ignored, so a faulty policy cannot break per-key order.
    const batch: Array<Group> = []
    for (let i = 0; i < picked.length && batch.length < limit; i++) {
      const g = picked[i] as Group
      if (
        !(g instanceof Group) || g.state !== PENDING || g.live === 0 || g.ks.inflight !== undefined ||
        g.ks.head !== g
      ) {
        continue
      }
      batch.push(g)
      g.state = INFLIGHT
      const ks = g.ks
      ks.inflight = g
      ks.ready = false
      ks.head = g.next
      if (ks.head === undefined) ks.tail = undefined
      g.next = undefined
    }
    return batch
  }

  /** Runs the policy; if it throws or picks nothing, falls back to the oldest candidate so work always progresses. */
  private select(rest: Array<Group>, limit: number, now: number): ReadonlyArray<Candidate> {
    let picked: ReadonlyArray<Candidate>
    try {
      picked = this.config.select(rest, limit, now)
    } catch {
      picked = []
    }
    if (picked.length === 0 && rest.length > 0) {
      let oldest = rest[0]!
      for (let i = 1; i < rest.length; i++) if (rest[i]!.seq < oldest.seq) oldest = rest[i]!
      picked = [oldest]
    }
    return picked
  }

  private dispatch(batch: Array<Group>, now: number): void {
    let subs = 0
    let foldFailed = false
    const wait = this.m.wait
    const maxWait = { coalesce: -1, lastWins: -1, combine: -1, none: -1 }
    const ctx = this.config.context
    for (let i = 0; i < batch.length; i++) {
      const g = batch[i]!
      subs += g.live
      const waited = now - g.enqueuedAt
      switch (g.kind) {
        case "coalesce":
          if (waited > maxWait.coalesce) maxWait.coalesce = waited
          break
        case "last-wins":
          if (waited > maxWait.lastWins) maxWait.lastWins = waited
          break
        case "combine":
          if (waited > maxWait.combine) maxWait.combine = waited
          break
        default:
          if (waited > maxWait.none) maxWait.none = waited
      }
      switch (g.kind) {
        case "coalesce": {
          g.input = firstLive(g)
          break
        }
        case "last-wins": {
          const w = lastLiveSub(g)
          g.winner = w
          g.input = w.arg
          break
        }
        case "combine": {
          const live: Array<Sub> = []
          const inputs: Array<unknown> = []
          for (const s of g.subs()) {
            if (s.done !== undefined) {
              live.push(s)
              inputs.push(s.arg)
            }
          }
          g.dispatched = live
          try {
            g.input = live.length === 1 ? inputs[0] : g.combiner!.fold(inputs)
          } catch (e) {
            // the user's fold threw: this operation fails; the rest of the batch goes on
            foldFailed = true
            g.input = new FoldFailed(e)
          }
          break
        }
        default:
          g.input = firstLive(g)
      }
    }
    this.stats.pending -= subs
    if (foldFailed) {
      const ok: Array<Group> = []
      for (const g of batch) {
        if (g.input instanceof FoldFailed) this.settle(g, Exit.die(g.input.cause))
        else ok.push(g)
      }
      batch = ok
      if (batch.length === 0) return
    }
    this.stats.dispatched += batch.length
    this.mergesSinceDispatch = 0
    this.stats.batches++
    this.stats.inflightBatches++
    this.credits--
    if (maxWait.coalesce >= 0) wait.coalesce.updateUnsafe(maxWait.coalesce, ctx)
    if (maxWait.lastWins >= 0) wait["last-wins"].updateUnsafe(maxWait.lastWins, ctx)
    if (maxWait.combine >= 0) wait.combine.updateUnsafe(maxWait.combine, ctx)
    if (maxWait.none >= 0) wait.none.updateUnsafe(maxWait.none, ctx)
    this.m.dispatched.updateUnsafe(batch.length, ctx)
    this.m.batchSize.updateUnsafe(batch.length, ctx)
    this.flushMetrics()
    const values = this.target.handleValues
    const onExit = (exit: Exit.Exit<ReadonlyArray<unknown>, unknown>) => this.complete(batch, exit, values !== undefined)
    // The handler runs to completion even if every submitter leaves: a dispatched batch is
    // never cut short (never half-applied).
    const handled = values !== undefined ? values(batch) : this.target.handle(batch)
    Effect.runCallbackWith(ctx)(handled as Effect.Effect<ReadonlyArray<unknown>, unknown>, { onExit })
    if (this.blockedHead < this.blocked.length) this.admit()
  }

  private complete(batch: Array<Group>, exit: Exit.Exit<ReadonlyArray<unknown>, unknown>, plain: boolean): void {
    this.credits++
    this.stats.inflightBatches--
    if (Exit.isSuccess(exit) && exit.value.length !== batch.length) {
      exit = Exit.die(
        new Error(
          `target ${this.config.name}: handler returned ${exit.value.length} results for a batch of ${batch.length}; it must return one per work item, in order`
        )
      )
    }
    if (Exit.isSuccess(exit)) {
      const results = exit.value
      for (let i = 0; i < batch.length; i++) {
        const g = batch[i]!
        const r = results[i]
        const itemExit = plain
          ? Exit.succeed(r)
          : Result.isSuccess(r as Result.Result<unknown, unknown>)
          ? Exit.succeed((r as Result.Success<unknown, unknown>).success)
          : Exit.fail((r as Result.Failure<unknown, unknown>).failure)
        this.settle(g, itemExit)
      }
    } else {
      const failure = Exit.failCause(exit.cause)
      for (let i = 0; i < batch.length; i++) this.settle(batch[i]!, failure)
    }
    if (this.drained !== undefined && this.stats.inflightBatches === 0) this.drained()
    if (!this.closed) this.pump()
  }

  private settle(g: Group, exit: Exit.Exit<unknown, unknown>): void {
    g.state = DONE
    const ks = g.ks
    ks.inflight = undefined
    if (ks.head !== undefined) {
      if (!ks.ready) {
        ks.ready = true
        this.ready.push(ks)
      }
    }
    if (g.more === undefined) {
      // the common case: one submitter, the group itself
      answer(g, exit, false)
      return
    }
    const subs = g.subs()
    if (g.kind === "combine" && Exit.isSuccess(exit) && g.dispatched!.length > 1) {
      const live = g.dispatched!
      let parts: ReadonlyArray<unknown>
      try {
        parts = g.combiner!.split(exit.value, live.map((s) => s.arg))
        if (parts.length !== live.length) {
          throw new Error(`combiner.split returned ${parts.length} results for ${live.length} inputs`)
        }
      } catch (e) {
        const die = Exit.die(e)
        for (const s of subs) answer(s, die, false)
        return
      }
      for (let i = 0; i < live.length; i++) answer(live[i]!, Exit.succeed(parts[i]), false)
      // submitters that joined during flight of a combine cannot exist (only reads join in flight)
      return
    }
    if (g.kind === "last-wins") {
      const winner = g.winner
      for (let i = 0; i < subs.length; i++) answer(subs[i]!, exit, subs[i] !== winner)
      return
    }
    for (let i = 0; i < subs.length; i++) answer(subs[i]!, exit, false)
  }

  private flushMetrics(): void {
    const u = this.unreported
    const ctx = this.config.context
    for (const name of COUNTERS) {
      if (u[name] > 0) {
        this.m[name].updateUnsafe(u[name], ctx)
        u[name] = 0
      }
    }
    this.m.depth.updateUnsafe(this.stats.pending, ctx)
  }

  /**
   * Stops accepting work: pending and blocked submitters are interrupted (nothing of theirs was
   * dispatched), and the returned effect waits for in-flight batches to finish.
   */
  close(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (!this.closed) {
        this.closed = true
        this.cancelTimer?.()
        const interrupted = Exit.interrupt()
        for (const ks of this.keys.values()) {
          for (let g = ks.head; g !== undefined; g = g.next) {
            g.state = DONE
            for (const s of g.subs()) answer(s, interrupted, false)
          }
          ks.head = undefined
          ks.tail = undefined
        }
        this.ready = []
        this.stats.pending = 0
        for (let i = this.blockedHead; i < this.blocked.length; i++) answer(this.blocked[i]!.sub, interrupted, false)
        this.blocked = []
        this.blockedHead = 0
        this.flushMetrics()
      }
      if (this.stats.inflightBatches === 0) return Effect.void
      return Effect.callback<void>((resume) => {
        this.drained = () => {
          this.drained = undefined
          resume(Effect.void)
        }
      })
    })
  }
}

const answer = (s: Sub, exit: Exit.Exit<unknown, unknown>, superseded: boolean): void => {
  const done = s.done
  if (done !== undefined) {
    s.done = undefined
    done(exit, superseded, s.index)
  }
}

const firstLive = (g: Group): unknown => {
  if (g.done !== undefined) return g.arg
  const more = g.more
  if (more === undefined) return g.arg
  for (let i = 0; i < more.length; i++) if (more[i]!.done !== undefined) return more[i]!.arg
  return more[0]!.arg
}

const lastLiveSub = (g: Group): Sub => {
  const more = g.more
  if (more !== undefined) {
    for (let i = more.length - 1; i >= 0; i--) if (more[i]!.done !== undefined) return more[i]!
  }
  if (g.done !== undefined || more === undefined) return g
  return more[more.length - 1]!
}

/** The handle of a submission that was answered at once (closed, overloaded). */
const answered = new Sub(undefined, undefined, -1)

class FoldFailed {
  readonly cause: unknown
  constructor(cause: unknown) {
    this.cause = cause
  }
}

