// The go-live tap's binding (go-live.ts): the challenge an admin's token signs is
// SHA-256(JCS({ v: 1, purpose: "go-live", policy: digest, policyVersion, admins: adminSetDigest, admin, nonce })),
// so anyone holding the stored tap and the token's public key can recompute what was approved; the challenge's
// stored subject names the same fields, and completion refuses a subject naming another admin or other content.
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";

export const GO_LIVE_PURPOSE = "go-live";

/** What one tap is bound to. */
export type GoLiveBinding = {
  adminId: string;
  policyVersion: number;
  policyDigest: string;
  adminSetDigest: string;
  nonce: string;
};

/** The challenge bytes: anyone with the stored tap and the token's public key can recompute what was approved. */
export function goLiveChallengeBytes(b: GoLiveBinding): Uint8Array<ArrayBuffer> {
  const text = canonicalize({
    v: 1,
    purpose: GO_LIVE_PURPOSE,
    policy: b.policyDigest,
    policyVersion: b.policyVersion,
    admins: b.adminSetDigest,
    admin: b.adminId,
    nonce: b.nonce,
  });
  if (text === undefined) throw new TypeError("cannot canonicalise the go-live binding");
  return new Uint8Array(createHash("sha256").update(text, "utf8").digest());
}

export function goLiveChallenge(b: GoLiveBinding): string {
  return Buffer.from(goLiveChallengeBytes(b)).toString("base64url");
}

export function goLiveSubject(b: GoLiveBinding): string {
  return `go-live:${b.adminId}:${b.policyVersion}:${b.policyDigest}:${b.adminSetDigest}:${b.nonce}`;
}

export function parseGoLiveSubject(subject: string | null): GoLiveBinding | null {
  const parts = subject?.split(":") ?? [];
  const [tag, adminId, version, policyDigest, adminSetDigest, nonce] = parts;
  if (parts.length !== 6 || tag !== "go-live" || !adminId || !policyDigest || !adminSetDigest || !nonce) {
    return null;
  }
  const policyVersion = Number(version);
  if (!Number.isInteger(policyVersion)) return null;
  return { adminId, policyVersion, policyDigest, adminSetDigest, nonce };
}
