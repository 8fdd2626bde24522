// An insider holding the user PIN (and nothing else) tries to get a wrapped-only custody key out in
// plaintext: wrap it under the trusted backup KEK, then unwrap it again in a weaker form. Every KEK Keyward's
// ceremonies make (the single-token one, the shared source and its replica's copy) carries an unwrap
// template, so the HSM refuses; a KEK made before this change does not, and there the insider succeeds.
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateKeyPair } from "../keys/keys";
import { wrapKey } from "../keys/key-backup";
import { closeHsm, type Handle, openToken, type Session, type Template, withSession } from "../pkcs11/pkcs11";
import { createTestToken, type TestToken } from "../testing/test-token";
import { addTestToken, asUser, soLogin, thrownBy } from "../testing/test-tokens";
import { ensureBackupKek, findBackupKeks, hasKekUnwrapTemplate, readKekUnwrapTemplate } from "./backup-kek";
import { shareBackupKek } from "./kek-sharing";

const p = pkcs11js;
const WRAP = { mechanism: p.CKM_AES_KEY_WRAP_PAD };
let source: TestToken;
let replica: TestToken;
let single: TestToken;
let old: TestToken;

/** The shareable KEK exactly as kek-sharing.ts made it before unwrap templates (no CKA_UNWRAP_TEMPLATE). */
async function makeKekWithoutTemplate(token: TestToken): Promise<void> {
  await withSession(openToken(token.config), { write: true, login: { role: "so", pin: token.soPin } }, (s) =>
    s.run("C_GenerateKey", (m, h) =>
      m.C_GenerateKey(h, { mechanism: p.CKM_AES_KEY_GEN }, [
        { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
        { type: p.CKA_KEY_TYPE, value: p.CKK_AES },
        { type: p.CKA_VALUE_LEN, value: 32 },
        { type: p.CKA_TOKEN, value: true },
        { type: p.CKA_PRIVATE, value: false },
        { type: p.CKA_LABEL, value: "keyward-backup-kek" },
        { type: p.CKA_ID, value: Buffer.alloc(16, 7) },
        { type: p.CKA_TRUSTED, value: true },
        { type: p.CKA_WRAP, value: true },
        { type: p.CKA_UNWRAP, value: true },
        { type: p.CKA_ENCRYPT, value: false },
        { type: p.CKA_DECRYPT, value: false },
        { type: p.CKA_SENSITIVE, value: true },
        { type: p.CKA_EXTRACTABLE, value: true },
        { type: p.CKA_WRAP_WITH_TRUSTED, value: true },
        { type: p.CKA_COPYABLE, value: false },
        { type: p.CKA_DESTROYABLE, value: false },
        { type: p.CKA_MODIFIABLE, value: false },
      ]),
    ),
  );
}

beforeAll(async () => {
  source = createTestToken("kw-tmpl-source");
  replica = addTestToken(source, "kw-tmpl-replica");
  single = addTestToken(source, "kw-tmpl-single");
  old = addTestToken(source, "kw-tmpl-old");
  await shareBackupKek({ source: soLogin(source), replicas: [soLogin(replica)] });
  await ensureBackupKek({ soPin: single.soPin, target: soLogin(single).target });
  await makeKekWithoutTemplate(old);
});

afterAll(() => {
  closeHsm();
  source.cleanup();
});

function kekOf(s: Session): Handle {
  const [kek] = findBackupKeks(s);
  if (kek === undefined) throw new Error("no KEK");
  return kek;
}

/** The insider's unwrap of a P-256 private key, as a session object, with the attributes asked for. */
function insiderTemplate(change: {
  sensitive?: boolean;
  wrapWithTrusted?: boolean;
  modifiable?: boolean;
}): Template {
  return [
    { type: p.CKA_CLASS, value: p.CKO_PRIVATE_KEY },
    { type: p.CKA_KEY_TYPE, value: p.CKK_EC },
    { type: p.CKA_TOKEN, value: false },
    { type: p.CKA_SIGN, value: true },
    { type: p.CKA_SENSITIVE, value: change.sensitive ?? true },
    { type: p.CKA_EXTRACTABLE, value: true },
    { type: p.CKA_WRAP_WITH_TRUSTED, value: change.wrapWithTrusted ?? true },
    { type: p.CKA_COPYABLE, value: false },
    { type: p.CKA_MODIFIABLE, value: change.modifiable ?? false },
  ];
}

const WEAKER = [
  ["non-sensitive", { sensitive: false }],
  ["extractable without trust", { wrapWithTrusted: false }],
  ["modifiable", { modifiable: true }],
] as const;

/** A wrapped-only custody key made through Keyward on `token`, wrapped under its KEK by the user. */
async function wrappedCustodyKey(token: TestToken): Promise<Buffer> {
  return asUser(token, true, (s) => {
    const { ref } = generateKeyPair(s, { curve: "p256", label: "custody", exportable: "wrapped-only" });
    return wrapKey(s, ref);
  });
}

describe("the backup KEK's unwrap template", () => {
  it("is on every KEK the ceremonies make: the shared source, the replica's copy, the single-token KEK", async () => {
    for (const token of [source, replica, single]) {
      const template = await asUser(token, false, (s) => readKekUnwrapTemplate(s, kekOf(s)));
      expect(hasKekUnwrapTemplate(template), token.label).toBe(true);
      expect(Object.fromEntries(template)).toEqual({
        [p.CKA_SENSITIVE]: true,
        [p.CKA_EXTRACTABLE]: true,
        [p.CKA_WRAP_WITH_TRUSTED]: true,
        [p.CKA_MODIFIABLE]: false,
        [p.CKA_COPYABLE]: false,
      });
    }
  });

  it("refuses the user PIN every weaker unwrap of a wrapped-only key, on the source and on the replica", async () => {
    const blob = await wrappedCustodyKey(source);
    for (const token of [source, replica]) {
      await asUser(token, true, (s) => {
        for (const [what, change] of WEAKER) {
          const refused = thrownBy(() =>
            s.run("C_UnwrapKey", (m, h) => m.C_UnwrapKey(h, WRAP, kekOf(s), blob, insiderTemplate(change))),
          );
          expect(refused.detail.ckr, `${token.label}: ${what}`).toBe("CKR_TEMPLATE_INCONSISTENT");
        }
        // Leaving CKA_SENSITIVE out (so the HSM's default, false, applies) is refused too.
        const leftOut = insiderTemplate({}).filter((a) => a.type !== p.CKA_SENSITIVE);
        const refused = thrownBy(() =>
          s.run("C_UnwrapKey", (m, h) => m.C_UnwrapKey(h, WRAP, kekOf(s), blob, leftOut)),
        );
        expect(refused.detail.ckr).toBe("CKR_TEMPLATE_INCONSISTENT");
        // The one unwrap allowed gives a key whose value stays unreadable.
        const copy = s.run("C_UnwrapKey", (m, h) =>
          m.C_UnwrapKey(h, WRAP, kekOf(s), blob, insiderTemplate({})),
        );
        expect(thrownBy(() => s.attributes(copy, [p.CKA_VALUE])).detail.ckr).toBe("CKR_ATTRIBUTE_SENSITIVE");
        s.run("C_DestroyObject", (m, h) => m.C_DestroyObject(h, copy));
      });
    }
  });

  it("refuses it on the single-token KEK too", async () => {
    const blob = await wrappedCustodyKey(single);
    await asUser(single, true, (s) => {
      const refused = thrownBy(() =>
        s.run("C_UnwrapKey", (m, h) =>
          m.C_UnwrapKey(h, WRAP, kekOf(s), blob, insiderTemplate({ sensitive: false })),
        ),
      );
      expect(refused.detail.ckr).toBe("CKR_TEMPLATE_INCONSISTENT");
    });
  });

  it("on a KEK made before this change, the same insider reads the private value (the hole it closes)", async () => {
    await asUser(old, true, (s) => {
      // Made directly: Keyward itself refuses wrapped-only keys on this token (unwrap-guard.ts).
      const pair = s.run("C_GenerateKeyPair", (m, h) =>
        m.C_GenerateKeyPair(
          h,
          { mechanism: p.CKM_EC_KEY_PAIR_GEN },
          [
            { type: p.CKA_TOKEN, value: false },
            { type: p.CKA_EC_PARAMS, value: Buffer.from("06082a8648ce3d030107", "hex") },
          ],
          [
            { type: p.CKA_TOKEN, value: false },
            { type: p.CKA_PRIVATE, value: true },
            { type: p.CKA_SENSITIVE, value: true },
            { type: p.CKA_SIGN, value: true },
            { type: p.CKA_EXTRACTABLE, value: true },
            { type: p.CKA_WRAP_WITH_TRUSTED, value: true },
          ],
        ),
      );
      const kek = kekOf(s);
      expect(hasKekUnwrapTemplate(readKekUnwrapTemplate(s, kek))).toBe(false);
      const blob = s.run("C_WrapKey", (m, h) =>
        m.C_WrapKey(h, WRAP, kek, pair.privateKey, Buffer.alloc(512)),
      );
      const plain = s.run("C_UnwrapKey", (m, h) =>
        m.C_UnwrapKey(h, WRAP, kek, blob, [
          { type: p.CKA_CLASS, value: p.CKO_PRIVATE_KEY },
          { type: p.CKA_KEY_TYPE, value: p.CKK_EC },
          { type: p.CKA_TOKEN, value: false },
          { type: p.CKA_SENSITIVE, value: false },
          { type: p.CKA_EXTRACTABLE, value: true },
        ]),
      );
      expect(s.attributes(plain, [p.CKA_VALUE]).get(p.CKA_VALUE)?.length).toBe(32);
    });
  });
});
