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
    // Builds the HSM pool's worker threads into <root>/server/hsm/.build first: pools run that built JavaScript only.
    globalSetup: ["server/hsm/testing/global-setup.ts"],
    // ...and again in each test file's process if a source changed since (see worker-setup.ts).
    setupFiles: ["server/hsm/testing/worker-setup.ts"],
    // next-auth imports "next/server" without an extension, which Node's ESM loader cannot resolve; let Vite.
    server: { deps: { inline: ["next-auth"] } },
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
