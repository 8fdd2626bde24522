// API keys of service accounts: `kw_<12 hex>_<43 base64url>`, a visible prefix to find the account by and a
// secret of 32 random bytes. Only SHA-256 of the secret is stored; a presented key is checked by comparing
// digests in constant time. Nothing here logs, stores or returns a secret except `newApiKey`, once.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

const PREFIX_PATTERN = /^kw_[0-9a-f]{12}$/;
const KEY_PATTERN = /^(kw_[0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

/** SHA-256 hex of the secret part. */
export function secretHash(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** A fresh key: the whole key (shown once), its prefix and the hash to store. */
export function newApiKey(): { key: string; prefix: string; hash: string } {
  const prefix = `kw_${randomBytes(6).toString("hex")}`;
  const secret = randomBytes(32).toString("base64url");
  return { key: `${prefix}_${secret}`, prefix, hash: secretHash(secret) };
}

/** The prefix and secret of a key as presented, or null when it does not have a key's shape. */
export function splitApiKey(key: string): { prefix: string; secret: string } | null {
  const m = KEY_PATTERN.exec(key);
  if (!m?.[1] || !m[2] || !PREFIX_PATTERN.test(m[1])) return null;
  return { prefix: m[1], secret: m[2] };
}

/** The key in an `Authorization: Bearer <key>` header, or null. */
export function bearerKey(authorization: string | null): string | null {
  if (authorization === null) return null;
  const m = /^Bearer[ ]+(\S+)[ ]*$/i.exec(authorization);
  return m?.[1] ?? null;
}

/**
 * Whether `secret` hashes to `storedHash`, in time independent of where they differ. Both sides are 32-byte
 * digests, so the comparison never depends on the secret's length either.
 */
export function secretMatches(secret: string, storedHash: string): boolean {
  const presented = createHash("sha256").update(secret, "utf8").digest();
  const stored = Buffer.from(storedHash, "hex");
  if (stored.length !== presented.length) return false;
  return timingSafeEqual(presented, stored);
}
