// Random one-time secrets (setup codes, invitation links) and their stored hashes. Only hashes are kept.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

// Crockford's base32: no I, L, O, U, so a code read aloud or typed from a terminal is unambiguous.
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** 16 characters of Crockford base32 (80 bits), shown as XXXX-XXXX-XXXX-XXXX. */
export function newSetupCode(): { code: string; display: string } {
  const bytes = randomBytes(16);
  let code = "";
  for (const b of bytes) code += CROCKFORD[b & 31];
  return { code, display: code.match(/.{4}/g)?.join("-") ?? code };
}

export function newInvitationSecret(): string {
  return randomBytes(32).toString("base64url");
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

export function hashesEqual(aHex: string, bHex: string): boolean {
  const a = Buffer.from(aHex, "hex");
  const b = Buffer.from(bHex, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}
