import { defineConfig } from "vitest/config"

/** Shared vitest settings: resolve workspace packages to their TypeScript sources. */
export const shared = defineConfig({
  resolve: { conditions: ["@mailroom/source"] },
  ssr: { resolve: { conditions: ["@mailroom/source"] } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000
  }
})
