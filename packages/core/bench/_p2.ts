import { Effect, Schema } from "effect"
import { Actor, ActorSystem } from "@mailroom/core"
class Add extends Schema.TaggedClass<Add>()("Add", { n: Schema.Number }) {}
const P = Actor.protocol(Add)
const B = Actor.behavior(P, { initial: () => 0, receive: (s, m) => Effect.succeed(s + m.n) })
const N = 1_000_000
const msgs = Array.from({ length: 1000 }, (_, i) => new Add({ n: i }))
const prog = Effect.gen(function*() {
  for (let round = 0; round < 8; round++) {
    const ref = yield* ActorSystem.spawn(B)
    const t0 = performance.now()
    for (let i = 0; i < N; i++) ref.tellUnsafe(msgs[i % 1000])
    const t1 = performance.now()
    yield* ref.stop
    const t2 = performance.now()
    console.log("tell Mmsg/s", (N / (t2 - t0) / 1000).toFixed(1), "enqueue ms", (t1-t0).toFixed(1), "drain ms", (t2-t1).toFixed(1))
  }
  const arr: any[] = []; let s = 0
  const t0 = performance.now()
  for (let i = 0; i < N; i++) arr.push(msgs[i % 1000]); for (let i = 0; i < arr.length; i++) s += arr[i].n
  console.log("baseline M/s", (N / (performance.now() - t0) / 1000).toFixed(1))
})
Effect.runPromise(prog.pipe(Effect.provide(ActorSystem.layer({ shutdown: "immediate" }))))
