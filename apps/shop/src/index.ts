/**
 * @mailroom/shop: the Mailroom shop demo as a library (the runnable program is `main.ts`).
 */
export * as Api from "./Api.js"
export * as Catalog from "./Catalog.js"
export * as Dashboard from "./Dashboard.js"
export * as Desk from "./Desk.js"
export * as Http from "./Http.js"
export * as LoadGenerator from "./LoadGenerator.js"
export * as Monitor from "./Monitor.js"
export * as Order from "./Order.js"
export * as Shop from "./Shop.js"
export * as Terminal from "./Terminal.js"
export * as Warehouse from "./Warehouse.js"
