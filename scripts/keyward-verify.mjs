#!/usr/bin/env node
// keyward-verify: checks a Keyward evidence bundle offline (no network, nothing of the operator's trusted but the
// audit key): `keyward-verify bundle.json [--trusted-checkpoint old.txt] [--verifier-key <vkey>]
// [--attestation-root root.pem]… [--quiet]`.
// Prints every check and a verdict; exits 0 when every item verifies, 1 otherwise (or on bad arguments).
// The checks are server/audit/evidence/verify.ts, the module the /verify page runs, loaded through tsx.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { register } from "tsx/esm/api";

const USAGE =
  "usage: keyward-verify bundle.json [--trusted-checkpoint checkpoint.txt] [--verifier-key <vkey>] [--attestation-root root.pem]... [--quiet]";

function parseArgs(argv) {
  const out = { bundle: undefined, trusted: undefined, verifierKey: undefined, roots: [], quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--trusted-checkpoint") out.trusted = argv[++i];
    else if (a === "--verifier-key") out.verifierKey = argv[++i];
    else if (a === "--attestation-root") {
      const file = argv[++i];
      if (file === undefined || file === "") throw new Error("--attestation-root needs a value");
      out.roots.push(file);
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

const text = read(args.bundle, "bundle");
let bundle;
try {
  bundle = JSON.parse(text);
} catch (e) {
  bundle = undefined;
  console.error(`keyward-verify: ${args.bundle} is not JSON (${e.message})`);
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
const { reportLines } = await import(pathToFileURL(join(root, "server/audit/evidence/report-text.ts")).href);
const report = verifyBundle(bundle, { trustedCheckpoint, verifierKey, attestationRoots });
for (const line of reportLines(report, { quiet: args.quiet })) console.log(line);
process.exit(report.ok ? 0 : 1);
