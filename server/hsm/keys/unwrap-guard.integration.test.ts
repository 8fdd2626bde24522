// The self-check on real SoftHSM tokens: a token whose KEK carries the unwrap template passes it, leaving
// nothing behind; a token whose KEK was made before unwrap templates fails it, and Keyward then refuses to
// make wrapped-only keys there (never-exportable keys are still made); a token without a KEK passes
// (nothing can unwrap there).
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shareBackupKek } from "../ceremonies/kek-sharing";
import { HsmError } from "../pkcs11/errors";
import { closeHsm, openToken, withSession } from "../pkcs11/pkcs11";
import { createTestToken, type TestToken } from "../testing/test-token";
import { addTestToken, asUser, soLogin, thrownBy } from "../testing/test-tokens";
import { generateKeyPair } from "./keys";
import { checkUnwrapGuard, refreshUnwrapGuard } from "./unwrap-guard";

const p = pkcs11js;
let good: TestToken;
let old: TestToken;
let bare: TestToken;

/** A trusted KEK as Keyward made it before unwrap templates. */
async function kekWithoutTemplate(token: TestToken): Promise<void> {
  await withSession(openToken(token.config), { write: true, login: { role: "so", pin: token.soPin } }, (s) =>
    s.run("C_GenerateKey", (m, h) =>
      m.C_GenerateKey(h, { mechanism: p.CKM_AES_KEY_GEN }, [
        { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
        { type: p.CKA_KEY_TYPE, value: p.CKK_AES },
        { type: p.CKA_VALUE_LEN, value: 32 },
        { type: p.CKA_TOKEN, value: true },
        { type: p.CKA_PRIVATE, value: false },
        { type: p.CKA_LABEL, value: "keyward-backup-kek" },
        { type: p.CKA_ID, value: Buffer.alloc(16, 9) },
        { type: p.CKA_TRUSTED, value: true },
        { type: p.CKA_WRAP, value: true },
        { type: p.CKA_UNWRAP, value: true },
        { type: p.CKA_ENCRYPT, value: false },
        { type: p.CKA_DECRYPT, value: false },
        { type: p.CKA_SENSITIVE, value: true },
        { type: p.CKA_EXTRACTABLE, value: false },
        { type: p.CKA_MODIFIABLE, value: false },
      ]),
    ),
  );
}

beforeAll(async () => {
  good = createTestToken("kw-guard-good");
  const replica = addTestToken(good, "kw-guard-replica");
  old = addTestToken(good, "kw-guard-old");
  bare = addTestToken(good, "kw-guard-bare");
  await shareBackupKek({ source: soLogin(good), replicas: [soLogin(replica)] });
  await kekWithoutTemplate(old);
});

afterAll(() => {
  closeHsm();
  good.cleanup();
});

describe("the unwrap self-check", () => {
  it("passes on a KEK with the unwrap template, and destroys every throw-away object", async () => {
    await asUser(good, true, (s) => {
      const before = s.find([]).length;
      const guard = checkUnwrapGuard(s);
      expect(guard.state).toBe("enforced");
      expect(guard.template).toEqual(
        expect.arrayContaining(["CKA_SENSITIVE=true", "CKA_WRAP_WITH_TRUSTED=true", "CKA_MODIFIABLE=false"]),
      );
      expect(guard.message).toContain("CKR_TEMPLATE_INCONSISTENT");
      // Session objects count too while the session is open: none is left.
      expect(s.find([]).length).toBe(before);
      expect(generateKeyPair(s, { curve: "secp256k1", label: "ok", exportable: "wrapped-only" }).ref).toMatch(
        /^[0-9a-f]{32}$/,
      );
    });
  });

  it("fails on a KEK made before unwrap templates, and wrapped-only keys are then refused on that token", async () => {
    await asUser(old, true, (s) => {
      const before = s.find([]).length;
      const guard = refreshUnwrapGuard(s);
      expect(guard).toMatchObject({ state: "not-enforced", template: [] });
      expect(guard.message).toContain("as non-sensitive");
      expect(s.find([]).length).toBe(before);
      const refused = thrownBy(() =>
        generateKeyPair(s, { curve: "secp256k1", label: "no", exportable: "wrapped-only" }),
      );
      expect(refused).toBeInstanceOf(HsmError);
      expect(refused.reason).toBe("refused");
      expect(refused.message).toContain(
        "Keyward makes no wrapped-only (exportable) keys on HSM token 'kw-guard-old'",
      );
      expect(s.find([]).length).toBe(before);
      // Never-exportable keys cannot leave at all, so they are still made.
      expect(generateKeyPair(s, { curve: "secp256k1", label: "stays", exportable: "never" }).ref).toMatch(
        /^[0-9a-f]{32}$/,
      );
    });
  });

  it("passes on a token without a KEK: nothing there can unwrap a key", async () => {
    await asUser(bare, true, (s) => {
      expect(checkUnwrapGuard(s)).toMatchObject({ state: "no-kek", kekId: null });
    });
  });
});
