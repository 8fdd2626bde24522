// Against a real SoftHSM token in a temporary folder: health, the SO's backup KEK, and the error classes.
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKUP_KEK_LABEL, ensureBackupKek, findBackupKeks, readBackupKekAttributes } from "./backup-kek";
import { HsmError } from "../pkcs11/errors";
import { hsmHealth } from "../status/health";
import { closeHsm, type HsmConfig, openToken, type Session, withSession } from "../pkcs11/pkcs11";
import { createTestToken, type TestToken } from "../testing/test-token";

let token: TestToken;
let config: HsmConfig;

beforeAll(() => {
  token = createTestToken("keyward-it");
  config = token.config;
});

afterAll(() => {
  closeHsm();
  token.cleanup();
});

/** The HsmError a call throws, so tests can check its reason and CKR name. */
function thrown(call: () => unknown): HsmError {
  try {
    call();
  } catch (e) {
    if (e instanceof HsmError) return e;
    throw e;
  }
  throw new Error("expected an HsmError");
}

function asUser<T>(write: boolean, work: (s: Session) => T): Promise<T> {
  return withSession(openToken(config), { write, login: { role: "user", pin: config.pin } }, work);
}

describe("a fresh token", () => {
  it("reports its label, serial and the signing mechanisms, and that the KEK is still missing", async () => {
    const health = await hsmHealth(config);
    expect(health.library).toBe(config.library);
    expect(health.token).toMatchObject({
      label: "keyward-it",
      manufacturer: "SoftHSM project",
      model: "SoftHSM v2",
    });
    expect(health.token?.serial).toMatch(/^[0-9a-f]{16}$/);
    expect(health.mechanisms).toEqual({
      ecdsa: true,
      eddsa: true,
      ecKeyPairGen: true,
      edwardsKeyPairGen: true,
    });
    expect(health.objects).toEqual({ total: 0, kek: null });
    expect(health.ok).toBe(false);
    expect(health.error).toMatchObject({ code: "kek-missing", kind: "configuration" });
  });
});

describe("the backup KEK ceremony", () => {
  it("refuses a wrong SO PIN with the wrong-PIN class and creates nothing", async () => {
    const err = await ensureBackupKek({ soPin: "not-the-so-pin", target: config }).catch((e: unknown) => e);
    if (!(err instanceof HsmError)) throw new Error("expected an HsmError");
    expect(err).toMatchObject({ reason: "pin-incorrect", kind: "configuration", code: "HSM_UNAVAILABLE" });
    expect(err.message).toContain("KEYWARD_HSM_SO_PIN");
    expect(err.message).not.toContain("not-the-so-pin");
  });

  it("creates exactly one trusted, sensitive, non-extractable KEK, and a second call creates no other", async () => {
    const first = await ensureBackupKek({ soPin: token.soPin, target: config });
    expect(first.created).toBe(true);
    expect(first.id).toMatch(/^[0-9a-f]{32}$/);
    const second = await ensureBackupKek({ soPin: token.soPin, target: config });
    expect(second).toEqual({ created: false, id: first.id });

    await asUser(false, (s) => {
      const sameLabel = s.find([{ type: pkcs11js.CKA_LABEL, value: BACKUP_KEK_LABEL }]);
      expect(sameLabel).toHaveLength(1);
      const [kek] = findBackupKeks(s);
      if (kek === undefined) throw new Error("KEK not found");
      expect(readBackupKekAttributes(s, kek)).toEqual({
        id: first.id,
        trusted: true,
        private: false, // SoftHSM: the SO may not create private objects
        sensitive: true,
        extractable: false,
        alwaysSensitive: true,
        neverExtractable: true,
        wrap: true,
        unwrap: true,
        encrypt: false,
        decrypt: false,
        modifiable: false,
        destroyable: false,
      });
      const err = thrown(() => s.attributes(kek, [pkcs11js.CKA_VALUE]));
      expect(err).toMatchObject({ reason: "refused", kind: "configuration" });
      expect(err.detail.ckr).toBe("CKR_ATTRIBUTE_SENSITIVE");
    });
  });

  it("cannot be decrypted with, changed or destroyed by the user", async () => {
    await asUser(true, (s) => {
      const [kek] = findBackupKeks(s);
      if (kek === undefined) throw new Error("KEK not found");
      const decrypt = thrown(() =>
        s.run("C_DecryptInit", (m, h) => m.C_DecryptInit(h, { mechanism: pkcs11js.CKM_AES_KEY_WRAP }, kek)),
      );
      expect(decrypt.detail.ckr).toBe("CKR_KEY_FUNCTION_NOT_PERMITTED");
      const change = thrown(() =>
        s.run("C_SetAttributeValue", (m, h) =>
          m.C_SetAttributeValue(h, kek, [{ type: pkcs11js.CKA_DECRYPT, value: true }]),
        ),
      );
      expect(change.detail.ckr).toBe("CKR_ACTION_PROHIBITED");
      const destroy = thrown(() => s.run("C_DestroyObject", (m, h) => m.C_DestroyObject(h, kek)));
      expect(destroy.detail.ckr).toBe("CKR_ACTION_PROHIBITED");
      expect(destroy.reason).toBe("refused");
    });
  });

  it("leaves the token healthy", async () => {
    const health = await hsmHealth(config);
    expect(health.error).toBeUndefined();
    expect(health.ok).toBe(true);
    // ensureBackupKek's KEK is the never-extractable kind; setup makes the shareable kind (kek-sharing.ts).
    expect(health.objects?.kek?.shareable).toBe(false);
    expect(health.objects).toMatchObject({ total: 1, kek: { id: expect.stringMatching(/^[0-9a-f]{32}$/) } });
  });
});

