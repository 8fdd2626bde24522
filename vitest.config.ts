import path from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    alias: {
      // `import "server-only"` throws outside Next's react-server graph; tests run server code directly.
      "server-only": path.resolve("node_modules/server-only/empty.js"),
      "@": path.resolve("."),
    },
  },
  test: {
    include: ["**/*.test.ts"],
    exclude: ["node_modules/**", "e2e/**", ".next/**", "data/**"],
    // Each file gets its own process: PKCS#11 is initialised once per process against one SOFTHSM2_CONF.
    pool: "forks",
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
