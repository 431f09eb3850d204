/** Workload sizes shared by all contenders (one place, so every contender does the same work). */
export const TELL_MESSAGES = 1_000_000
export const ASK_ROUND_TRIPS = 200_000
/** Every n-th round trip is timed individually with performance.now() for the latency figures. */
export const ASK_SAMPLE_EVERY = 16
export const IDLE_ACTORS = 100_000
export const IDLE_WARMUP_ACTORS = 10_000
export const SPAWN_ACTORS = 100_000
export const SPAWN_WARMUP_ACTORS = 10_000
