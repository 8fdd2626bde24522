// Test helper for code outside server/hsm: a key pair made on one token behind the token set's back, with the
// user PIN (a key on the primary only, or another key under a reference a token already holds elsewhere).
import { randomBytes } from "node:crypto";
import type { Curve } from "../keys/curves";
import { generateKeyPair } from "../keys/keys";
import type { TestToken } from "./test-token";
import { asUser } from "./test-tokens";

/** Makes a "never" exportable key pair on `token` under `ref` (random when not given); its public key in hex. */
export async function makeKeyOnToken(
  token: TestToken,
  options: { curve: Curve; label: string; ref?: string },
): Promise<{ ref: string; publicKey: string }> {
  const ref = options.ref ?? randomBytes(16).toString("hex");
  const key = await asUser(token, true, (s) =>
    generateKeyPair(s, { curve: options.curve, label: options.label, exportable: "never", ref }),
  );
  return { ref: key.ref, publicKey: key.publicKey.toString("hex") };
}
