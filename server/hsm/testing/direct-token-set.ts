// Test helper for code outside server/hsm (the period report's attestation tests): a token set over SoftHSM test
// tokens whose calls run on the calling thread (DirectExecutor), the first token the primary; and its close,
// which also finalises the library once the test file is done with it.
import "server-only";
import { createTokenSet, type HsmTokenSet } from "../cluster/token-set";
import { closeHsm } from "../pkcs11/pkcs11";
import { DirectExecutor } from "../pool/direct-executor";
import type { TestToken } from "./test-token";

export function directTokenSet(tokens: readonly TestToken[]): HsmTokenSet {
  return createTokenSet(
    tokens.map((t) => t.config),
    (config) => new DirectExecutor(config),
  );
}

export async function closeDirectTokenSet(set: HsmTokenSet): Promise<void> {
  await set.close();
  closeHsm();
}
