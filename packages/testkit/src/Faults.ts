/**
 * Fault injection for tests: a seeded, reproducible source of failures that a handler or a
 * backend consults, so that a test can say "20% of steps fail" and replay the same run.
 */
import { Effect, Schema } from "effect"
import { seeded } from "./Random.js"

/** The error an injected fault raises. */
export class InjectedFault extends Schema.TaggedError<InjectedFault>()("InjectedFault", {
  site: Schema.String,
  draw: Schema.Number
}) {
  override get message(): string {
    return `injected fault at ${this.site} (draw ${this.draw})`
  }
}

/** A seeded fault source. */
export interface Faults {
  /** Decides the next draw: true means "fail now". */
  readonly next: (site: string) => boolean
  /** Fails with `InjectedFault` when the next draw says so, else succeeds. */
  readonly maybeFail: (site: string) => Effect.Effect<void, InjectedFault>
  /** How many faults were injected per site. */
  readonly injected: ReadonlyMap<string, number>
}

/**
 * A fault source failing with probability `rate` (0..1), driven by a seeded PRNG
 * (`Random.seeded`), so the same seed replays the same faults.
 */
export const make = (options: { readonly rate: number; readonly seed?: number }): Faults => {
  if (!(options.rate >= 0 && options.rate <= 1)) {
    throw new RangeError(`Faults.make: rate must be within 0..1, got ${String(options.rate)}`)
  }
  const random = seeded(options.seed ?? 1)
  const injected = new Map<string, number>()
  let draws = 0
  const next = (site: string) => {
    draws++
    const fail = random() < options.rate
    if (fail) injected.set(site, (injected.get(site) ?? 0) + 1)
    return fail
  }
  return {
    next,
    maybeFail: (site) => Effect.suspend(() => (next(site) ? Effect.fail(new InjectedFault({ site, draw: draws })) : Effect.void)),
    injected
  }
}
