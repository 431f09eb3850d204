/**
 * @mailroom/cli: the pieces of the `mailroom` command (the program is `main.ts`).
 */
export * as Bench from "./Bench.js"
export * as Failure from "./Failure.js"
export * as Journal from "./Journal.js"
export * as Replay from "./Replay.js"
export * as Shop from "./Shop.js"
