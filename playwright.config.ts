import { defineConfig } from "@playwright/test";

// The browser suite drives Debian's Chromium (no browser download) against a production build served by
// e2e/global-setup.ts on its own port and data folder, with CDP virtual authenticators as hardware tokens.
export const E2E_PORT = 3100;

export default defineConfig({
  testDir: "e2e",
  globalSetup: "./e2e/global-setup.ts",
  // One server, one PGlite owner, specs that build on each other's members: run in order.
  workers: 1,
  fullyParallel: false,
  forbidOnly: Boolean(process.env.CI),
  retries: 0,
  // A limit for a hung test, not a speed target: a spec with four people and several quorum operations takes
  // about a minute on a loaded 2-core machine (benchmarks in bench/ measure speed, never these).
  timeout: 180_000,
  expect: { timeout: 10_000 },
  reporter: [["list"]],
  use: {
    baseURL: `http://localhost:${E2E_PORT}`,
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
      ],
    },
  },
});
