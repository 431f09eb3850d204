import { mergeConfig } from "vitest/config"
import { shared } from "../../vitest.shared.js"

// The tests run the built CLI as child processes, many at once: on a busy machine a test can
// take far longer than its own work, hence generous limits (they bound a hang, not speed).
export default mergeConfig(shared, { test: { testTimeout: 120_000, hookTimeout: 60_000 } })
