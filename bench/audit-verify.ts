// The verifier's side of the audit bench: a period of `events` events built in memory as the exporter builds
// it (chained, hashed, proved to an Ed25519-signed checkpoint: server/audit/evidence/testing/memory-bundle.ts),
// written out as the JSON file a regulator receives, then read back and checked by verifyBundle, the module
// the CLI and /verify run. Times the verification (JSON parse included), with the same file's JSON.parse alone
// as the base, and reports the process's peak resident memory (getrusage maxrss: building the bundle in the
// same process counts too, so it is an upper bound for the verifier).
import { verifyBundle } from "@/server/audit/evidence/verify";
import { memoryLog } from "@/server/audit/evidence/testing/memory-bundle";

export type VerifyFigures = {
  events: number;
  bundleMiB: number;
  parseMs: number;
  verifyMs: number;
  peakRssMiB: number;
  ok: boolean;
};

export async function measureVerification(events: number): Promise<VerifyFigures> {
  const log = memoryLog({ size: events + 2, checkpointSizes: [events + 2], fromSeq: 2, toSeq: events + 1 });
  const text = JSON.stringify(log.bundle);
  const mib = (bytes: number) => bytes / 2 ** 20;
  const parseStart = performance.now();
  JSON.parse(text);
  const parseMs = performance.now() - parseStart;
  const start = performance.now();
  const result = verifyBundle(JSON.parse(text), { verifierKey: log.key.vkey });
  const verifyMs = performance.now() - start;
  return {
    events,
    bundleMiB: mib(text.length),
    parseMs,
    verifyMs,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    ok: result.ok,
  };
}
