// `npm start`: install what is missing, prepare the HSM token, build, then serve the console on loopback.
// The server migrates the database and prints the first-admin setup code itself when it boots.
import { spawn } from "node:child_process";
import path from "node:path";
import { ensureBuild, ensureDependencies, ensureHsm, ROOT, step } from "./prepare.mjs";

const dataDir = path.resolve(ROOT, process.env.KEYWARD_DATA_DIR ?? "data");
const port = process.env.PORT ?? "3000";
const host = process.env.KEYWARD_HOST ?? "127.0.0.1";

try {
  ensureDependencies();
  await ensureHsm(dataDir);
  ensureBuild();
} catch (e) {
  console.error(`\nKeyward could not start: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
}

step(`Starting Keyward on http://localhost:${port}`);
const server = spawn(path.join(ROOT, "node_modules", ".bin", "next"), ["start", "-p", port, "-H", host], {
  cwd: ROOT,
  stdio: "inherit",
  env: {
    ...process.env,
    KEYWARD_DATA_DIR: dataDir,
    KEYWARD_ORIGIN: process.env.KEYWARD_ORIGIN ?? `http://localhost:${port}`,
    SOFTHSM2_CONF: process.env.SOFTHSM2_CONF ?? path.join(dataDir, "softhsm2.conf"),
    NEXT_TELEMETRY_DISABLED: "1",
  },
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.kill(signal));
server.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