describe("a sick HSM is reported, not thrown", () => {
  it("a wrong user PIN gives the wrong-PIN class and still names the token", async () => {
    const health = await hsmHealth({ ...config, pin: "wrong-user-pin" });
    expect(health.ok).toBe(false);
    expect(health.token?.label).toBe("keyward-it");
    expect(health.objects).toBeNull();
    expect(health.error).toMatchObject({ code: "pin-incorrect", kind: "configuration" });
    expect(health.error?.message).toContain("KEYWARD_HSM_PIN");
    expect(health.error?.message).not.toContain("wrong-user-pin");
  });

  it("without login, describes the token but never tries the (wrong) PIN", async () => {
    const health = await hsmHealth({ ...config, pin: "wrong-user-pin" }, { login: false });
    expect(health).toMatchObject({ ok: false, objects: null, token: { label: "keyward-it" } });
    expect(health.mechanisms?.ecdsa).toBe(true);
    expect(health.error).toBeUndefined();
  });

  it("a missing token label gives token-missing and says how to create it", async () => {
    const health = await hsmHealth({ ...config, tokenLabel: "no-such-token" });
    expect(health.ok).toBe(false);
    expect(health.token).toBeNull();
    expect(health.error).toMatchObject({ code: "token-missing", kind: "configuration" });
    expect(health.error?.message).toContain("npm start");
  });

  it("a missing library gives library-missing and says how to install one", async () => {
    const health = await hsmHealth({ ...config, library: "/nonexistent/libpkcs11.so" });
    expect(health).toMatchObject({ ok: false, library: "/nonexistent/libpkcs11.so", token: null });
    expect(health.error).toMatchObject({ code: "library-missing", kind: "configuration" });
    expect(health.error?.message).toContain("apt-get install softhsm2");
  });

  it("the ceremony throws (it is not a status check) for a missing token", async () => {
    await expect(
      ensureBackupKek({ soPin: token.soPin, target: { ...config, tokenLabel: "nope" } }),
    ).rejects.toMatchObject({ reason: "token-missing" });
  });

  it("a second SoftHSM configuration in one process is refused clearly", async () => {
    const health = await hsmHealth({ ...config, softhsmConf: "/elsewhere/softhsm2.conf" });
    expect(health.error).toMatchObject({ code: "misconfigured", kind: "configuration" });
  });
});
