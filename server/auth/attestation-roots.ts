// Pinned attestation roots: the certificates a token's attestation chain must lead to when an AAGUID allow-list
// is set. An AAGUID is only a claim the token makes about itself; a chain to its vendor's root is the proof.
//
// We check the chain ourselves rather than through SimpleWebAuthn's SettingsService: with no roots set for a
// format, its validateCertificatePath() returns true without looking (helpers/validateCertificatePath.js, "skip
// path validation"), and its roots are process-global, per format, where ours come from the validated config.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { installRoot } from "@/server/install-root";
import { X509Certificate } from "node:crypto";

/**
 * The vendor roots shipped with this installation (see README.md in that folder): found from the installation,
 * never from the working directory, where a folder of the same name could pin anyone's roots.
 */
export function defaultAttestationRoots(): string {
  return path.join(installRoot(), "server", "auth", "attestation-roots");
}

/** The longest x5c we follow: leaf, a few intermediates. Real tokens send one or two. */
const MAX_CHAIN = 5;

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----/g;

/**
 * Reads the roots named by `spec`: comma-separated files or folders (a folder contributes its *.pem files).
 * Every certificate must be a CA; throws an Error naming the file otherwise. Called once, from server/env.ts.
 */
export function loadAttestationRoots(spec: string): X509Certificate[] {
  const files = spec
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .flatMap((entry) => {
      let isDir: boolean;
      try {
        isDir = statSync(entry).isDirectory();
      } catch {
        throw new Error(`${entry} does not exist`);
      }
      if (!isDir) return [entry];
      return readdirSync(entry)
        .filter((f) => f.endsWith(".pem"))
        .sort()
        .map((f) => path.join(entry, f));
    });
  const roots: X509Certificate[] = [];
  for (const file of files) {
    const blocks = readFileSync(file, "utf8").match(PEM_BLOCK) ?? [];
    if (blocks.length === 0) throw new Error(`${file} holds no PEM certificate`);
    for (const block of blocks) {
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(block);
      } catch {
        throw new Error(`${file} holds a certificate that cannot be parsed`);
      }
      if (!cert.ca) throw new Error(`${file}: ${cert.subject} is not a CA certificate`);
      roots.push(cert);
    }
  }
  return roots;
}

export type ChainResult =
  | { ok: true; root: X509Certificate }
  | { ok: false; reason: "attestation_root_unknown" | "attestation_invalid"; detail: string };

const within = (cert: X509Certificate, now: Date) =>
  new Date(cert.validFrom) <= now && now <= new Date(cert.validTo);

/**
 * Does the attestation chain (x5c, leaf first, DER) lead to one of `roots` at `now`? Each certificate must be
 * within its validity, issued and signed by the next one (which must be a CA), and the last one must be a
 * pinned root itself or be issued and signed by one. SimpleWebAuthn has already checked that the leaf signed
 * this registration; this decides whether we believe the leaf.
 */
export function verifyAttestationChain(
  x5c: readonly Uint8Array[],
  roots: readonly X509Certificate[],
  now: Date,
): ChainResult {
  if (x5c.length === 0 || x5c.length > MAX_CHAIN) {
    return { ok: false, reason: "attestation_invalid", detail: `x5c holds ${x5c.length} certificates` };
  }
  let chain: X509Certificate[];
  try {
    chain = x5c.map((der) => new X509Certificate(der));
  } catch {
    return {
      ok: false,
      reason: "attestation_invalid",
      detail: "x5c holds a certificate that cannot be parsed",
    };
  }
  const live = roots.filter((r) => within(r, now));
  for (const [i, cert] of chain.entries()) {
    const pinned = live.find((r) => r.fingerprint256 === cert.fingerprint256);
    if (pinned) return i === 0 ? refuseLeafRoot() : { ok: true, root: pinned };
    if (!within(cert, now)) {
      return { ok: false, reason: "attestation_invalid", detail: `${cert.subject} is outside its validity` };
    }
    const issuer = chain[i + 1];
    if (issuer) {
      if (!issuer.ca || !cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) {
        return {
          ok: false,
          reason: "attestation_invalid",
          detail: `${cert.subject} is not issued by the next certificate`,
        };
      }
      continue;
    }
    const root = live.find((r) => cert.checkIssued(r) && cert.verify(r.publicKey));
    if (root) return { ok: true, root };
  }
  return {
    ok: false,
    reason: "attestation_root_unknown",
    detail: `no pinned root issued ${chain.at(-1)?.issuer.replaceAll("\n", ", ")}`,
  };
}

/** A pinned CA presented as the attestation leaf: an authenticator must not sign with a root's key. */
function refuseLeafRoot(): ChainResult {
  return { ok: false, reason: "attestation_invalid", detail: "the attestation leaf is a pinned root" };
}
