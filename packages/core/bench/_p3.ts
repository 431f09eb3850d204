import { Effect, Schema } from "effect"
import { Actor, ActorSystem } from "@mailroom/core"
class Add extends Schema.TaggedClass<Add>()("Add", { n: Schema.Number }) {}
const B = Actor.behavior(Actor.protocol(Add), { initial: () => 0, receive: (s, m) => Effect.succeed(s + m.n) })
const prog = Effect.gen(function*() {
  for (let r = 0; r < 6; r++) {
    const refs = new Array(100_000)
    const t0 = performance.now()
    for (let i = 0; i < 100_000; i++) refs[i] = yield* ActorSystem.spawn(B)
    const t1 = performance.now()
    const objs = new Array(100_000)
    for (let i = 0; i < 100_000; i++) objs[i] = { a: i, b: null, c: null, d: null, e: null, f: null, g: null, h: null, i: null, j: null, k: null, l: null, m: null, n: null, o: null, p: null, q: null, r: null, s: null, t:null }
    const t2 = performance.now()
    console.log("spawn M/s", (100_000 / (t1 - t0) / 1000).toFixed(2), "plain 20-field objects M/s", (100_000 / (t2 - t1) / 1000).toFixed(2))
    for (const ref of refs) ref.tellUnsafe(new Add({n:1}))
  }
})
Effect.runPromise(prog.pipe(Effect.provide(ActorSystem.layer({ shutdown: "immediate" }))))
