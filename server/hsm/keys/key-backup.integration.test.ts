// Wrapping and cloning keys between real SoftHSM tokens that share the backup KEK (made by the ceremony in
// kek-sharing.ts): refusals first, then a clone in a second token that signs for the original public key.
import { randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBackupKek } from "../ceremonies/backup-kek";
import type { Curve } from "./curves";
import { shareBackupKek } from "../ceremonies/kek-sharing";
import { unwrapKey, wrapKey } from "./key-backup";
import { findKey, generateKeyPair, type KeyInfo, sign } from "./keys";
import { closeHsm, flag, type Session } from "../pkcs11/pkcs11";
import { ethereumYParity, isLowS, verifySignature } from "./signature";
import { createTestToken, type TestToken } from "../testing/test-token";
import { addTestToken, asUser, soLogin, thrownBy } from "../testing/test-tokens";

const p = pkcs11js;
let a: TestToken; // primary
let b: TestToken; // replica sharing A's KEK
let c: TestToken; // its own, different KEK
let d: TestToken; // no KEK at all

beforeAll(async () => {
  a = createTestToken("kw-backup-a");
  b = addTestToken(a, "kw-backup-b");
  c = addTestToken(a, "kw-backup-c");
  d = addTestToken(a, "kw-backup-d");
  await shareBackupKek({ source: soLogin(a), replicas: [soLogin(b)] });
  await ensureBackupKek({ soPin: c.soPin, target: soLogin(c).target });
});

afterAll(() => {
  closeHsm();
  a.cleanup();
});

const onA = <T>(work: (s: Session) => T) => asUser(a, true, work);
const onB = <T>(work: (s: Session) => T) => asUser(b, true, work);

function newKey(curve: Curve, exportable: "never" | "wrapped-only"): Promise<KeyInfo> {
  return onA((s) => {
    const { ref } = generateKeyPair(s, { curve, label: `backup ${curve} ${exportable}`, exportable });
    return findKey(s, ref);
  });
}

describe("wrapKey refuses", () => {
  it("a never-exportable key, with key-not-wrappable and a message that says why", async () => {
    const key = await newKey("secp256k1", "never");
    const err = await onA((s) => thrownBy(() => wrapKey(s, key.ref)));
    expect(err).toMatchObject({ reason: "key-not-wrappable", kind: "configuration", code: "INTERNAL" });
    expect(err.message).toContain(key.ref);
    expect(err.message).toContain("never-exportable");
  });

  it("(the HSM itself) an exportable key under an untrusted, user-made AES key", async () => {
    const key = await newKey("secp256k1", "wrapped-only");
    await onA((s) => {
      const [handle] = s.find([
        { type: p.CKA_CLASS, value: p.CKO_PRIVATE_KEY },
        { type: p.CKA_ID, value: Buffer.from(key.ref, "hex") },
      ]);
      if (handle === undefined) throw new Error("key not found");
      const untrusted = s.run("C_GenerateKey", (m, h) =>
        m.C_GenerateKey(h, { mechanism: p.CKM_AES_KEY_GEN }, [
          { type: p.CKA_TOKEN, value: false },
          { type: p.CKA_VALUE_LEN, value: 32 },
          { type: p.CKA_WRAP, value: true },
        ]),
      );
      const err = thrownBy(() =>
        s.run("C_WrapKey", (m, h) =>
          m.C_WrapKey(h, { mechanism: p.CKM_AES_KEY_WRAP_PAD }, untrusted, handle, Buffer.alloc(1024)),
        ),
      );
      expect(err.detail.ckr).toBe("CKR_KEY_NOT_WRAPPABLE");
      expect(err.reason).toBe("refused");
    });
  });

  it("an Ed25519 key on SoftHSM 2.6.1, which cannot wrap Ed25519 keys at all: mechanism-unsupported", async () => {
    const key = await newKey("ed25519", "wrapped-only");
    const err = await onA((s) => thrownBy(() => wrapKey(s, key.ref)));
    expect(err).toMatchObject({ reason: "mechanism-unsupported", kind: "configuration" });
    expect(err.message).toContain("Ed25519");
  });

  it("when the token has no backup KEK", async () => {
    const { ref } = await asUser(d, true, (s) =>
      generateKeyPair(s, { curve: "p256", label: "no kek", exportable: "wrapped-only" }),
    );
    const err = await asUser(d, true, (s) => thrownBy(() => wrapKey(s, ref)));
    expect(err).toMatchObject({ reason: "kek-missing", kind: "configuration" });
  });
});

