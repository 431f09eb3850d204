/**
 * `npm start`: a short, narrated tour of Mailroom's actor core — tell and ask, typed errors,
 * supervision with backoff, backpressure, per-message timeouts, death watch, dead letters —
 * printing what happens as it happens.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Fiber, PubSub, Stream } from "effect"
import { ActorSystem } from "@mailroom/core"
import {
  account,
  Audit,
  Audited,
  auditor,
  Balance,
  clerk,
  Deposit,
  File,
  Filed,
  Progress,
  Stuck,
  Watch,
  watcher,
  Withdraw,
  worker
} from "./bank.js"

const color = process.stdout.isTTY && process.env.NO_COLOR === undefined
const paint = (code: number) => (s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s)
const bold = paint(1)
const dim = paint(2)
const green = paint(32)
const yellow = paint(33)
const started = performance.now()
const say = (line: string) =>
  Effect.sync(() => console.log(`${dim(`${((performance.now() - started) / 1000).toFixed(2).padStart(5)}s`)}  ${line}`))
const scene = (title: string) => Effect.sync(() => console.log(`\n${bold(title)}`))

if (process.argv.includes("--help")) {
  console.log("mailroom demo: a narrated tour of typed actors, supervision and ask/tell.\nUsage: npm start")
  process.exit(0)
}

const program = Effect.gen(function*() {
  const system = yield* ActorSystem.ActorSystem
  // Dead letters: nothing disappears silently.
  const letters = yield* system.subscribeDeadLetters
  const printer = yield* Effect.forkChild(
    Stream.fromEffectRepeat(PubSub.take(letters)).pipe(
      Stream.runForEach((l) =>
        say(yellow(`dead letter → ${l.recipient}: ${(l.message as { _tag: string })._tag} (${l.reason}${l.detail ? `: ${l.detail}` : ""})`))
      )
    )
  )

  yield* scene("1. Tell and ask: two accounts, typed replies")
  const alice = yield* system.spawn(account("alice"), { name: "alice" })
  const bob = yield* system.spawn(account("bob"), { name: "bob" })
  yield* alice.tell(new Deposit({ amount: 100 }))
  yield* bob.tell(new Deposit({ amount: 20 }))
  yield* say(`told alice +100, bob +20; asked balances: alice=${yield* alice.ask(new Balance())}, bob=${yield* bob.ask(new Balance())}`)
  const left = yield* alice.ask(new Withdraw({ amount: 30 }))
  yield* say(`alice withdrew 30 → ${green(String(left))} left`)
  const short = yield* Effect.flip(bob.ask(new Withdraw({ amount: 500 })))
  const detail = short._tag === "InsufficientFunds" ? ` (balance ${short.balance})` : ""
  yield* say(`bob tried to withdraw 500 → typed error ${short._tag}${detail}; bob keeps running`)

  yield* scene("2. Supervision: an auditor crashes on every 4th entry and is restarted with backoff")
  let incarnation = 0
  const audit = yield* system.spawn(auditor(() => void incarnation++), { name: "auditor" })
  for (let entry = 1; entry <= 9; entry++) yield* audit.tell(new Audit({ entry }))
  yield* Effect.sleep("150 millis")
  yield* say(`auditor is in incarnation ${incarnation}; entries audited since its last restart: ${yield* audit.ask(new Audited())}`)

  yield* scene("3. Backpressure: a slow clerk with a 3-message mailbox; the sender waits")
  const c = yield* system.spawn(clerk, { name: "clerk" })
  const t0 = performance.now()
  for (let page = 1; page <= 8; page++) yield* c.tell(new File({ page }))
  yield* say(`sent 8 pages in ${(performance.now() - t0).toFixed(0)} ms (the sender was held back while the mailbox was full)`)
  yield* say(`clerk filed ${yield* c.ask(new Filed())} pages`)

  yield* scene("4. Per-message timeout: a stuck job becomes a failure, the worker resumes")
  const w = yield* system.spawn(worker, { name: "worker" })
  yield* w.tell(new Stuck({ job: 1, millis: 10 }))
  yield* w.tell(new Stuck({ job: 2, millis: 10_000 }))
  yield* w.tell(new Stuck({ job: 3, millis: 10 }))
  yield* say(`worker finished ${yield* w.ask(new Progress())} jobs; job 2 timed out after 200 ms`)

  yield* scene("5. Death watch: a watcher hears when an account closes")
  const lines: Array<string> = []
  const watch = yield* system.spawn(watcher((l) => lines.push(l)), { name: "watcher" })
  yield* watch.ask(new Watch({ target: bob }))
  yield* bob.stop
  yield* Effect.sleep("10 millis")
  for (const l of lines) yield* say(`watcher: ${l}`)
  yield* bob.tell(new Deposit({ amount: 1 }))
  yield* Effect.sleep("10 millis")

  const stats = yield* system.stats
  yield* scene("Summary")
  yield* say(
    `${stats.processed} messages handled, ${stats.failures} failures, ${stats.restarts} restarts, ` +
      `${stats.deadLetters} dead letters, ${stats.live} actors alive`
  )
  yield* Fiber.interrupt(printer)
})

program.pipe(Effect.scoped, Effect.provide(ActorSystem.layer()), NodeRuntime.runMain)
