/**
 * Replay: rebuild state from the journal. Fold one stream's events into a state (what an
 * event-sourced actor does on recovery, and what a fixed event handler gives after a bug fix),
 * fold everything by global position, or rebuild a projection from zero.
 *
 * "Fix the bug, replay, the state is right": events are facts and never change; a corrected
 * `apply` replayed over them yields the corrected state.
 *
 * @example
 * ```ts
 * const { state, version } = yield* Replay.stream("account-1", {
 *   types: AccountEvents,
 *   initial: 0,
 *   apply: (balance, event) => event._tag === "Deposited" ? balance + event.cents : balance - event.cents
 * })
 * ```
 */
import { Effect } from "effect"
import { Journal, type LeanEvent, type ReadError, type RecordedEvent } from "./Journal.js"
import * as Projection from "./Projection.js"
import { type EventTypes, UndecodableEvent } from "./Upcast.js"

/** How to fold decoded events into a state. */
export interface Fold<S, A extends { readonly _tag: string }> {
  readonly types: EventTypes<A>
  readonly initial: S
  /**
   * Folds one event. Declare the third parameter (without a default value) when the fold reads
   * the recorded event: replay looks at `apply.length`, and a fold of two parameters is
   * replayed with the journal's lean scan, which does not read stream names and event ids.
   */
  readonly apply: (state: S, event: A, recorded: RecordedEvent) => S
  /** Events read per query (default 10,000). */
  readonly pageSize?: number | undefined
}

/**
 * A fold whose `apply` declares at most two parameters (`(state, event) => …`) never sees the
 * recorded event, so replay may use the journal's lean scan (no stream name or event id read
 * per row). `apply.length` tells; a fold with a `filter` always reads everything.
 */
const needsRecorded = (fold: Fold<any, any>): boolean => fold.apply.length >= 3

/**
 * The recorded-event view a decoder needs, built from a lean row. Only the decoder sees it:
 * on a decode error the event is read whole (`undecodableAt`), so the error names its stream.
 */
const asRecorded = (event: LeanEvent, stream: string): RecordedEvent => ({
  position: event.position,
  stream,
  version: event.version,
  id: "",
  type: event.type,
  schemaVersion: event.schemaVersion,
  data: event.data
})

/** Reads the event a lean decode failed on whole and decodes it again, for an error naming its stream. */
const undecodableAt = <A extends { readonly _tag: string }>(
  journal: Journal["Service"],
  fold: Fold<any, A>,
  lean: UndecodableEvent
) =>
  Effect.flatMap(journal.readAll(lean.position - 1, 1), (page) => {
    const full = page[0]
    const again = full === undefined || full.position !== lean.position ? lean : fold.types.decodeSync(full)
    return Effect.fail(again instanceof UndecodableEvent ? again : lean)
  })

/** The result of a replay: the state and where it stopped. */
export interface Replayed<S> {
  readonly state: S
  /** Stream version (for `stream`) or global position (for `all`) of the last event applied. */
  readonly last: number
  readonly events: number
}

const foldPage = <S, A extends { readonly _tag: string }>(
  fold: Fold<S, A>,
  state: S,
  page: ReadonlyArray<RecordedEvent>
): S | UndecodableEvent => {
  const decode = fold.types.decodeSync
  for (let i = 0; i < page.length; i++) {
    const recorded = page[i]!
    const event = decode(recorded)
    if (event instanceof UndecodableEvent) return event
    state = fold.apply(state, event, recorded)
  }
  return state
}

