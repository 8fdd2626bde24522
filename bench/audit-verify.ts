// The verifier's side of the audit bench: a period of `events` events built in memory as the exporter builds
// it (chained with chain.ts, leaves and tree with log/merkle.ts, a checkpoint signed by a test Ed25519 key as a
// C2SP note through log/note.ts: server/audit/evidence/testing/memory-bundle.ts; no database), written to a
// file as the download writes it (server/reports/evidence-json.ts: one event per line, keyward-evidence/v2; or
// `v1`: the old format as one JSON.stringify line), then checked by the CLI a regulator runs
// (scripts/keyward-verify.mjs, or an older copy given with --verify-cli) as a child process under
// /usr/bin/time: wall seconds (node and tsx start-up included) and the child's peak RSS. The file is deleted
// afterwards.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type MemoryLog, memoryLog } from "@/server/audit/evidence/testing/memory-bundle";
import { evidenceJsonStream } from "@/server/reports/evidence-json";

export type VerifyFigures = {
  events: number;
  format: "v1" | "v2";
  bundleMiB: number;
  buildSeconds: number;
  runs: { quiet: boolean; seconds: number; peakRssMiB: number; ok: boolean }[];
};

async function writeBundle(file: string, log: MemoryLog, format: "v1" | "v2"): Promise<void> {
  if (format === "v1") {
    writeFileSync(file, JSON.stringify(log.bundleV1()));
    return;
  }
  const out = createWriteStream(file);
  const reader = evidenceJsonStream(log.bundle).getReader();
  for (let next = await reader.read(); !next.done; next = await reader.read())
    if (!out.write(next.value)) await once(out, "drain");
  out.end();
  await once(out, "finish");
}

/** The CLI on the file, under /usr/bin/time; stdout (every check, or only failures) to /dev/null. */
async function runCli(cli: string, file: string, vkey: string, quiet: boolean) {
  const child = spawn(
    "/usr/bin/time",
    [
      "-f",
      "BENCH_TIME %e %M",
      process.execPath,
      cli,
      file,
      "--verifier-key",
      vkey,
      ...(quiet ? ["--quiet"] : []),
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  child.stderr.on("data", (d) => {
    err += String(d);
  });
  const [code] = (await once(child, "exit")) as [number | null];
  const m = /BENCH_TIME ([\d.]+) (\d+)/.exec(err);
  if (m === null) throw new Error(`the CLI did not report its time: ${err.slice(-500)}`);
  return { quiet, seconds: Number(m[1]), peakRssMiB: Number(m[2]) / 1024, ok: code === 0 };
}

export async function measureVerification(
  events: number,
  o: { format?: "v1" | "v2"; cli?: string; printing?: boolean } = {},
): Promise<VerifyFigures> {
  const format = o.format ?? "v2";
  const cli = o.cli ?? path.join(process.cwd(), "scripts/keyward-verify.mjs");
  const dir = mkdtempSync(path.join(tmpdir(), "keyward-bench-verify-"));
  try {
    const file = path.join(dir, "bundle.json");
    const started = performance.now();
    let log: MemoryLog | undefined = memoryLog({
      size: events + 2,
      checkpointSizes: [events + 2],
      fromSeq: 2,
      toSeq: events + 1,
    });
    await writeBundle(file, log, format);
    const vkey = log.key.vkey;
    log = undefined; // the child is what is measured; let this process's copy go
    const buildSeconds = (performance.now() - started) / 1000;
    const runs = [await runCli(cli, file, vkey, true)];
    if (o.printing !== false) runs.push(await runCli(cli, file, vkey, false));
    return { events, format, bundleMiB: statSync(file).size / 2 ** 20, buildSeconds, runs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
