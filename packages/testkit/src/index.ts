/**
 * @mailroom/testkit: probes, dead-letter collectors and seeded fault injection for tests of
 * Mailroom actors and pipelines.
 */
export * as DeadLetters from "./DeadLetters.js"
export * as Faults from "./Faults.js"
export * as Probe from "./Probe.js"
export * as Random from "./Random.js"
