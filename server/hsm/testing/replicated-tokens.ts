// Test helpers for code outside server/hsm that needs a primary and a replica sharing the backup KEK (so a
// wrapped key is cloned into both), and to take a key off one token behind the server's back.
import { shareBackupKek } from "../ceremonies/kek-sharing";
import { destroyKey } from "../keys/keys";
import { createTestToken, type TestToken } from "./test-token";
import { addTestToken, asUser, soLogin } from "./test-tokens";

/** Two tokens in one SoftHSM configuration, the second holding the first's backup KEK. */
export async function createReplicatedTestTokens(label: string): Promise<[TestToken, TestToken]> {
  const primary = createTestToken(`${label}-a`);
  const replica = addTestToken(primary, `${label}-b`);
  await shareBackupKek({ source: soLogin(primary), replicas: [soLogin(replica)] });
  return [primary, replica];
}

/** Destroys the key under `ref` on this one token; true when it was there. */
export function destroyOnToken(token: TestToken, ref: string): Promise<boolean> {
  return asUser(token, true, (s) => destroyKey(s, ref));
}
