/**
 * The benchmark figures and their contenders. `run.ts` reads this to know what to spawn;
 * `worker.ts` uses it to find the function to call inside a child process.
 */

export type Role = "ceiling" | "effect" | "library" | "mailroom"

export interface ContenderSpec {
  readonly name: string
  readonly role: Role
  /** Module (relative to this file) and exported function returning a `ProcessResult`. */
  readonly module: string
  readonly fn: string
  /** One line: how the contender is driven. */
  readonly how: string
  /** Shown for information only: the figure's target is not applied to it. */
  readonly informational?: boolean
  /** Fewer processes than the figure's `runs` for a contender that takes seconds per process. */
  readonly runs?: number
}

export interface Target {
  readonly op: ">=" | "<="
  readonly value: number
  /** For tell: Mailroom must also be ahead of every `library` contender. */
  readonly aheadOfLibraries?: boolean
}

export interface FigureSpec {
  readonly id: string
  readonly title: string
  readonly unit: string
  readonly higherIsBetter: boolean
  readonly target: Target
  /** Contender the ratio column is computed against. */
  readonly baseline: string
  /** Processes per contender unless `--runs` says otherwise. */
  readonly runs: number
  readonly contenders: ReadonlyArray<ContenderSpec>
}

export const figures: ReadonlyArray<FigureSpec> = [
  {
    id: "tell",
    title: "tell throughput, one sender -> one actor, 1,000,000 messages",
    unit: "msg/s",
    higherIsBetter: true,
    target: { op: ">=", value: 20_000_000, aheadOfLibraries: true },
    baseline: "array push-and-loop",
    runs: 5,
    contenders: [
      {
        name: "array push-and-loop",
        role: "ceiling",
        module: "./baseline.ts",
        fn: "tell",
        how: "push {n} x1M into a JS array, then loop adding n"
      },
      {
        name: "effect Queue.offerUnsafe",
        role: "effect",
        module: "./effect.ts",
        fn: "tellUnsafe",
        how: "Queue.offerUnsafe loop; consumer fiber Queue.takeAll"
      },
      {
        name: "effect Queue.offer (gen)",
        role: "effect",
        module: "./effect.ts",
        fn: "tellEffect",
        how: "yield* Queue.offer in one Effect.gen loop; consumer fiber Queue.takeAll"
      },
      {
        name: "xstate fromTransition",
        role: "library",
        module: "./xstate.ts",
        fn: "tell",
        how: "createActor(fromTransition(...)).start(); actor.send loop"
      },
      {
        name: "nact",
        role: "library",
        module: "./nact.ts",
        fn: "tell",
        how: "spawn(system, reducer); dispatch loop (3 processes: ~5 s each)",
        runs: 3
      },
      {
        name: "mailroom tellUnsafe",
        role: "mailroom",
        module: "./mailroom.ts",
        fn: "tellUnsafe",
        how: "system.spawn(behavior); ref.tellUnsafe loop"
      },
      {
        name: "mailroom tell (gen)",
        role: "mailroom",
        module: "./mailroom.ts",
        fn: "tellEffect",
        how: "yield* ref.tell in one Effect.gen loop"
      },
      {
        name: "mailroom tellUnsafe + new Add()",
        role: "mailroom",
        module: "./mailroom.ts",
        fn: "tellUnsafeConstructing",
        how: "ref.tellUnsafe(new Add({ n })) loop: Schema class construction inside the timed loop",
        informational: true,
        runs: 3
      }
    ]
  },
  {
    id: "ask",
    title: "ask round trips, sequential (each reply awaited before the next ask)",
    unit: "round trips/s",
    higherIsBetter: true,
    target: { op: ">=", value: 1_500_000 },
    baseline: "effect Queue + Deferred",
    runs: 5,
    contenders: [
      {
        name: "effect Queue + Deferred",
        role: "effect",
        module: "./effect.ts",
        fn: "ask",
        how: "gen loop: Deferred.make, Queue.offer, Deferred.await; server fiber take + Deferred.succeed"
      },
      {
        name: "xstate fromTransition",
        role: "library",
        module: "./xstate.ts",
        fn: "ask",
        how: "actor.send; transition replies with actorScope.emit; actor.on resolves a promise"
      },
      {
        name: "nact query",
        role: "library",
        module: "./nact.ts",
        fn: "ask",
        how: "await query(ref, sender => msg, 5000); actor dispatches the reply to sender"
      },
      {
        name: "mailroom ask (gen)",
        role: "mailroom",
        module: "./mailroom.ts",
        fn: "ask",
        how: "yield* ref.ask(request) in one Effect.gen loop; handler ctx.reply"
      }
    ]
  },
  {
    id: "memory",
    title: "idle actor memory, 100,000 idle actors (heapUsed delta after full GC / 100,000)",
    unit: "B/actor",
    higherIsBetter: false,
    target: { op: "<=", value: 400 },
    baseline: "effect fiber per actor",
    runs: 3,
    contenders: [
      {
        name: "effect fiber per actor",
        role: "effect",
        module: "./effect.ts",
        fn: "memoryFiber",
        how: "Effect.forkDetach(Deferred.await(d)) per actor"
      },
      {
        name: "effect fiber + queue",
        role: "effect",
        module: "./effect.ts",
        fn: "memoryQueueFiber",
        how: "Queue.unbounded + Effect.forkDetach(Queue.take(q)) per actor"
      },
      {
        name: "xstate fromTransition",
        role: "library",
        module: "./xstate.ts",
        fn: "memory",
        how: "createActor(fromTransition(...)).start() per actor"
      },
      { name: "nact", role: "library", module: "./nact.ts", fn: "memory", how: "spawn(system, reducer, name) per actor" },
      { name: "mailroom", role: "mailroom", module: "./mailroom.ts", fn: "memory", how: "system.spawn(behavior) per actor" }
    ]
  },
  {
    id: "spawn",
    title: "spawn rate, 100,000 actors per round",
    unit: "actors/s",
    higherIsBetter: true,
    target: { op: ">=", value: 1_000_000 },
    baseline: "effect fiber per actor",
    runs: 3,
    contenders: [
      {
        name: "effect fiber per actor",
        role: "effect",
        module: "./effect.ts",
        fn: "spawnFiber",
        how: "Effect.forkDetach(Deferred.await(d)) in one Effect.gen loop"
      },
      {
        name: "xstate fromTransition",
        role: "library",
        module: "./xstate.ts",
        fn: "spawn",
        how: "createActor(fromTransition(...)).start()"
      },
      { name: "nact", role: "library", module: "./nact.ts", fn: "spawn", how: "spawn(system, reducer, name)" },
      {
        name: "mailroom",
        role: "mailroom",
        module: "./mailroom.ts",
        fn: "spawn",
        how: "yield* system.spawn(behavior) in one Effect.gen loop"
      }
    ]
  }
]

export const findContender = (figureId: string, name: string): ContenderSpec | undefined =>
  figures.find((f) => f.id === figureId)?.contenders.find((c) => c.name === name)
