/**
 * Planning a group-commit batch: given the current stream versions and the event ids already
 * stored, decide for each append (in arrival order) whether it writes rows, is an idempotent
 * duplicate, or fails; shared by every journal implementation so they agree exactly.
 */
import { Exit } from "effect"
import type { AppendResult } from "../Journal.js"
import { EventIdConflict, WrongExpectedVersion } from "../JournalError.js"

/** An event validated and serialized for storage. */
export interface EncodedEvent {
  readonly id: string
  readonly type: string
  readonly schemaVersion: number
  readonly json: string
}

/** A validated append request waiting for its group commit. */
export interface PendingAppend {
  readonly stream: string
  readonly expected: number | "any"
  readonly events: ReadonlyArray<EncodedEvent>
}

/** Where an already-stored event is. */
export interface Existing {
  readonly position: number
  readonly version: number
}

/** A row to insert. */
export interface PlannedRow {
  readonly stream: string
  readonly version: number
  readonly event: EncodedEvent
}

type Ref = Existing | { readonly row: number }

type Outcome =
  | { readonly _tag: "Written"; readonly first: number; readonly count: number }
  | { readonly _tag: "Duplicate"; readonly refs: ReadonlyArray<Ref> }
  | { readonly _tag: "Failed"; readonly error: WrongExpectedVersion | EventIdConflict }

/** A planned batch. */
export interface Planned {
  readonly rows: ReadonlyArray<PlannedRow>
  readonly outcomes: ReadonlyArray<Outcome>
}

/** Key of an event id within a stream. */
export const idKey = (stream: string, id: string) => stream + "\u0000" + id

/**
 * Plans a batch in arrival order. `existing` finds stored events by id; without it (the
 * optimistic plan of `SqlJournal`) every id not written earlier in the batch counts as new.
 */
export const plan = (
  batch: ReadonlyArray<PendingAppend>,
  versionOf: (stream: string) => number,
  existing: ((stream: string, id: string) => Existing | undefined) | undefined
): Planned => {
  const rows: Array<PlannedRow> = []
  const outcomes: Array<Outcome> = []
  // Streams written earlier in this batch: their version so far and their rows. The ids of a
  // stream's rows are indexed only when the stream comes back (most batches touch each
  // stream once, so most batches build no index at all).
  const written = new Map<string, { version: number; readonly rows: Array<number>; ids?: Map<string, number> }>()
  for (let a = 0; a < batch.length; a++) {
    const append = batch[a]!
    const { events, stream } = append
    const earlier = written.get(stream)
    let pending: Map<string, number> | undefined
    if (earlier !== undefined) {
      if (earlier.ids === undefined) {
        earlier.ids = new Map()
        for (const r of earlier.rows) earlier.ids.set(rows[r]!.event.id, r)
      }
      pending = earlier.ids
    }
    let refs: Array<Ref> | undefined
    let missing = 0
    for (let e = 0; e < events.length; e++) {
      const id = events[e]!.id
      const row = pending?.get(id)
      const found = row !== undefined ? { row } : existing?.(stream, id)
      if (found === undefined) missing++
      else (refs ??= []).push(found)
    }
    if (refs === undefined) {
      // Every id is new: check the expected version.
    } else if (missing === 0) {
      outcomes.push({ _tag: "Duplicate", refs })
      continue
    } else {
      const stored = events.map((e) => e.id).filter((id) => pending?.has(id) === true || existing?.(stream, id) !== undefined)
      outcomes.push({
        _tag: "Failed",
        error: new EventIdConflict({
          stream,
          ids: stored,
          reason: "these ids are already in the stream while others of the same append are not; " +
            "retry with exactly the original events, or use new ids"
        })
      })
      continue
    }
    let current = earlier !== undefined ? earlier.version : versionOf(stream)
    if (append.expected !== "any" && append.expected !== current) {
      outcomes.push({
        _tag: "Failed",
        error: new WrongExpectedVersion({ stream, expected: append.expected, actual: current })
      })
      continue
    }
    const first = rows.length
    const state = earlier ?? { version: current, rows: [] }
    for (let e = 0; e < events.length; e++) {
      const event = events[e]!
      current++
      state.rows.push(rows.length)
      state.ids?.set(event.id, rows.length)
      rows.push({ stream, version: current, event })
    }
    state.version = current
    if (earlier === undefined) written.set(stream, state)
    outcomes.push({ _tag: "Written", first, count: events.length })
  }
  return { rows, outcomes }
}

/** The distinct streams of a batch. */
export const streams = (batch: ReadonlyArray<PendingAppend>): Array<string> => {
  const out = new Set<string>()
  for (let i = 0; i < batch.length; i++) out.add(batch[i]!.stream)
  return [...out]
}

/** The distinct event ids of a batch. */
export const ids = (batch: ReadonlyArray<PendingAppend>): Array<string> => {
  const out = new Set<string>()
  for (let i = 0; i < batch.length; i++) {
    const events = batch[i]!.events
    for (let e = 0; e < events.length; e++) out.add(events[e]!.id)
  }
  return [...out]
}

/** The distinct event ids of the appends a plan failed (they may be retries of stored events). */
export const failedIds = (batch: ReadonlyArray<PendingAppend>, planned: Planned): Array<string> => {
  const out = new Set<string>()
  for (let i = 0; i < batch.length; i++) {
    if (planned.outcomes[i]!._tag !== "Failed") continue
    const events = batch[i]!.events
    for (let e = 0; e < events.length; e++) out.add(events[e]!.id)
  }
  return [...out]
}

/** Turns a plan plus the positions given to its rows into each append's answer. */
export const resolve = (
  planned: Planned,
  positions: ReadonlyArray<number>
): Array<Exit.Exit<AppendResult, WrongExpectedVersion | EventIdConflict>> => {
  const out: Array<Exit.Exit<AppendResult, WrongExpectedVersion | EventIdConflict>> = []
  for (let i = 0; i < planned.outcomes.length; i++) {
    const outcome = planned.outcomes[i]!
    switch (outcome._tag) {
      case "Failed":
        out.push(Exit.fail(outcome.error))
        break
      case "Written": {
        const ps: Array<number> = []
        const vs: Array<number> = []
        for (let k = 0; k < outcome.count; k++) {
          ps.push(positions[outcome.first + k]!)
          vs.push(planned.rows[outcome.first + k]!.version)
        }
        out.push(Exit.succeed({ positions: ps, versions: vs, duplicate: false }))
        break
      }
      case "Duplicate":
        out.push(Exit.succeed({
          positions: outcome.refs.map((r) => "row" in r ? positions[r.row]! : r.position),
          versions: outcome.refs.map((r) => "row" in r ? planned.rows[r.row]!.version : r.version),
          duplicate: true
        }))
        break
    }
  }
  return out
}
