// Test helper for code outside server/hsm (the chain proof tests in server/custody): the signature the key under
// `ref` on a test token makes over `data`, exactly as the HSM returns it (Ed25519: R || S over the message;
// secp256k1: r || s over the digest), without the signer facade, which only server/operations may use.
import { sign } from "../keys/keys";
import type { TestToken } from "./test-token";
import { asUser } from "./test-tokens";

/** Signs `data` with the key `ref` on `token` in a user session; the raw signature bytes. */
export function signOnToken(token: TestToken, ref: string, data: Uint8Array): Promise<Buffer> {
  return asUser(token, false, (s) => sign(s, ref, data));
}
