// patches/pkcs11js+2.1.7.patch against real SoftHSM: an attribute whose value is a template (CKA_WRAP_/
// UNWRAP_/DERIVE_TEMPLATE) reaches the library as a nested CK_ATTRIBUTE array and reads back as one;
// anything else in an Array, a template in a template, or a nested value of another kind is refused before
// the library is called. Unpatched pkcs11js 2.1.7 refuses every Array value.
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeHsm, type Session } from "../pkcs11/pkcs11";
import { createTestToken, type TestToken } from "../testing/test-token";
import { asUser } from "../testing/test-tokens";

const p = pkcs11js;
let token: TestToken;

beforeAll(() => {
  token = createTestToken("kw-pkcs11js-templates");
});

afterAll(() => {
  closeHsm();
  token.cleanup();
});

function aesKey(s: Session, extra: pkcs11js.Attribute[]) {
  return s.token.module.C_GenerateKey(s.handle, { mechanism: p.CKM_AES_KEY_GEN }, [
    { type: p.CKA_VALUE_LEN, value: 32 },
    { type: p.CKA_TOKEN, value: false },
    ...extra,
  ]);
}

/** A template attribute as the patched binding returns it: an Array of { type, value: Buffer }. */
function nestedOf(value: unknown): { type: number; value: Buffer }[] {
  if (!Array.isArray(value)) throw new Error(`not a template: ${String(value)}`);
  return value.map((a) => {
    if (typeof a?.type !== "number" || !Buffer.isBuffer(a.value)) throw new Error("not a nested attribute");
    return { type: a.type, value: a.value };
  });
}

describe("pkcs11js with nested templates", () => {
  it("passes booleans, numbers, strings and Buffers in a template and reads them back", async () => {
    await asUser(token, true, (s) => {
      const key = aesKey(s, [
        {
          type: p.CKA_UNWRAP_TEMPLATE,
          value: [
            { type: p.CKA_SENSITIVE, value: true },
            { type: p.CKA_MODIFIABLE, value: false },
            { type: p.CKA_KEY_TYPE, value: p.CKK_EC },
            { type: p.CKA_LABEL, value: "unwrapped" },
            { type: p.CKA_ID, value: Buffer.from("00ff10", "hex") },
          ],
        },
        { type: p.CKA_WRAP_TEMPLATE, value: [] },
      ]);
      const [unwrapTemplate, wrapTemplate, label] = s.token.module.C_GetAttributeValue(s.handle, key, [
        { type: p.CKA_UNWRAP_TEMPLATE },
        { type: p.CKA_WRAP_TEMPLATE },
        { type: p.CKA_LABEL },
      ]);
      const nested = new Map(nestedOf(unwrapTemplate?.value).map((a) => [a.type, a.value.toString("hex")]));
      expect(Object.fromEntries(nested)).toEqual({
        [p.CKA_SENSITIVE]: "01",
        [p.CKA_MODIFIABLE]: "00",
        [p.CKA_KEY_TYPE]: Buffer.from(new BigUint64Array([BigInt(p.CKK_EC)]).buffer).toString("hex"),
        [p.CKA_LABEL]: Buffer.from("unwrapped").toString("hex"),
        [p.CKA_ID]: "00ff10",
      });
      expect(nestedOf(wrapTemplate?.value)).toEqual([]);
      // Plain attributes beside a template read back as before.
      expect(label?.value).toEqual(Buffer.alloc(0));
    });
  });

  it.each([
    [
      "an Array on an attribute that is not a template",
      [{ type: p.CKA_LABEL, value: [] }],
      "Only CKA_WRAP_TEMPLATE",
    ],
    [
      "a template inside a template",
      [{ type: p.CKA_UNWRAP_TEMPLATE, value: [{ type: p.CKA_WRAP_TEMPLATE, value: [] }] }],
      "cannot contain another template",
    ],
    [
      "a nested attribute without a value",
      [{ type: p.CKA_UNWRAP_TEMPLATE, value: [{ type: p.CKA_SENSITIVE }] }],
      "should be a Number, Boolean, String or Buffer",
    ],
    [
      "a nested value of another kind",
      [{ type: p.CKA_UNWRAP_TEMPLATE, value: [{ type: p.CKA_SENSITIVE, value: {} }] }],
      "should be a Number, Boolean, String or Buffer",
    ],
    [
      "a nested element that is not an object",
      [{ type: p.CKA_UNWRAP_TEMPLATE, value: [7] }],
      "Should be an Object",
    ],
  ])("refuses %s with a TypeError, before the HSM is asked", async (_what, extra, says) => {
    await asUser(token, true, (s) => {
      const before = s.find([]).length;
      // Cast-free: the declarations do not allow these shapes, which is the point of the check.
      const template: unknown = extra;
      const call = () => aesKey(s, Array.isArray(template) ? template : []);
      expect(call).toThrow(TypeError);
      expect(call).toThrow(says);
      expect(s.find([]).length).toBe(before);
    });
  });
});
