/**
 * A transfer is a saga (`@mailroom/tasks` `Saga`) of two steps, debit the source then credit
 * the destination, each recorded with a voucher in the journal when done. Steps retry transient
 * ledger failures (including lost acknowledgements: the movement is keyed by its voucher, so
 * the retry is a no-op) and time out when the ledger hangs; when a step fails for good
 * (insufficient funds, a frozen destination), the saga compensates in reverse: it undoes
 * whatever the failed step may have applied, then refunds the debit.
 */
import { Effect, Schema } from "effect"
import type { Journal } from "@mailroom/persistence"
import { Saga } from "@mailroom/tasks"
import * as Account from "./Account.js"
import { CreditRefused, type Faults, type LedgerUnavailable } from "./Faults.js"

/** What a transfer asks for. */
export const Request = Schema.Struct({
  from: Schema.String,
  to: Schema.String,
  cents: Schema.Int.check(Schema.isGreaterThan(0))
})
export type Request = typeof Request.Type

/** Step timeout: a ledger call hanging longer fails the attempt (it is then retried). */
export const stepTimeoutMs = 150

/** The ledger did not answer within the step timeout. */
export class NoAnswer extends Schema.TaggedError<NoAnswer>()("NoAnswer", { timeoutMs: Schema.Number }) {
  override get message(): string {
    return `the ledger gave no answer within ${this.timeoutMs} ms`
  }
}

/** Every way a step of a transfer can fail. */
export type TransferError =
  | Account.InsufficientFunds
  | Account.LedgerError
  | Account.UnknownAccount
  | LedgerUnavailable
  | CreditRefused
  | NoAnswer

const transient = (e: TransferError) => e._tag === "LedgerUnavailable" || e._tag === "NoAnswer"

/** Retries an attempt on transient failures only; business refusals fail at once. */
const attempts = (call: Effect.Effect<void, TransferError, Journal.Journal>): Effect.Effect<void, TransferError, Journal.Journal> =>
  Effect.timeoutOrElse(call, {
    duration: stepTimeoutMs,
    orElse: () => Effect.fail(new NoAnswer({ timeoutMs: stepTimeoutMs }))
  }).pipe(Effect.retry({ while: transient, times: 4 }))

/** Builds the transfer saga over a fault switch. */
export const saga = (faults: Faults): Saga.Saga<Request, TransferError, Journal.Journal> =>
  Saga.make<Request, TransferError, Journal.Journal>({
    name: "transfer",
    input: Request,
    steps: [
      Saga.step<Request, void, TransferError, Journal.Journal>({
        name: "debit",
        action: (t: Request, voucher: string) =>
          attempts(faults.around(`debit ${t.from}`, Account.move(t.from, voucher, { _tag: "Debited", cents: t.cents, transfer: voucher, refund: false }), stepTimeoutMs * 2)),
        compensate: (t: Request, voucher: string) => faults.around(`refund ${t.from}`, Account.undo(t.from, voucher, voucher), stepTimeoutMs * 2)
      }),
      Saga.step<Request, void, TransferError, Journal.Journal>({
        name: "credit",
        action: (t: Request, voucher: string) =>
          faults.refuses(voucher)
            ? Effect.fail(new CreditRefused({ account: t.to }))
            : attempts(faults.around(`credit ${t.to}`, Account.move(t.to, voucher, { _tag: "Credited", cents: t.cents, transfer: voucher, refund: false }), stepTimeoutMs * 2)),
        compensate: (t: Request, voucher: string) => faults.around(`reverse ${t.to}`, Account.undo(t.to, voucher, voucher), stepTimeoutMs * 2)
      })
    ]
  })
