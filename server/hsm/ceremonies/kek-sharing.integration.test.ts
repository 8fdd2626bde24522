// The KEK-sharing ceremony between real SoftHSM tokens in one temporary folder: the KEK reaches the replica
// only wrapped, arrives with the same safe attributes, and nobody but an SO can get it out again.
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBackupKek, findBackupKeks, readBackupKekAttributes } from "./backup-kek";
import { HsmError } from "../pkcs11/errors";
import { shareBackupKek } from "./kek-sharing";
import { closeHsm, flag, type Session } from "../pkcs11/pkcs11";
import { createTestToken, type TestToken } from "../testing/test-token";
import { addTestToken, asUser, soLogin, thrownBy } from "../testing/test-tokens";

const p = pkcs11js;
let a: TestToken;
let b: TestToken;
let c: TestToken;
let d: TestToken;

beforeAll(() => {
  a = createTestToken("kw-share-a");
  b = addTestToken(a, "kw-share-b");
  c = addTestToken(a, "kw-share-c");
  d = addTestToken(a, "kw-share-d");
});

afterAll(() => {
  closeHsm();
  a.cleanup();
});

function theKek(s: Session) {
  const [kek, ...more] = findBackupKeks(s);
  if (kek === undefined || more.length > 0) throw new Error("expected exactly one KEK");
  return kek;
}

function kekFacts(s: Session) {
  const kek = theKek(s);
  return {
    ...readBackupKekAttributes(s, kek),
    wrapWithTrusted: flag(s.attributes(kek, [p.CKA_WRAP_WITH_TRUSTED]), p.CKA_WRAP_WITH_TRUSTED),
  };
}

async function rejection(promise: Promise<unknown>): Promise<HsmError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof HsmError)) throw new Error(`expected an HsmError, got ${String(err)}`);
  return err;
}

