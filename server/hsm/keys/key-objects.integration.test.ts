// Custody private keys can be neither changed nor copied, by anyone holding the user PIN: a weakened copy
// (C_CopyObject with CKA_SENSITIVE false) or a changed attribute (C_SetAttributeValue) is refused by the HSM.
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeHsm, flag } from "../pkcs11/pkcs11";
import { createTestToken, type TestToken } from "../testing/test-token";
import { asUser, thrownBy } from "../testing/test-tokens";
import { objectsWithRef } from "./key-objects";
import { generateKeyPair } from "./keys";

const p = pkcs11js;
let token: TestToken;

beforeAll(() => {
  token = createTestToken("kw-key-objects");
});

afterAll(() => {
  closeHsm();
  token.cleanup();
});

describe.each(["never", "wrapped-only"] as const)("a custody private key (%s)", (exportable) => {
  it("is not modifiable and not copyable, and the HSM refuses both to the user", async () => {
    await asUser(token, true, (s) => {
      const { ref } = generateKeyPair(s, { curve: "secp256k1", label: "custody", exportable });
      const [key] = objectsWithRef(s, "private", ref);
      if (key === undefined) throw new Error("no private key");
      const values = s.attributes(key, [p.CKA_MODIFIABLE, p.CKA_COPYABLE]);
      expect(flag(values, p.CKA_MODIFIABLE)).toBe(false);
      expect(flag(values, p.CKA_COPYABLE)).toBe(false);
      const set = thrownBy(() =>
        s.run("C_SetAttributeValue", (m, h) =>
          m.C_SetAttributeValue(h, key, [{ type: p.CKA_LABEL, value: "x" }]),
        ),
      );
      expect(set.detail.ckr).toBe("CKR_ACTION_PROHIBITED");
      const copy = thrownBy(() =>
        s.run("C_CopyObject", (m, h) =>
          m.C_CopyObject(h, key, [
            { type: p.CKA_TOKEN, value: false },
            { type: p.CKA_SENSITIVE, value: false },
          ]),
        ),
      );
      expect(copy.detail.ckr).toBe("CKR_ACTION_PROHIBITED");
      expect(objectsWithRef(s, "private", ref)).toHaveLength(1);
    });
  });
});
