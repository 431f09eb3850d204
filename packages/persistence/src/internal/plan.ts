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

/** Plans a batch in arrival order. */
export const plan = (
  batch: ReadonlyArray<PendingAppend>,
  versionOf: (stream: string) => number,
  existing: (stream: string, id: string) => Existing | undefined
): Planned => {
  const rows: Array<PlannedRow> = []
  const outcomes: Array<Outcome> = []
  const versions = new Map<string, number>()
  const pendingIds = new Map<string, number>()
  for (const append of batch) {
    const { events, stream } = append
    const refs: Array<Ref> = []
    const missing: Array<string> = []
    for (const event of events) {
      const key = idKey(stream, event.id)
      const row = pendingIds.get(key)
      const found = row !== undefined ? { row } : existing(stream, event.id)
      if (found === undefined) missing.push(event.id)
      else refs.push(found)
    }
    if (missing.length === 0) {
      outcomes.push({ _tag: "Duplicate", refs })
      continue
    }
    if (refs.length > 0) {
      const stored = events.map((e) => e.id).filter((id) => !missing.includes(id))
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
    let current = versions.get(stream)
    if (current === undefined) current = versionOf(stream)
    if (append.expected !== "any" && append.expected !== current) {
      outcomes.push({
        _tag: "Failed",
        error: new WrongExpectedVersion({ stream, expected: append.expected, actual: current })
      })
      continue
    }
    const first = rows.length
    for (const event of events) {
      current++
      pendingIds.set(idKey(stream, event.id), rows.length)
      rows.push({ stream, version: current, event })
    }
    versions.set(stream, current)
    outcomes.push({ _tag: "Written", first, count: events.length })
  }
  return { rows, outcomes }
}

/** The streams a batch touches and the ids it carries (for the storage look-ups). */
export const keys = (batch: ReadonlyArray<PendingAppend>) => {
  const streams = new Set<string>()
  const ids = new Set<string>()
  for (const append of batch) {
    streams.add(append.stream)
    for (const event of append.events) ids.add(event.id)
  }
  return { streams: [...streams], ids: [...ids] }
}

/** Turns a plan plus the positions given to its rows into each append's answer. */
export const resolve = (
  planned: Planned,
  positions: ReadonlyArray<number>
): Array<Exit.Exit<AppendResult, WrongExpectedVersion | EventIdConflict>> =>
  planned.outcomes.map((outcome) => {
    switch (outcome._tag) {
      case "Failed":
        return Exit.fail(outcome.error)
      case "Written": {
        const ps: Array<number> = []
        const vs: Array<number> = []
        for (let i = 0; i < outcome.count; i++) {
          ps.push(positions[outcome.first + i]!)
          vs.push(planned.rows[outcome.first + i]!.version)
        }
        return Exit.succeed({ positions: ps, versions: vs, duplicate: false })
      }
      case "Duplicate":
        return Exit.succeed({
          positions: outcome.refs.map((r) => "row" in r ? positions[r.row]! : r.position),
          versions: outcome.refs.map((r) => "row" in r ? planned.rows[r.row]!.version : r.version),
          duplicate: true
        })
    }
  })
