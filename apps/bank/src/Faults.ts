/**
 * The fault switch: with probability `rate` per attempt, a ledger call misbehaves in one of
 * three ways — it fails before applying (the ledger is down), it applies and then fails (the
 * acknowledgement is lost: the retry must not apply it twice), or it hangs past the step's
 * timeout. Separately, `rejectRate` of transfers have their credit refused for good (the
 * destination account is frozen), which makes the saga compensate the debit.
 *
 * Decisions come from a seeded generator, so a run can be repeated.
 */
import { Effect, Schema } from "effect"
import { Random } from "@mailroom/testkit"

/** A transient ledger failure (retried). */
export class LedgerUnavailable extends Schema.TaggedError<LedgerUnavailable>()("LedgerUnavailable", {
  where: Schema.String,
  applied: Schema.Boolean
}) {
  override get message(): string {
    return this.applied ? `${this.where}: applied, but the acknowledgement was lost` : `${this.where}: the ledger is unavailable`
  }
}

/** A permanent refusal (not retried: the saga compensates). */
export class CreditRefused extends Schema.TaggedError<CreditRefused>()("CreditRefused", { account: Schema.String }) {
  override get message(): string {
    return `account ${this.account} is frozen and refuses credits`
  }
}

/** What the switch did so far. */
export interface FaultCounts {
  before: number
  lostAck: number
  hang: number
  refused: number
}

/** The fault switch. */
export interface Faults {
  readonly rate: number
  readonly counts: FaultCounts
  /** Wraps a ledger call. */
  readonly around: <A, E, R>(where: string, call: Effect.Effect<A, E, R>, hangMs: number) => Effect.Effect<A, E | LedgerUnavailable, R>
  /** Whether the credit of `transfer` is refused (the same answer on every retry). */
  readonly refuses: (transfer: string) => boolean
}

const hash = (s: string) => {
  let h = 2166136261
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
  return (h >>> 0) / 4294967296
}

/** A fault switch; `rate` 0 turns it off. */
export const make = (options: { readonly rate: number; readonly rejectRate?: number | undefined; readonly seed?: number | undefined }): Faults => {
  const random = Random.seeded(options.seed ?? 7)
  const rejectRate = options.rejectRate ?? options.rate / 4
  const counts: FaultCounts = { before: 0, lostAck: 0, hang: 0, refused: 0 }
  const refused = new Set<string>()
  return {
    rate: options.rate,
    counts,
    around: (where, call, hangMs) =>
      Effect.suspend(() => {
        const r = random()
        const rate = options.rate
        if (r < rate / 3) {
          counts.before++
          return Effect.fail(new LedgerUnavailable({ where, applied: false }))
        }
        if (r < (2 * rate) / 3) {
          counts.lostAck++
          return Effect.andThen(call, Effect.fail(new LedgerUnavailable({ where, applied: true })))
        }
        if (r < rate) {
          counts.hang++
          return Effect.andThen(Effect.sleep(hangMs), call)
        }
        return call
      }),
    refuses: (transfer) => {
      const no = hash(transfer + ":" + (options.seed ?? 7)) < rejectRate
      if (no && !refused.has(transfer)) {
        refused.add(transfer)
        counts.refused++
      }
      return no
    }
  }
}