describe("a clone in a second token", () => {
  it.each(["secp256k1", "p256"] as const)(
    "%s: unwraps into B with the same attributes and signs for A's public key",
    async (curve) => {
      const original = await newKey(curve, "wrapped-only");
      const blob = await onA((s) => wrapKey(s, original.ref));
      expect(blob.length).toBeGreaterThan(40);
      // The wrapped blob does not contain the public key's bytes in clear, nor is it a bare PKCS#8.
      expect(blob.includes(original.publicKey.subarray(1, 17))).toBe(false);

      const clone = await onB((s) => unwrapKey(s, blob, original));
      expect(clone).toEqual(original);

      await onB((s) => {
        const [handle] = s.find([
          { type: p.CKA_CLASS, value: p.CKO_PRIVATE_KEY },
          { type: p.CKA_ID, value: Buffer.from(original.ref, "hex") },
        ]);
        if (handle === undefined) throw new Error("clone not found");
        const types = [
          p.CKA_TOKEN,
          p.CKA_PRIVATE,
          p.CKA_SENSITIVE,
          p.CKA_SIGN,
          p.CKA_EXTRACTABLE,
          p.CKA_WRAP_WITH_TRUSTED,
        ];
        const values = s.attributes(handle, [...types, p.CKA_DECRYPT, p.CKA_UNWRAP, p.CKA_DERIVE]);
        for (const type of types) expect(flag(values, type)).toBe(true);
        for (const type of [p.CKA_DECRYPT, p.CKA_UNWRAP, p.CKA_DERIVE])
          expect(flag(values, type)).toBe(false);
        expect(thrownBy(() => s.attributes(handle, [p.CKA_VALUE])).detail.ckr).toBe(
          "CKR_ATTRIBUTE_SENSITIVE",
        );

        for (let i = 0; i < 20; i++) {
          const digest = randomBytes(32);
          const signature = sign(s, original.ref, digest);
          expect(isLowS(curve, signature)).toBe(true);
          expect(verifySignature(curve, original.publicKey, digest, signature)).toBe(true);
          if (curve === "secp256k1")
            expect([0, 1]).toContain(ethereumYParity(digest, signature, original.publicKey));
        }
      });
      // The clone is wrappable again under B's copy of the KEK: B can seed a further token.
      const again = await onB((s) => wrapKey(s, original.ref));
      expect(again.length).toBe(blob.length);
    },
  );

  it("is safe to retry: unwrapping the same blob again returns the key without a second copy", async () => {
    const original = await newKey("secp256k1", "wrapped-only");
    const blob = await onA((s) => wrapKey(s, original.ref));
    await onB((s) => unwrapKey(s, blob, original));
    expect(await onB((s) => unwrapKey(s, blob, original))).toEqual(original);
    const objects = await onB((s) => s.find([{ type: p.CKA_ID, value: Buffer.from(original.ref, "hex") }]));
    expect(objects).toHaveLength(2);
  });

  it("refuses a blob that does not match the public key it is said to have, leaving nothing behind", async () => {
    const one = await newKey("secp256k1", "wrapped-only");
    const other = await newKey("secp256k1", "wrapped-only");
    const blob = await onA((s) => wrapKey(s, one.ref));
    const err = await onB((s) => thrownBy(() => unwrapKey(s, blob, { ...other })));
    expect(err.reason).toBe("invalid-request");
    expect(err.message).toContain("does not match the given public key");
    const wrongCurve = await onB((s) => thrownBy(() => unwrapKey(s, blob, { ...one, curve: "p256" })));
    expect(wrongCurve.message).toContain("not on p256");
    const left = await onB((s) =>
      [one.ref, other.ref].flatMap((ref) => s.find([{ type: p.CKA_ID, value: Buffer.from(ref, "hex") }])),
    );
    expect(left).toHaveLength(0);
  });

  it("cannot be restored into a token with another KEK, or with none", async () => {
    const original = await newKey("p256", "wrapped-only");
    const blob = await onA((s) => wrapKey(s, original.ref));
    const intoC = await asUser(c, true, (s) => thrownBy(() => unwrapKey(s, blob, original)));
    // SoftHSM says CKR_GENERAL_ERROR; wrapKey checks that nothing was created and says what happened.
    expect(intoC).toMatchObject({ reason: "invalid-request", kind: "configuration" });
    expect(intoC.message).toContain("does not unwrap under this token's backup KEK");
    const intoD = await asUser(d, true, (s) => thrownBy(() => unwrapKey(s, blob, original)));
    expect(intoD.reason).toBe("kek-missing");
    const tampered = Buffer.from(blob);
    tampered[10] = (tampered[10] ?? 0) ^ 1;
    const err = await onB((s) => thrownBy(() => unwrapKey(s, tampered, original)));
    expect(err.message).toContain("or it is damaged");
    const left = await asUser(c, false, (s) =>
      s.find([{ type: p.CKA_ID, value: Buffer.from(original.ref, "hex") }]),
    );
    expect(left).toHaveLength(0);
  });
});
