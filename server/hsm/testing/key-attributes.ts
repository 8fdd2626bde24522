// Test helper for code outside server/hsm (the audit checkpoint key's tests): what a token says about the key
// objects under a reference, read in a user session behind the token set's back. Read-only; never reads a
// private value (CKA_VALUE is not asked).
import "server-only";
import pkcs11js from "pkcs11js";
import { curveOfParams } from "../keys/curves";
import { objectsWithRef } from "../keys/key-objects";
import { flag } from "../pkcs11/pkcs11";
import type { TestToken } from "./test-token";
import { asUser } from "./test-tokens";

export type KeyObjectsOnToken = {
  /** How many private and public key objects carry the reference as CKA_ID. */
  privates: number;
  publics: number;
  /** The (first) private half's flags and curve, or null when there is none. */
  private: {
    curve: string | undefined;
    local: boolean;
    sensitive: boolean;
    alwaysSensitive: boolean;
    extractable: boolean;
    neverExtractable: boolean;
    wrapWithTrusted: boolean;
  } | null;
};

export function keyObjectsOnToken(token: TestToken, ref: string): Promise<KeyObjectsOnToken> {
  const p = pkcs11js;
  return asUser(token, false, (s) => {
    const privates = objectsWithRef(s, "private", ref);
    const publics = objectsWithRef(s, "public", ref);
    const first = privates[0];
    if (first === undefined) return { privates: 0, publics: publics.length, private: null };
    const v = s.attributes(first, [
      p.CKA_EC_PARAMS,
      p.CKA_LOCAL,
      p.CKA_SENSITIVE,
      p.CKA_ALWAYS_SENSITIVE,
      p.CKA_EXTRACTABLE,
      p.CKA_NEVER_EXTRACTABLE,
      p.CKA_WRAP_WITH_TRUSTED,
    ]);
    const params = v.get(p.CKA_EC_PARAMS);
    return {
      privates: privates.length,
      publics: publics.length,
      private: {
        curve: params === undefined ? undefined : curveOfParams(params),
        local: flag(v, p.CKA_LOCAL),
        sensitive: flag(v, p.CKA_SENSITIVE),
        alwaysSensitive: flag(v, p.CKA_ALWAYS_SENSITIVE),
        extractable: flag(v, p.CKA_EXTRACTABLE),
        neverExtractable: flag(v, p.CKA_NEVER_EXTRACTABLE),
        wrapWithTrusted: flag(v, p.CKA_WRAP_WITH_TRUSTED),
      },
    };
  });
}
