/**
 * Sagas with vouchers: a multi-step transaction (debit A, credit B) without two-phase commit.
 *
 * A saga is a list of steps, each an action and a compensation. After each completed step a
 * voucher (`StepCompleted`, with the step's output) is appended to the saga's journal stream;
 * a step with a voucher never runs again. Every action receives its voucher id and must apply
 * at most once per voucher id (a crash between the action and its voucher runs it again).
 * When a step fails for good (its retry `Schedule` is exhausted, a timeout counts as a
 * failure) the saga records `SagaCompensating` and compensates in reverse order: first the
 * failed step itself — its outcome is unknown, so its compensation must be a no-op when the
 * action never applied under that voucher — then every completed step. Compensations retry
 * until they succeed (they must not fail for good), each recorded as `StepCompensated`.
 *
 * Because every decision is in the journal, a process that crashes mid-saga resumes from its
 * vouchers on restart (`run` with the same id, or `recover` for all unfinished ones): it
 * continues forward, or keeps compensating, and never half-applies. Event ids are derived from
 * the saga's progress (`done:<step>`, `undone:<step>`, ...), so two runs of the same saga can
 * never record a voucher twice.
 *
 * A run holds the saga's stream: every append carries the version the run last saw, and before
 * each step's action the run records `StepStarted` at that version. When another run of the
 * same saga (a `recover` elsewhere, a task dispatched twice) moved the stream meanwhile, the
 * append fails and this run stops with `SagaConflict` before doing anything more: of two runs,
 * at most one goes past each point, so one decides (completed or compensated) and the other
 * never acts against that decision. Both may have run the same step's action under the same
 * voucher, which actions must tolerate anyway (at most once per voucher).
 */
import { Cause, Duration, Effect, Exit, Schedule, Schema } from "effect"
import { Journal } from "@mailroom/persistence"

/** One step: an action and its compensation, both keyed by the step's voucher id. */
export interface Step<in I, in out O = unknown, out E = unknown, out R = never> {
  readonly name: string
  /** Applies the step; must apply at most once per `voucher`. */
  readonly action: (input: I, voucher: string) => Effect.Effect<O, E, R>
  /**
   * Undoes the step; `output` is the action's output when it completed, `undefined` when the
   * action failed for good (then undo whatever it may have applied under `voucher`, if anything).
   */
  readonly compensate: (input: I, voucher: string, output: O | undefined) => Effect.Effect<void, E, R>
  readonly retry?: Schedule.Schedule<any, unknown> | undefined
  readonly timeout?: Duration.Input | undefined
}

/** A declared saga. */
export interface Saga<in out I, out E = unknown, out R = never> {
  readonly name: string
  readonly input: Schema.Codec<I, unknown>
  readonly steps: ReadonlyArray<Step<I, any, E, R>>
  readonly compensationRetry: Schedule.Schedule<any, unknown>
}

/** Declares a saga. */
export const make = <I, E = unknown, R = never>(options: {
  readonly name: string
  readonly input: Schema.Codec<I, any>
  readonly steps: ReadonlyArray<Step<I, any, E, R>>
  /** Retry of compensations; default: exponential from 10 ms up to 1 s between tries, forever. */
  readonly compensationRetry?: Schedule.Schedule<any, unknown> | undefined
}): Saga<I, E, R> => ({
  name: options.name,
  input: options.input,
  steps: options.steps,
  compensationRetry: options.compensationRetry ??
    Schedule.min([Schedule.exponential("10 millis"), Schedule.spaced("1 second")])
})

/** Declares a step. */
export const step = <I, O, E = never, R = never>(step: Step<I, O, E, R>): Step<I, O, E, R> => step

/** The saga failed at `step` and every completed step was compensated. */
export class SagaCompensated extends Schema.TaggedError<SagaCompensated>()("SagaCompensated", {
  saga: Schema.String,
  id: Schema.String,
  step: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `saga ${this.saga} ${this.id} failed at step "${this.step}" (${this.reason}); completed steps were compensated`
  }
}

/** The journal of the saga cannot be used, or holds events this saga does not understand. */
export class SagaError extends Schema.TaggedError<SagaError>()("SagaError", {
  saga: Schema.String,
  id: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `saga ${this.saga} ${this.id}: ${this.reason}`
  }
}

/**
 * Another run of the same saga moved its stream while this one ran: this run stopped without
 * acting further. The other run decides; run the saga again (or read `state`) for the outcome.
 */
export class SagaConflict extends Schema.TaggedError<SagaConflict>()("SagaConflict", {
  saga: Schema.String,
  id: Schema.String,
  expected: Schema.Number,
  found: Schema.Number
}) {
  override get message(): string {
    return `saga ${this.saga} ${this.id}: another run moved its stream (expected version ${this.expected}, found ` +
      `${this.found}); this run stopped, the other decides; run it again for the outcome`
  }
}

/** A step did not finish within its timeout. */
export class StepTimeout extends Schema.TaggedError<StepTimeout>()("StepTimeout", {
  step: Schema.String,
  timeout: Schema.Number
}) {}

