/**
 * What the multi-process tests share: failover settings fast enough for a test, and a poll that
 * says what it waited for and what it saw last when it times out.
 */
import { Effect } from "effect"

/** Fast failover for a test: the defaults move a dead runner's shards within about a minute. */
export const fastFailover = {
  shardLockRefreshInterval: "1 second",
  shardLockExpiration: "5 seconds",
  refreshAssignmentsInterval: "500 millis",
  runnerHealthCheckInterval: "1 second",
  entityMessagePollInterval: "300 millis",
  entityReplyPollInterval: "100 millis",
  sendRetryInterval: "50 millis"
}

/** Polls `check` until it holds; on timeout fails saying what it waited for and what it saw last. */
export const until = (what: string, timeoutMs: number, check: () => boolean | Promise<boolean>, seen?: () => string | Promise<string>) =>
  Effect.promise(async () => {
    const deadline = performance.now() + timeoutMs
    while (!(await check())) {
      if (performance.now() > deadline) {
        throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}${seen ? ` (last seen: ${await seen()})` : ""}`)
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  })
