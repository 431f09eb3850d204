/**
 * @mailroom/cli: the pieces of the `mailroom` command (the program is `main.ts`).
 */
export * as Bench from "./Bench.js"
export * as Display from "./Display.js"
export * as Failure from "./Failure.js"
export * as Journal from "./Journal.js"
export * as Output from "./Output.js"
export * as Progress from "./Progress.js"
export * as Replay from "./Replay.js"
export * as Shop from "./Shop.js"