/** The state of one saga, folded from its stream. */
export interface State {
  readonly input: unknown
  readonly started: boolean
  /** Step name → output, for each voucher. */
  readonly done: ReadonlyMap<string, unknown>
  readonly compensating: { readonly step: string; readonly reason: string } | undefined
  readonly undone: ReadonlySet<string>
  readonly ended: "completed" | "compensated" | undefined
}

/** The journal stream of a saga. */
export const streamOf = (saga: { readonly name: string }, id: string) => `saga:${saga.name}:${id}`
const indexOf = (saga: { readonly name: string }) => `sagas:${saga.name}`

const fold = (events: ReadonlyArray<Journal.RecordedEvent>): State => {
  let input: unknown = undefined
  let started = false
  const done = new Map<string, unknown>()
  let compensating: State["compensating"] = undefined
  const undone = new Set<string>()
  let ended: State["ended"] = undefined
  for (const e of events) {
    const d = e.data as Record<string, unknown>
    switch (e.type) {
      case "SagaStarted":
        started = true
        input = d.input
        break
      case "StepCompleted":
        done.set(String(d.step), d.output)
        break
      case "SagaCompensating":
        compensating = { step: String(d.step), reason: String(d.reason) }
        break
      case "StepCompensated":
        undone.add(String(d.step))
        break
      case "SagaCompleted":
        ended = "completed"
        break
      case "SagaCompensated":
        ended = "compensated"
    }
  }
  return { input, started, done, compensating, undone, ended }
}

/** Reads a saga's state from the journal. */
export const state = (saga: { readonly name: string }, id: string) =>
  Effect.map(Effect.flatMap(Journal.Journal, (j) => j.readStream(streamOf(saga, id))), fold)

const reasonOf = (cause: Cause.Cause<unknown>): string => {
  const e = Cause.findErrorOption(cause)
  if (e._tag === "Some") {
    const v = e.value
    if (v instanceof Error) return v.message
    if (typeof v === "object" && v !== null && "_tag" in v) return String((v as { _tag: unknown })._tag)
    return String(v)
  }
  return Cause.pretty(cause).split("\n")[0] ?? "defect"
}

/**
 * Runs (or resumes) saga `id`: the input of a saga already started is the recorded one.
 * Succeeds with each step's output when every step completed; fails with `SagaCompensated`
 * once a failed saga is fully compensated.
 *
 * @example
 * ```ts
 * const outputs = yield* Saga.run(Transfer, "transfer-17", { from: "a", to: "b", amount: 10 })
 * ```
 */
