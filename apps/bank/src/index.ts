/**
 * @mailroom/bank: the Mailroom bank demo as a library (the runnable program is `main.ts`).
 */
export * as Account from "./Account.js"
export * as Balances from "./Balances.js"
export * as Bank from "./Bank.js"
export * as Faults from "./Faults.js"
export * as Reconcile from "./Reconcile.js"
export * as Transfer from "./Transfer.js"
