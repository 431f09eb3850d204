/**
 * Counters of the sharded actors running in this process, per entity type: plain numbers on
 * the hot path, read by `ShardedActor.stats` (a runner's share of the cluster's work).
 */
export interface Counters {
  /** Messages handled (the handler ended and the reply was given to the cluster). */
  processed: number
  failures: number
  restarts: number
  deadLetters: number
  /** Entities active (resident) on this runner now. */
  active: number
}

const byType = new Map<string, Counters>()

export const forType = (entityType: string): Counters => {
  let counters = byType.get(entityType)
  if (counters === undefined) {
    counters = { processed: 0, failures: 0, restarts: 0, deadLetters: 0, active: 0 }
    byType.set(entityType, counters)
  }
  return counters
}

export const snapshot = (): Record<string, Readonly<Counters>> => {
  const out: Record<string, Counters> = {}
  for (const [type, counters] of byType) out[type] = { ...counters }
  return out
}
