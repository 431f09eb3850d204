/**
 * An account is an event stream: `Opened`, then `Debited` / `Credited` movements, each keyed by
 * the voucher of the saga step that made it (the voucher IS the event id, so the journal itself
 * refuses to record a voucher twice), and `Voided` markers written by compensation when a step's
 * action never applied (so a late retry of that action cannot apply afterwards).
 *
 * Every write appends with the expected version the writer read (optimistic concurrency): two
 * movements racing on one account cannot both pass the balance check.
 */
import { Effect, Schedule, Schema } from "effect"
import { Journal, Upcast } from "@mailroom/persistence"

export const Opened = Schema.TaggedStruct("Opened", { owner: Schema.String, cents: Schema.Int })
export const Debited = Schema.TaggedStruct("Debited", { cents: Schema.Int, transfer: Schema.String, refund: Schema.Boolean })
export const Credited = Schema.TaggedStruct("Credited", { cents: Schema.Int, transfer: Schema.String, refund: Schema.Boolean })
export const Voided = Schema.TaggedStruct("Voided", { voucher: Schema.String })

/** Every account event. */
export type Event = typeof Opened.Type | typeof Debited.Type | typeof Credited.Type | typeof Voided.Type

/** The registry that encodes and decodes account events. */
export const events = Upcast.registry(
  Upcast.eventType("Opened", Opened),
  Upcast.eventType("Debited", Debited),
  Upcast.eventType("Credited", Credited),
  Upcast.eventType("Voided", Voided)
)

/** The stream of account `id`. */
export const streamOf = (id: string) => `account-${id}`

/** An account's state, folded from its events. */
export interface State {
  readonly opened: boolean
  readonly cents: number
  readonly version: number
  /** Ids of the events in the stream (vouchers and markers). */
  readonly ids: ReadonlySet<string>
}

/** Applies one event (the domain fold; balances always come from here). */
export const apply = (s: { opened: boolean; cents: number }, e: Event) => {
  switch (e._tag) {
    case "Opened":
      s.opened = true
      s.cents += e.cents
      break
    case "Debited":
      s.cents -= e.cents
      break
    case "Credited":
      s.cents += e.cents
      break
    case "Voided":
      break
  }
}

/** Something went wrong with the ledger itself (storage, a bad event). */
export class LedgerError extends Schema.TaggedError<LedgerError>()("LedgerError", {
  account: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `ledger of account ${this.account}: ${this.reason}`
  }
}

/** The account does not hold enough money for a debit. */
export class InsufficientFunds extends Schema.TaggedError<InsufficientFunds>()("InsufficientFunds", {
  account: Schema.String,
  cents: Schema.Number,
  wanted: Schema.Number
}) {
  override get message(): string {
    return `account ${this.account} holds ${this.cents} cents, ${this.wanted} wanted`
  }
}

/** The account does not exist. */
export class UnknownAccount extends Schema.TaggedError<UnknownAccount>()("UnknownAccount", { account: Schema.String }) {
  override get message(): string {
    return `no account ${this.account}`
  }
}

/** Reads an account's state from the journal. */
export const load = (id: string) =>
  Effect.gen(function*() {
    const journal = yield* Journal.Journal
    const recorded = yield* journal.readStream(streamOf(id)).pipe(Effect.mapError((e) => new LedgerError({ account: id, reason: e.message })))
    const s = { opened: false, cents: 0 }
    const ids = new Set<string>()
    for (const r of recorded) {
      const e = events.decodeSync(r)
      if (e instanceof Upcast.UndecodableEvent) return yield* new LedgerError({ account: id, reason: e.message })
      apply(s, e)
      ids.add(r.id)
    }
    return { opened: s.opened, cents: s.cents, version: recorded.length, ids } satisfies State
  })

const write = (id: string, eventId: string, event: Event, expected: number) =>
  Effect.gen(function*() {
    const journal = yield* Journal.Journal
    const data = yield* events.encode(event, eventId).pipe(Effect.mapError((e) => new LedgerError({ account: id, reason: e.message })))
    return yield* journal.append(streamOf(id), [data], expected)
  })

/** Retries a read-check-append cycle that lost an optimistic-concurrency race. */
const onRace = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.retry(effect, {
    while: (e) => typeof e === "object" && e !== null && "_tag" in e && e._tag === "WrongExpectedVersion",
    schedule: Schedule.spaced("1 millis"),
    times: 50
  })

const ledger = (id: string) => (e: { readonly _tag: string; readonly message: string }) =>
  e._tag === "InsufficientFunds" || e._tag === "UnknownAccount" || e._tag === "LedgerError"
    ? Effect.fail(e as InsufficientFunds | UnknownAccount | LedgerError)
    : Effect.fail(new LedgerError({ account: id, reason: e.message }))

/** Opens account `id` with `cents` (idempotent: opening twice is a no-op). */
export const open = (id: string, owner: string, cents: number) =>
  Effect.asVoid(write(id, "opened", { _tag: "Opened", owner, cents }, 0)).pipe(
    Effect.catchTag("WrongExpectedVersion", () => Effect.void),
    Effect.catch(ledger(id))
  )

/**
 * Moves money under `voucher`: applied at most once (a second call is a no-op), never after the
 * voucher was voided, never below zero.
 */
export const move = (id: string, voucher: string, event: typeof Debited.Type | typeof Credited.Type) =>
  onRace(Effect.gen(function*() {
    const s = yield* load(id)
    if (!s.opened) return yield* new UnknownAccount({ account: id })
    if (s.ids.has(voucher) || s.ids.has(`void:${voucher}`)) return
    if (event._tag === "Debited" && s.cents < event.cents) {
      return yield* new InsufficientFunds({ account: id, cents: s.cents, wanted: event.cents })
    }
    yield* write(id, voucher, event, s.version)
  })).pipe(Effect.catch(ledger(id)))

/**
 * Undoes whatever was applied under `voucher`: if the movement is in the stream, records the
 * opposite movement (once, under `undo:<voucher>`); if not, records `Voided` so it never applies.
 */
export const undo = (id: string, voucher: string, transfer: string) =>
  onRace(Effect.gen(function*() {
    const journal = yield* Journal.Journal
    const recorded = yield* journal.readStream(streamOf(id)).pipe(Effect.mapError((e) => new LedgerError({ account: id, reason: e.message })))
    const original = recorded.find((r) => r.id === voucher)
    if (recorded.some((r) => r.id === `undo:${voucher}` || r.id === `void:${voucher}`)) return
    if (original === undefined) {
      yield* write(id, `void:${voucher}`, { _tag: "Voided", voucher }, recorded.length)
      return
    }
    const e = events.decodeSync(original)
    if (e instanceof Upcast.UndecodableEvent) return yield* new LedgerError({ account: id, reason: e.message })
    if (e._tag !== "Debited" && e._tag !== "Credited") return
    // A refund may overdraw nothing: it gives back exactly what this voucher moved.
    const opposite: Event = e._tag === "Debited"
      ? { _tag: "Credited", cents: e.cents, transfer, refund: true }
      : { _tag: "Debited", cents: e.cents, transfer, refund: true }
    yield* write(id, `undo:${voucher}`, opposite, recorded.length)
  })).pipe(Effect.catch(ledger(id)))