describe("shareBackupKek", () => {
  it("creates a shareable KEK on the source and clones it into the replica with the same id", async () => {
    const shared = await shareBackupKek({ source: soLogin(a), replicas: [soLogin(b)] });
    expect(shared).toMatchObject({ created: true, cloned: ["kw-share-b"], present: [] });
    expect(shared.id).toMatch(/^[0-9a-f]{32}$/);

    const expected = {
      id: shared.id,
      trusted: true,
      private: false,
      sensitive: true,
      // Extractable only under a trusted key, which only an SO can create.
      extractable: true,
      wrapWithTrusted: true,
      wrap: true,
      unwrap: true,
      encrypt: false,
      decrypt: false,
      modifiable: false,
      destroyable: false,
    };
    const onA = await asUser(a, false, kekFacts);
    const onB = await asUser(b, false, kekFacts);
    expect(onA).toMatchObject({ ...expected, alwaysSensitive: true });
    // The clone was unwrapped, so PKCS#11 says it was not always sensitive, though it never left in plaintext.
    expect(onB).toMatchObject({ ...expected, alwaysSensitive: false, neverExtractable: false });
  });

  it("is idempotent: a second run proves the replica's KEK is the same key and changes nothing", async () => {
    const first = await asUser(b, false, (s) => s.find([]).length);
    const again = await shareBackupKek({ source: soLogin(a), replicas: [soLogin(b)] });
    expect(again).toMatchObject({ created: false, cloned: [], present: ["kw-share-b"] });
    expect(await asUser(b, false, (s) => s.find([]).length)).toBe(first);
    // Nothing of the transport or the probe stays behind on the source either.
    expect(await asUser(a, false, (s) => s.find([]).length)).toBe(1);
  });

  it("leaves a user no way to get the KEK out: unreadable, and refused under any key a user can make", async () => {
    await asUser(a, true, (s) => {
      const kek = theKek(s);
      expect(thrownBy(() => s.attributes(kek, [p.CKA_VALUE])).detail.ckr).toBe("CKR_ATTRIBUTE_SENSITIVE");
      const aes = s.run("C_GenerateKey", (m, h) =>
        m.C_GenerateKey(h, { mechanism: p.CKM_AES_KEY_GEN }, [
          { type: p.CKA_TOKEN, value: false },
          { type: p.CKA_VALUE_LEN, value: 32 },
          { type: p.CKA_WRAP, value: true },
        ]),
      );
      const underAes = thrownBy(() =>
        s.run("C_WrapKey", (m, h) =>
          m.C_WrapKey(h, { mechanism: p.CKM_AES_KEY_WRAP_PAD }, aes, kek, Buffer.alloc(512)),
        ),
      );
      expect(underAes.detail.ckr).toBe("CKR_KEY_NOT_WRAPPABLE");
      const rsa = s.run("C_GenerateKeyPair", (m, h) =>
        m.C_GenerateKeyPair(
          h,
          { mechanism: p.CKM_RSA_PKCS_KEY_PAIR_GEN },
          [
            { type: p.CKA_TOKEN, value: false },
            { type: p.CKA_MODULUS_BITS, value: 2048 },
            { type: p.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
            { type: p.CKA_WRAP, value: true },
          ],
          [
            { type: p.CKA_TOKEN, value: false },
            { type: p.CKA_UNWRAP, value: true },
          ],
        ),
      );
      const oaep = {
        mechanism: p.CKM_RSA_PKCS_OAEP,
        parameter: { type: p.CK_PARAMS_RSA_OAEP, hashAlg: p.CKM_SHA_1, mgf: p.CKG_MGF1_SHA1, source: 1 },
      };
      const underRsa = thrownBy(() =>
        s.run("C_WrapKey", (m, h) => m.C_WrapKey(h, oaep, rsa.publicKey, kek, Buffer.alloc(1024))),
      );
      expect(underRsa.detail.ckr).toBe("CKR_KEY_NOT_WRAPPABLE");
      // And a user cannot make their own key trusted.
      const trust = thrownBy(() =>
        s.run("C_SetAttributeValue", (m, h) =>
          m.C_SetAttributeValue(h, rsa.publicKey, [{ type: p.CKA_TRUSTED, value: true }]),
        ),
      );
      expect(trust.detail.ckr).toBe("CKR_ATTRIBUTE_READ_ONLY");
    });
  });

  it("refuses a replica that holds a different KEK, and changes nothing there", async () => {
    const own = await ensureBackupKek({ soPin: c.soPin, target: soLogin(c).target });
    const err = await rejection(shareBackupKek({ source: soLogin(a), replicas: [soLogin(c)] }));
    expect(err).toMatchObject({ reason: "misconfigured", kind: "configuration" });
    expect(err.message).toContain("holds a different backup KEK");
    expect(await asUser(c, false, (s) => readBackupKekAttributes(s, theKek(s)).id)).toBe(own.id);
  });

  it("refuses to share a never-extractable KEK (the single-token setup's) with a token that needs one", async () => {
    const err = await rejection(shareBackupKek({ source: soLogin(c), replicas: [soLogin(d)] }));
    expect(err.reason).toBe("misconfigured");
    expect(err.message).toContain("never-extractable");
    expect(await asUser(d, false, (s) => findBackupKeks(s).length)).toBe(0);
  });

  it("refuses a wrong SO PIN on a replica with the wrong-PIN class, and never shows the PIN", async () => {
    const err = await rejection(
      shareBackupKek({ source: soLogin(a), replicas: [{ ...soLogin(d), soPin: "wrong-so-pin" }] }),
    );
    expect(err).toMatchObject({ reason: "pin-incorrect", kind: "configuration" });
    expect(err.message).not.toContain("wrong-so-pin");
    expect(await asUser(d, false, (s) => findBackupKeks(s).length)).toBe(0);
  });

  it("refuses the source listed as its own replica", async () => {
    const err = await rejection(shareBackupKek({ source: soLogin(a), replicas: [soLogin(a)] }));
    expect(err.reason).toBe("misconfigured");
  });
});
