// Test helpers for key backups and restores seen from outside server/hsm (server/operations' tests): a primary
// and a replica sharing the backup KEK, what a backup file must name (the KEK's id, the token's serial), the
// objects under a key reference, and a key taken off or used on one token behind the server's back.
import { createHash } from "node:crypto";
import { describeBackupKek } from "../ceremonies/backup-kek";
import { shareBackupKek } from "../ceremonies/kek-sharing";
import { isCurve } from "../keys/curves";
import { destroyKey, sign } from "../keys/keys";
import { verifySignature } from "../keys/signature";
import { createTestToken, type TestToken } from "./test-token";
import { addTestToken, asUser, soLogin } from "./test-tokens";

const CKA_ID = 0x102;

/** Two tokens in one SoftHSM configuration, the second holding the first's backup KEK. */
export async function createBackupTestTokens(label: string): Promise<[TestToken, TestToken]> {
  const primary = createTestToken(`${label}-a`);
  const replica = addTestToken(primary, `${label}-b`);
  await shareBackupKek({ source: soLogin(primary), replicas: [soLogin(replica)] });
  return [primary, replica];
}

/** The token's serial and its backup KEK's CKA_ID (hex), as a backup file must name them. */
export function tokenFacts(token: TestToken): Promise<{ serial: string; kekId: string | null }> {
  return asUser(token, false, (s) => ({
    serial: s.token.description.serial,
    kekId: describeBackupKek(s)?.id ?? null,
  }));
}

/** Objects on the token carrying the reference (2 for a key pair), and every object the user sees there. */
export function objectsOn(token: TestToken, ref: string): Promise<{ withRef: number; total: number }> {
  return asUser(token, false, (s) => ({
    withRef: s.find([{ type: CKA_ID, value: Buffer.from(ref, "hex") }]).length,
    total: s.find([]).length,
  }));
}

/** Destroys the key under `ref` on this one token (a replica that lost it); true when it was there. */
export function destroyOnToken(token: TestToken, ref: string): Promise<boolean> {
  return asUser(token, true, (s) => destroyKey(s, ref));
}

/** Whether the key under `ref` on this one token signs a fresh digest for `publicKey` (hex). */
export function signsOnToken(
  token: TestToken,
  ref: string,
  publicKey: string,
  curve: string,
): Promise<boolean> {
  return asUser(token, false, (s) => {
    const digest = createHash("sha256").update(`signs on ${token.label}`).digest();
    if (!isCurve(curve)) throw new Error(`no curve ${curve}`);
    return verifySignature(curve, Buffer.from(publicKey, "hex"), digest, sign(s, ref, digest));
  });
}
