#!/usr/bin/env node
// keyward-verify: checks a Keyward evidence bundle offline (no network, nothing of the operator's trusted but the
// audit key): `keyward-verify bundle.json [--trusted-checkpoint old.txt] [--verifier-key <vkey>]
// [--attestation-root root.pem]… [--crl vendor.crl]… [--quiet]`.
// Prints every check and a verdict; exits 0 when every item verifies, 1 otherwise (or on bad arguments).
// The checks are server/audit/evidence/verify.ts, the module the /verify page runs, loaded through tsx.
// A bundle as Keyward writes it (server/reports/evidence-json.ts: every field but the events on the first line,
// then one event per line) is read as a stream of lines, each event parsed and checked as it comes, so a
// million events take a few hundred MiB, not the file's size many times over; any other JSON file (one line,
// pretty-printed) is read whole. Node's SHA-256 (node:crypto) stands in for noble's here: same hashes, faster.
// KEYWARD_VERIFY_STATS=1 prints the time, peak RSS and how the file was read to stderr (the bench reads it).
import { createHash, hash as cryptoHash } from "node:crypto";
import { closeSync, createReadStream, openSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath, pathToFileURL } from "node:url";
import { register } from "tsx/esm/api";

const USAGE =
  "usage: keyward-verify bundle.json [--trusted-checkpoint checkpoint.txt] [--verifier-key <vkey>] [--attestation-root root.pem]... [--crl vendor.crl]... [--quiet]";

function parseArgs(argv) {
  const out = {
    bundle: undefined,
    trusted: undefined,
    verifierKey: undefined,
    roots: [],
    crls: [],
    quiet: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--trusted-checkpoint") out.trusted = argv[++i];
    else if (a === "--verifier-key") out.verifierKey = argv[++i];
    else if (a === "--attestation-root") {
      const file = argv[++i];
      if (file === undefined || file === "") throw new Error("--attestation-root needs a value");
      out.roots.push(file);
    } else if (a === "--crl") {
      const file = argv[++i];
      if (file === undefined || file === "") throw new Error("--crl needs a value");
      out.crls.push(file);
    } else if (a === "--quiet") out.quiet = true;
    else if (a === "--help" || a === "-h") return null;
    else if (a.startsWith("--") || out.bundle !== undefined) throw new Error(`unexpected argument ${a}`);
    else out.bundle = a;
  }
  if (out.bundle === undefined) throw new Error("no bundle given");
  for (const [flag, v] of [
    ["--trusted-checkpoint", out.trusted],
    ["--verifier-key", out.verifierKey],
  ])
    if (v === "") throw new Error(`${flag} needs a value`);
  return out;
}

let args;
try {
  args = parseArgs(process.argv.slice(2));
} catch (e) {
  console.error(`keyward-verify: ${e.message}\n${USAGE}`);
  process.exit(1);
}
if (args === null) {
  console.log(USAGE);
  process.exit(0);
}

function read(path, what) {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    console.error(`keyward-verify: cannot read the ${what} ${path}: ${e.code ?? e.message}`);
    process.exit(1);
  }
}

const trustedCheckpoint = args.trusted === undefined ? undefined : read(args.trusted, "trusted checkpoint");
let verifierKey = args.verifierKey;
if (verifierKey !== undefined && !verifierKey.includes("+"))
  verifierKey = read(verifierKey, "verifier key").trim();

// Token vendors' attestation roots the reader trusts besides the shipped Yubico ones: PEM certificates, as DER.
const attestationRoots = args.roots.flatMap((file) => {
  const pem = read(file, "attestation root");
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    console.error(`keyward-verify: ${file} holds no PEM certificate`);
    process.exit(1);
  }
  return blocks.map((b) => new Uint8Array(Buffer.from(b.replace(/-----[A-Z ]+-----|\s/g, ""), "base64")));
});

register();
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { verifyBundle } = await import(pathToFileURL(join(root, "server/audit/evidence/verify.ts")).href);
const { verifyKeywardLayout } = await import(
  pathToFileURL(join(root, "server/audit/evidence/lines.ts")).href
);
const { crlDers } = await import(
  pathToFileURL(join(root, "server/audit/evidence/certificate-status.ts")).href
);
// Token vendors' CRLs the reader fetched (this fetches nothing): PEM or DER files, as DER.
const crls = [];
for (const file of args.crls) {
  let bytes;
  try {
    bytes = new Uint8Array(readFileSync(file));
  } catch (e) {
    console.error(`keyward-verify: cannot read the CRL ${file}: ${e.code ?? e.message}`);
    process.exit(1);
  }
  crls.push(...crlDers(bytes));
}
const { reportLines, checkLine, summaryLines } = await import(
  pathToFileURL(join(root, "server/audit/evidence/report-text.ts")).href
);
const started = performance.now();
// crypto.hash (Node >= 20.12): one call, no Hash object; else createHash.
const sha256 =
  typeof cryptoHash === "function"
    ? (data) => cryptoHash("sha256", data, "buffer")
    : (data) => createHash("sha256").update(data).digest();

// Output in blocks: two million lines one console.log at a time cost more than the checks.
let out = "";
const print = (line) => {
  out += `${line}\n`;
  if (out.length > 1 << 16) flush();
};
const flush = () => {
  if (out !== "") process.stdout.write(out);
  out = "";
};

/**
 * The file in Keyward's layout, line by line (server/audit/evidence/lines.ts, which the /verify page's worker
 * reads with too): { report } when it was, { left: reason } as soon as it is not (the caller then reads it whole
 * and starts over).
 */
function verifyStreamed(path, options) {
  const bytes = Readable.toWeb(createReadStream(path, { highWaterMark: 1 << 18 }));
  return verifyKeywardLayout(
    bytes,
    { ...options, onCheck: (c) => print(checkLine(c)), failuresOnly: args.quiet },
    {
      onHeader: (header) => {
        if (typeof header.log?.verifierKey === "string") print(`audit key: ${header.log.verifierKey}`);
      },
    },
  );
}

try {
  closeSync(openSync(args.bundle, "r"));
} catch (e) {
  console.error(`keyward-verify: cannot read the bundle ${args.bundle}: ${e.code ?? e.message}`);
  process.exit(1);
}
const options = { trustedCheckpoint, verifierKey, attestationRoots, crls, sha256 };
let mode = "streamed, one event per line";
let result;
try {
  result = await verifyStreamed(args.bundle, options);
} catch (e) {
  console.error(`keyward-verify: cannot read the bundle ${args.bundle}: ${e.code ?? e.message}`);
  process.exit(1);
}
let report = result.report;
if (report === undefined) {
  flush();
  if (!result.left.startsWith("line 1:"))
    console.log(
      `keyward-verify: the file leaves Keyward's one-event-per-line layout at ${result.left}; read whole instead (the lines above do not count)`,
    );
  mode = "read whole";
  const text = read(args.bundle, "bundle");
  let bundle;
  try {
    bundle = JSON.parse(text);
  } catch (e) {
    bundle = undefined;
    console.error(`keyward-verify: ${args.bundle} is not JSON (${e.message})`);
  }
  report = verifyBundle(bundle, options);
  for (const line of reportLines(report, { quiet: args.quiet })) print(line);
} else for (const line of summaryLines(report)) print(line);
flush();
if (process.env.KEYWARD_VERIFY_STATS === "1")
  console.error(
    `keyward-verify stats: ${(performance.now() - started).toFixed(0)} ms, peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB, ${mode}`,
  );
process.exit(report.ok ? 0 : 1);
