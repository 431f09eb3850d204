/**
 * A seeded pseudo-random generator (mulberry32: 32 bits of state, fast, good enough for tests,
 * load generators and fault injection — not for anything secret), so a run can be replayed from
 * its seed.
 *
 * @example
 * ```ts
 * const random = Random.seeded(42)
 * random() // the same number in [0, 1) on every run
 * ```
 */
export const seeded = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