export const run = <I, E, R>(
  saga: Saga<I, E, R>,
  id: string,
  input: I
): Effect.Effect<ReadonlyArray<unknown>, SagaCompensated | SagaConflict | SagaError, R | Journal.Journal> =>
  Effect.gen(function*() {
    const journal = yield* Journal.Journal
    const stream = streamOf(saga, id)
    const sagaError = (reason: string) => new SagaError({ saga: saga.name, id, reason })
    const run = Math.random().toString(36).slice(2, 10)
    const recorded = yield* journal.readStream(stream).pipe(Effect.mapError((e) => sagaError(e.message)))
    // The version this run last saw: every append expects it, so a run that fell behind stops.
    let version = recorded.length === 0 ? 0 : recorded[recorded.length - 1]!.version
    const append = (eventId: string, type: string, data: unknown) =>
      journal.append(stream, [{ id: eventId, type, schemaVersion: 1, data }], version).pipe(
        Effect.flatMap((result) => {
          // An event with this id was there already (another run recorded the same progress): the
          // stream is past our version, and the next append will say so.
          if (result.duplicate) return Effect.void
          version = result.versions[result.versions.length - 1] ?? version
          return Effect.void
        }),
        Effect.catchTag("WrongExpectedVersion", (e) =>
          Effect.fail(new SagaConflict({ saga: saga.name, id, expected: version, found: e.actual }))),
        Effect.mapError((e) => e._tag === "SagaConflict" ? e : sagaError(`journal append failed: ${e.message}`))
      )
    let s = fold(recorded)
    let value: I
    if (!s.started) {
      const encoded = Schema.encodeUnknownExit(saga.input)(input)
      if (Exit.isFailure(encoded)) return yield* sagaError(`input does not match the saga's Schema: ${Cause.pretty(encoded.cause)}`)
      // The index first: `recover` finds the saga even if we crash before its own stream exists.
      yield* journal.append(indexOf(saga), [{ id: `s:${id}`, type: "SagaStarted", schemaVersion: 1, data: { id, input: encoded.value } }], "any")
        .pipe(Effect.mapError((e) => sagaError(`journal append failed: ${e.message}`)))
      yield* append("started", "SagaStarted", { input: encoded.value })
      value = input
      s = { ...s, started: true, input: encoded.value }
    } else {
      const decoded = Schema.decodeUnknownExit(saga.input)(s.input)
      if (Exit.isFailure(decoded)) return yield* sagaError(`recorded input does not decode: ${Cause.pretty(decoded.cause)}`)
      value = decoded.value
    }
    const finish = (outcome: "completed" | "compensated") =>
      Effect.andThen(
        append("end", outcome === "completed" ? "SagaCompleted" : "SagaCompensated", {}),
        journal.append(indexOf(saga), [{ id: `e:${id}`, type: "SagaEnded", schemaVersion: 1, data: { id, outcome } }], "any")
          .pipe(Effect.mapError((e) => sagaError(`journal append failed: ${e.message}`)))
      )
    const compensated = (c: NonNullable<State["compensating"]>) =>
      new SagaCompensated({ saga: saga.name, id, step: c.step, reason: c.reason })

    if (s.ended === "completed") return saga.steps.map((st) => s.done.get(st.name))
    if (s.ended === "compensated") return yield* compensated(s.compensating ?? { step: "?", reason: "compensated" })

    let failure = s.compensating
    if (failure === undefined) {
      for (const st of saga.steps) {
        if (s.done.has(st.name)) continue
        // The claim: no action runs unless this run is at the head of the stream.
        yield* append(`start:${st.name}:${run}`, "StepStarted", { step: st.name, run })
        const voucher = `${stream}/${st.name}`
        const timeout = st.timeout === undefined ? undefined : Duration.toMillis(st.timeout)
        let attempt: Effect.Effect<unknown, unknown, R> = Effect.suspend(() => st.action(value, voucher))
        if (timeout !== undefined) {
          attempt = Effect.timeoutOrElse(attempt, {
            duration: timeout,
            orElse: () => Effect.fail(new StepTimeout({ step: st.name, timeout }))
          })
        }
        if (st.retry !== undefined) attempt = Effect.retry(attempt, st.retry)
        const exit = yield* Effect.exit(attempt)
        if (Exit.isSuccess(exit)) {
          const output = exit.value === undefined ? null : exit.value
          yield* append(`done:${st.name}`, "StepCompleted", { step: st.name, output })
          s = { ...s, done: new Map(s.done).set(st.name, output) }
          continue
        }
        if (Cause.hasInterruptsOnly(exit.cause)) return yield* Effect.failCause(exit.cause as Cause.Cause<never>)
        failure = { step: st.name, reason: reasonOf(exit.cause) }
        yield* append("compensating", "SagaCompensating", failure)
        break
      }
      if (failure === undefined) {
        yield* finish("completed")
        return saga.steps.map((st) => s.done.get(st.name))
      }
    }
    // Compensate: the failed step first (its outcome is unknown), then completed ones, in reverse.
    const failedIndex = saga.steps.findIndex((st) => st.name === failure.step)
    for (let i = failedIndex; i >= 0; i--) {
      const st = saga.steps[i]!
      if (s.undone.has(st.name)) continue
      if (i !== failedIndex && !s.done.has(st.name)) continue
      const voucher = `${stream}/${st.name}`
      const output = s.done.get(st.name)
      yield* Effect.retry(Effect.suspend(() => st.compensate(value, voucher, output)), saga.compensationRetry)
        .pipe(Effect.mapError((e) => sagaError(`compensation of step "${st.name}" failed for good: ${String(e)}`)))
      yield* append(`undone:${st.name}`, "StepCompensated", { step: st.name })
    }
    yield* finish("compensated")
    return yield* compensated(failure)
  })

/**
 * Resumes every saga of this kind that started and did not end (after a restart). Answers
 * how many it resumed; each resumed saga completes or compensates.
 */
export const recover = <I, E, R>(
  saga: Saga<I, E, R>,
  options: { readonly concurrency?: number | undefined } = {}
): Effect.Effect<
  { readonly resumed: number; readonly completed: number; readonly compensated: number; readonly conflicts: number },
  SagaError,
  R | Journal.Journal
> =>
  Effect.gen(function*() {
    const journal = yield* Journal.Journal
    const events = yield* journal.readStream(indexOf(saga)).pipe(
      Effect.mapError((e) => new SagaError({ saga: saga.name, id: "*", reason: e.message }))
    )
    const open = new Map<string, unknown>()
    for (const e of events) {
      const d = e.data as { id: string; input?: unknown }
      if (e.type === "SagaStarted") open.set(d.id, d.input)
      else open.delete(d.id)
    }
    let completed = 0
    let compensated = 0
    let conflicts = 0
    yield* Effect.forEach([...open], ([id, encoded]) =>
      Effect.gen(function*() {
        const decoded = Schema.decodeUnknownExit(saga.input)(encoded)
        if (Exit.isFailure(decoded)) {
          return yield* new SagaError({ saga: saga.name, id, reason: "recorded input does not decode" })
        }
        const exit = yield* Effect.exit(run(saga, id, decoded.value))
        if (Exit.isSuccess(exit)) completed++
        else {
          const e = Cause.findErrorOption(exit.cause)
          if (e._tag === "Some" && e.value._tag === "SagaCompensated") compensated++
          else if (e._tag === "Some" && e.value._tag === "SagaConflict") conflicts++ // another run has it
          else return yield* Effect.failCause(exit.cause as Cause.Cause<SagaError>)
        }
      }), { concurrency: options.concurrency ?? 16, discard: true })
    return { resumed: open.size, completed, compensated, conflicts }
  })
