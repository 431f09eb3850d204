/**
 * Lets Node run the workspace TypeScript sources in runner child processes: `./X.js` imports
 * resolve to `./X.ts`, `@mailroom/*` packages to their sources.
 */
import { existsSync } from "node:fs"
import { registerHooks } from "node:module"
import { fileURLToPath } from "node:url"

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier.endsWith(".js") && context.parentURL?.endsWith(".ts") && specifier.startsWith(".")) {
      const url = new URL(specifier, context.parentURL)
      if (!existsSync(fileURLToPath(url))) {
        return nextResolve(specifier.slice(0, -3) + ".ts", context)
      }
    }
    return nextResolve(specifier, { ...context, conditions: ["@mailroom/source", ...context.conditions] })
  }
})
