// Test helper for code outside server/hsm (the period report's anomaly tests): a key pair made behind Keyward's
// back with a private-key template Keyward never uses (e.g. CKA_SENSITIVE false, or extractable to any key), so
// the token's own flags disagree with what Keyward would record. Never reads a private value.
import "server-only";
import { randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import type { Curve } from "../keys/curves";
import { privateKeyTemplate, publicKeyTemplate } from "../keys/key-objects";
import { MECHANISM } from "../pkcs11/pkcs11";
import type { TestToken } from "./test-token";
import { asUser } from "./test-tokens";

/** Makes a key pair on `token` whose private half is as Keyward's "never" template except for the flags given. */
export function makeWeakKeyOnToken(
  token: TestToken,
  options: { curve: Curve; label: string; ref?: string; sensitive?: boolean; extractable?: boolean },
): Promise<{ ref: string }> {
  const p = pkcs11js;
  const ref = options.ref ?? randomBytes(16).toString("hex");
  const overrides = new Map<number, boolean>();
  if (options.sensitive !== undefined) overrides.set(p.CKA_SENSITIVE, options.sensitive);
  if (options.extractable !== undefined) overrides.set(p.CKA_EXTRACTABLE, options.extractable);
  const priv = privateKeyTemplate(options.curve, ref, options.label, "never").map((a) =>
    overrides.has(a.type) ? { type: a.type, value: overrides.get(a.type) } : a,
  );
  const mechanism = options.curve === "ed25519" ? MECHANISM.edwardsKeyPairGen : MECHANISM.ecKeyPairGen;
  return asUser(token, true, (s) => {
    s.run("C_GenerateKeyPair", (m, h) =>
      m.C_GenerateKeyPair(h, { mechanism }, publicKeyTemplate(options.curve, ref, options.label), priv),
    );
    return { ref };
  });
}
