// Shared preparation for `npm start` and `npm test`: npm dependencies, SoftHSM (token, PINs, KEK), and a
// production build when the sources changed. Plain Node: it runs before dependencies are installed.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
// Plain Node too: it loads esbuild only when it builds, after ensureDependencies.
import { buildHsmWorkers } from "./build-hsm-worker.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export function step(message) {
  console.log(`\n▸ ${message}`);
}

export function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: ROOT, stdio: "inherit", ...options });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed with exit code ${result.status}`);
  }
}

function newestMtime(entry) {
  const stat = statSync(entry);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const name of readdirSync(entry)) newest = Math.max(newest, newestMtime(path.join(entry, name)));
  return newest;
}

/** npm ci when node_modules is missing or older than the lockfile. */
export function ensureDependencies() {
  const marker = path.join(ROOT, "node_modules", ".package-lock.json");
  const lock = path.join(ROOT, "package-lock.json");
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  step("Installing npm dependencies (npm ci)");
  run("npm", ["ci", "--no-audit", "--no-fund"]);
}

export async function ensureHsm(dataDir, env = process.env) {
  step(`Preparing the HSM tokens in ${dataDir}`);
  const { prepareHsm } = await import("./prepare-hsm.mjs");
  await prepareHsm({
    dataDir,
    // Tokens and labels come from the environment, read by the same rules as server/env.ts.
    tokenLabel: env.KEYWARD_HSM_TOKEN_LABEL || undefined,
    env,
    log: (line) => console.log(`  ${line}`),
  });
}

const BUILD_INPUTS = [
  "app",
  "server",
  "db",
  "public",
  "next.config.ts",
  "package-lock.json",
  "tsconfig.json",
  "instrumentation.ts",
  "postcss.config.mjs",
];

/**
 * The HSM pool's worker thread, built into <root>/server/hsm/.build from the sources it runs (scripts/build-hsm-worker.mjs):
 * the server's pools run only that file, and refuse it once a source it was built from has changed.
 */
export function ensureHsmWorker() {
  const built = buildHsmWorkers();
  if (built.length > 0) step(`Built the HSM worker (${built.map((f) => path.relative(ROOT, f)).join(", ")})`);
}

/** The HSM worker, then next build when there is no build or a source is newer than it. */
export function ensureBuild(env = process.env) {
  ensureHsmWorker();
  const buildId = path.join(ROOT, ".next", "BUILD_ID");
  if (existsSync(buildId)) {
    const built = statSync(buildId).mtimeMs;
    const newest = Math.max(
      ...BUILD_INPUTS.map((p) => path.join(ROOT, p))
        .filter(existsSync)
        .map(newestMtime),
    );
    if (newest <= built) return;
  }
  step("Building the console (next build)");
  run(path.join(ROOT, "node_modules", ".bin", "next"), ["build"], {
    env: { ...env, NEXT_TELEMETRY_DISABLED: "1" },
  });
}
