// Lets Node (with type stripping) run this package's TypeScript sources directly: source
// imports say `./X.js`; resolve them to `./X.ts` when no `.js` file exists.
import { registerHooks } from "node:module"

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context)
    } catch (error) {
      if (specifier.startsWith(".") && specifier.endsWith(".js")) {
        return nextResolve(specifier.slice(0, -3) + ".ts", context)
      }
      throw error
    }
  }
})
