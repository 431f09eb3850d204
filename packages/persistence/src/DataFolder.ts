/**
 * The folder an embedded database lives in (the apps' `--data`): created if missing, checked
 * writable, with a typed error naming the folder and why.
 *
 * Node's `mkdirSync(path, { recursive: true })` never returns for a path under a pseudo file
 * system that refuses new entries (e.g. `/proc/x`, seen on Node 20 and 24): it spins at full
 * CPU and no signal handler runs. `ensure` creates the missing folders one at a time instead.
 */
import { Effect, Schema } from "effect"
import { accessSync, constants, mkdirSync, statSync } from "node:fs"
import { dirname, resolve } from "node:path"

/** The data folder cannot be created or written. */
export class DataFolderError extends Schema.TaggedError<DataFolderError>()("DataFolderError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot use the data folder ${this.path}: ${this.reason}`
  }
}

const codeOf = (e: unknown) => (e as { code?: unknown })?.code

/** Creates `path` and its missing parents (one at a time) and checks it is a writable folder. */
export const ensureSync = (path: string): DataFolderError | undefined => {
  const full = resolve(path)
  const missing: Array<string> = []
  let at = full
  while (true) {
    try {
      if (!statSync(at).isDirectory()) return new DataFolderError({ path: full, reason: `${at} exists and is not a folder` })
      break
    } catch (e) {
      if (codeOf(e) !== "ENOENT") return new DataFolderError({ path: full, reason: `${at}: ${String(codeOf(e) ?? e)}` })
      missing.push(at)
      const parent = dirname(at)
      if (parent === at) break
      at = parent
    }
  }
  for (let i = missing.length - 1; i >= 0; i--) {
    try {
      mkdirSync(missing[i]!)
    } catch (e) {
      if (codeOf(e) === "EEXIST" && statSync(missing[i]!).isDirectory()) continue
      return new DataFolderError({ path: full, reason: `cannot create ${missing[i]}: ${String(codeOf(e) ?? e)}` })
    }
  }
  try {
    accessSync(full, constants.W_OK)
  } catch (e) {
    return new DataFolderError({ path: full, reason: `not writable (${String(codeOf(e) ?? e)})` })
  }
  return undefined
}

/** `ensureSync` as an Effect. */
export const ensure = (path: string): Effect.Effect<void, DataFolderError> =>
  Effect.suspend(() => {
    const error = ensureSync(path)
    return error === undefined ? Effect.void : Effect.fail(error)
  })
