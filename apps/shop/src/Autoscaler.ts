/**
 * The autoscaler: every `interval` it looks at the warehouse backlog and resizes the pool
 * between its bounds. Scale up fast (one step per tick while work waits longer than it should),
 * scale down slowly (only after the backlog stayed small for `cooldownTicks` ticks), so a short
 * lull does not shrink the pool just before the next wave.
 *
 * When the pool is at its maximum and the backlog still grows, nothing more can scale: the
 * front desk's high-water mark takes over and answers `Overloaded` (HTTP 429).
 */
import { Duration, Effect, Schedule } from "effect"
import type { Figures } from "./Desk.js"

/** The decision for one tick: the new pool size. */
export const decide = (
  f: Pick<Figures, "backlog" | "workers" | "minWorkers" | "maxWorkers" | "oldestAgeMs">,
  state: { calmTicks: number },
  options: { readonly upAtBacklogPerWorker: number; readonly upAtAgeMs: number; readonly cooldownTicks: number }
): number => {
  const pressure = f.backlog > options.upAtBacklogPerWorker * f.workers || f.oldestAgeMs > options.upAtAgeMs
  if (pressure) {
    state.calmTicks = 0
    return Math.min(f.maxWorkers, f.workers + 1)
  }
  const calm = f.backlog < (options.upAtBacklogPerWorker * f.workers) / 4
  state.calmTicks = calm ? state.calmTicks + 1 : 0
  if (state.calmTicks >= options.cooldownTicks && f.workers > f.minWorkers) {
    state.calmTicks = 0
    return f.workers - 1
  }
  return Math.max(f.minWorkers, Math.min(f.maxWorkers, f.workers))
}

/** Runs the autoscaler forever (fork it). */
export const run = (
  figures: () => Figures,
  resize: (n: number) => Effect.Effect<void>,
  options: {
    readonly interval?: Duration.Input | undefined
    readonly upAtBacklogPerWorker?: number | undefined
    readonly upAtAgeMs?: number | undefined
    readonly cooldownTicks?: number | undefined
  } = {}
): Effect.Effect<void> => {
  const state = { calmTicks: 0 }
  const resolved = {
    upAtBacklogPerWorker: options.upAtBacklogPerWorker ?? 40,
    upAtAgeMs: options.upAtAgeMs ?? 1000,
    cooldownTicks: options.cooldownTicks ?? 6
  }
  const tick = Effect.suspend(() => {
    const f = figures()
    const next = decide(f, state, resolved)
    return next === f.workers ? Effect.void : resize(next)
  })
  return Effect.asVoid(Effect.repeat(tick, Schedule.spaced(options.interval ?? "500 millis")))
}
