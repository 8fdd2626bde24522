#!/usr/bin/env node
// The full-size key.create batch (issue 12 item 5): one approved batch of 10,000 secp256k1 keys executed on a
// fresh SoftHSM token in chunks, as the server does it, timed (keys/s, and the share of the recording
// transactions with one key.created per key), then checked: every key recorded once under its batch
// reference, progress at the total, audit chain intact. The short tests of the same are
// server/operations/executor/batch.integration.test.ts. Needs softhsm2-util.
//
//   node scripts/soak-batch.mjs [--count 10000] [--in-flight 2] [--threads 2] [--compare 150] [--record-only]
//                               [--max-minutes M] [--url postgres://… | --pglite]
//
// --compare N first runs three batches of N keys at 1, 2 and 4 calls in flight. --record-only times the
// recording transactions alone with made-up keys (no HSM). --max-minutes stops a run that would outlast it
// (exit code 2, after its last progress line). Without --url (or
// TEST_DATABASE_URL) it runs on PGlite in a folder. Exit code 0 when no problem was found, 1 otherwise.
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
const { buildHsmWorkers } = await import("./build-hsm-worker.mjs");
buildHsmWorkers();
const maxMinutes = Number(option("max-minutes", "0"));
if (maxMinutes > 0) {
  setTimeout(() => {
    console.log(
      `soak-batch: stopped after ${maxMinutes} min, before the batch ended (see the progress lines).`,
    );
    process.exit(2);
  }, maxMinutes * 60_000).unref();
}
const { soakBatch } = await import("../server/operations/executor/testing/soak-batch.ts");
const report = await soakBatch({
  count: Number(option("count", "10000")),
  inFlight: Number(option("in-flight", "2")),
  threads: Number(option("threads", "2")),
  compare: Number(option("compare", "0")),
  recordOnly: process.argv.includes("--record-only"),
  url: process.argv.includes("--pglite")
    ? undefined
    : option("url", process.env.TEST_DATABASE_URL) || undefined,
  log: (line) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`),
});
if (report.problems.length > 0) {
  console.error(`soak-batch: ${report.problems.length} problem(s):\n${report.problems.join("\n")}`);
  process.exit(1);
}
console.log(
  process.argv.includes("--record-only")
    ? "soak-batch: recording measured (made-up keys, no HSM)."
    : "soak-batch: every key recorded once under its batch reference, progress at the total, audit chain intact.",
);
process.exit(0);
