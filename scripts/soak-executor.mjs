#!/usr/bin/env node
// The long kill -9 run of the executor (issue 12 item 9): hundreds of rounds in which a child server process
// claims and executes an approved key.create and is SIGKILLed at a random moment, then this process recovers;
// after each round every operation is executed exactly once and the audit chain is intact. The short loop of
// the same is server/operations/executor/kill.integration.test.ts. Uses a fresh SoftHSM token in a temp folder.
//
//   node scripts/soak-executor.mjs [--rounds 300] [--per-round 3] [--max-kill-ms 400] [--url postgres://… | --pglite]
//
// Without --url (or TEST_DATABASE_URL) it runs on PGlite in a folder (slower: every child opens it anew).
// Exit code 0 when no problem was found, 1 otherwise.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// The server's modules need the react-server condition (server-only) and tsx; run again with both.
if (!process.execArgv.includes("--conditions=react-server")) {
  const again = spawnSync(
    process.execPath,
    [
      "--conditions=react-server",
      "--import",
      "tsx",
      fileURLToPath(import.meta.url),
      ...process.argv.slice(2),
    ],
    { cwd: root, stdio: "inherit" },
  );
  process.exit(again.status ?? 1);
}

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

process.chdir(root);
const { soak } = await import("../server/operations/executor/testing/soak.ts");
const started = Date.now();
const report = await soak({
  rounds: Number(option("rounds", "300")),
  perRound: Number(option("per-round", "3")),
  maxKillMs: Number(option("max-kill-ms", "400")),
  // --pglite runs on PGlite even when TEST_DATABASE_URL is set.
  url: process.argv.includes("--pglite") ? undefined : option("url", process.env.TEST_DATABASE_URL) || undefined,
  log: (line) => console.log(line),
});
console.log(
  `soak-executor: ${report.rounds} rounds, ${report.operations} operations, ${((Date.now() - started) / 1000).toFixed(0)} s; child's last line when killed: ${JSON.stringify(report.killedAt)}`,
);
if (report.problems.length > 0) {
  console.error(`soak-executor: ${report.problems.length} problem(s):\n${report.problems.join("\n")}`);
  process.exit(1);
}
console.log("soak-executor: every operation executed exactly once, none lost, audit chain intact.");
process.exit(0);