/** Folds the events of `stream` from `fromState` (e.g. a snapshot at `fromVersion - 1`). */
export const stream = Effect.fnUntraced(function*<S, A extends { readonly _tag: string }>(
  name: string,
  fold: Fold<S, A>,
  from?: { readonly state: S; readonly version: number }
) {
  const journal = yield* Journal
  const pageSize = fold.pageSize ?? 10_000
  let state = from?.state ?? fold.initial
  let last = from?.version ?? 0
  let events = 0
  // Fast paths: each event is decoded and applied as its row is read (no page of events);
  // lean rows (no event id read) when the fold does not take the recorded event.
  const decode = fold.types.decodeSync
  const scan = journal.scanStreamLean !== undefined && !needsRecorded(fold)
    ? (from: number) =>
      journal.scanStreamLean!(name, from, pageSize, (lean): UndecodableEvent | undefined => {
        const event = decode(asRecorded(lean, name))
        if (event instanceof UndecodableEvent) return event
        state = (fold.apply as (state: S, event: A) => S)(state, event)
        return undefined
      })
    : journal.scanStream !== undefined
    ? (from: number) =>
      journal.scanStream!(name, from, pageSize, (recorded): UndecodableEvent | undefined => {
        const event = decode(recorded)
        if (event instanceof UndecodableEvent) return event
        state = fold.apply(state, event, recorded)
        return undefined
      })
    : undefined
  if (scan !== undefined) {
    while (true) {
      const page = yield* scan(last + 1)
      if (page.stopped !== undefined) return yield* page.stopped
      if (page.last === undefined) return { state, last, events } as Replayed<S>
      last = page.last.version
      events += page.read
      if (page.read < pageSize) return { state, last, events } as Replayed<S>
    }
  }
  while (true) {
    const page = yield* journal.readStream(name, last + 1, pageSize)
    if (page.length === 0) return { state, last, events } as Replayed<S>
    const next = foldPage(fold, state, page)
    if (next instanceof UndecodableEvent) return yield* next
    state = next
    last = page[page.length - 1]!.version
    events += page.length
    if (page.length < pageSize) return { state, last, events } as Replayed<S>
  }
}) as <S, A extends { readonly _tag: string }>(
  name: string,
  fold: Fold<S, A>,
  from?: { readonly state: S; readonly version: number }
) => Effect.Effect<Replayed<S>, ReadError | UndecodableEvent, Journal>

/** Folds every event in the journal (optionally only those `filter` keeps) by global position. */
export const all = Effect.fnUntraced(function*<S, A extends { readonly _tag: string }>(
  fold: Fold<S, A> & { readonly filter?: ((recorded: RecordedEvent) => boolean) | undefined }
) {
  const journal = yield* Journal
  const pageSize = fold.pageSize ?? 10_000
  let state = fold.initial
  let last = 0
  let events = 0
  // Fast paths: each event is decoded and applied as its row is read (no page of events);
  // lean rows (no stream name, no event id) when the fold neither filters nor takes the
  // recorded event. A lean decode error is answered for the event read whole, so it names the
  // stream as on the other paths.
  const decode = fold.types.decodeSync
  const filter = fold.filter
  const lean = journal.scanAllLean !== undefined && filter === undefined && !needsRecorded(fold)
  const scan = lean
    ? (after: number) =>
      journal.scanAllLean!(after, pageSize, (row): UndecodableEvent | undefined => {
        const event = decode(asRecorded(row, ""))
        if (event instanceof UndecodableEvent) return event
        state = (fold.apply as (state: S, event: A) => S)(state, event)
        events++
        return undefined
      })
    : journal.scanAll !== undefined
    ? (after: number) =>
      journal.scanAll!(after, pageSize, (recorded): UndecodableEvent | undefined => {
        if (filter !== undefined && !filter(recorded)) return undefined
        const event = decode(recorded)
        if (event instanceof UndecodableEvent) return event
        state = fold.apply(state, event, recorded)
        events++
        return undefined
      })
    : undefined
  if (scan !== undefined) {
    while (true) {
      const page = yield* scan(last)
      if (page.stopped !== undefined) {
        return yield* (lean ? undecodableAt(journal, fold, page.stopped) : Effect.fail(page.stopped))
      }
      if (page.last === undefined) return { state, last, events } as Replayed<S>
      last = page.last.position
    }
  }
  while (true) {
    const page = yield* journal.readAll(last, pageSize)
    if (page.length === 0) return { state, last, events } as Replayed<S>
    const kept = fold.filter ? page.filter(fold.filter) : page
    const next = foldPage(fold, state, kept)
    if (next instanceof UndecodableEvent) return yield* next
    state = next
    last = page[page.length - 1]!.position
    events += kept.length
  }
}) as <S, A extends { readonly _tag: string }>(
  fold: Fold<S, A> & { readonly filter?: ((recorded: RecordedEvent) => boolean) | undefined }
) => Effect.Effect<Replayed<S>, ReadError | UndecodableEvent, Journal>

/** Rebuilds a projection from zero (clears its read model and checkpoint, then catches up). */
export const projection = Projection.rebuild
