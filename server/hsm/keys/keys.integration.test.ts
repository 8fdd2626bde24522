// Key generation, lookup, signing and destruction on a real SoftHSM token in a temporary folder; every
// signature is checked with @noble/curves, software we did not write.
import { randomBytes } from "node:crypto";
import { secp256k1 } from "@noble/curves/secp256k1";
import pkcs11js from "pkcs11js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Curve, CURVES, type Exportable } from "./curves";
import { destroyKey, findKey, generateKeyPair, sign, supportedMechanisms } from "./keys";
import { closeHsm, flag, MECHANISM, type Session } from "../pkcs11/pkcs11";
import { ethereumYParity, isLowS, verifySignature } from "./signature";
import { createTestToken, type TestToken } from "../testing/test-token";
import { asUser, thrownBy } from "../testing/test-tokens";

let token: TestToken;

beforeAll(() => {
  token = createTestToken("kw-keys");
});

afterAll(() => {
  closeHsm();
  token.cleanup();
});

const p = pkcs11js;
const rw = <T>(work: (s: Session) => T) => asUser(token, true, work);
const ro = <T>(work: (s: Session) => T) => asUser(token, false, work);
/** What a signature covers: a 32-byte digest for ECDSA, the message itself for Ed25519. */
const input = (curve: Curve) => (curve === "ed25519" ? randomBytes(200) : randomBytes(32));

/** The boolean attributes ARCHITECTURE.md fixes for a private key, read from the token. */
function privateFlags(s: Session, ref: string) {
  const [key] = s.find([
    { type: p.CKA_CLASS, value: p.CKO_PRIVATE_KEY },
    { type: p.CKA_ID, value: Buffer.from(ref, "hex") },
  ]);
  if (key === undefined) throw new Error(`no private key ${ref}`);
  const names = {
    token: p.CKA_TOKEN,
    private: p.CKA_PRIVATE,
    sensitive: p.CKA_SENSITIVE,
    alwaysSensitive: p.CKA_ALWAYS_SENSITIVE,
    sign: p.CKA_SIGN,
    decrypt: p.CKA_DECRYPT,
    unwrap: p.CKA_UNWRAP,
    derive: p.CKA_DERIVE,
    extractable: p.CKA_EXTRACTABLE,
    neverExtractable: p.CKA_NEVER_EXTRACTABLE,
    wrapWithTrusted: p.CKA_WRAP_WITH_TRUSTED,
  };
  const values = s.attributes(key, Object.values(names));
  return { key, flags: Object.fromEntries(Object.entries(names).map(([n, t]) => [n, flag(values, t)])) };
}

describe("generateKeyPair", () => {
  const cases = CURVES.flatMap((curve) =>
    (["never", "wrapped-only"] as const).map((e) => [curve, e] as const),
  );

  it.each(cases)(
    "%s, exportable %s: exactly the attributes asked for, and the private value unreadable",
    async (curve, exportable: Exportable) => {
      const label = `kw ${curve} ${exportable}`;
      const { ref, publicKey } = await rw((s) => generateKeyPair(s, { curve, label, exportable }));
      expect(ref).toMatch(/^[0-9a-f]{32}$/);
      expect(publicKey).toHaveLength(curve === "ed25519" ? 32 : 65);
      if (curve !== "ed25519") expect(publicKey[0]).toBe(0x04);

      await ro((s) => {
        const { key, flags } = privateFlags(s, ref);
        expect(flags).toEqual({
          token: true,
          private: true,
          sensitive: true,
          alwaysSensitive: true,
          sign: true,
          decrypt: false,
          unwrap: false,
          derive: false,
          extractable: exportable === "wrapped-only",
          neverExtractable: exportable === "never",
          wrapWithTrusted: exportable === "wrapped-only",
        });
        const err = thrownBy(() => s.attributes(key, [p.CKA_VALUE]));
        expect(err).toMatchObject({ reason: "refused", kind: "configuration" });
        expect(err.detail.ckr).toBe("CKR_ATTRIBUTE_SENSITIVE");
        // A fresh session has no cached handle: the key is found on the token by its reference.
        expect(findKey(s, ref)).toEqual({ ref, curve, label, publicKey, exportable });
      });
    },
  );

  it("refuses what is not a curve, an export rule or a label before the HSM is asked", async () => {
    await rw((s) => {
      const bad = [
        { curve: "secp384r1", label: "x", exportable: "never" },
        { curve: "p256", label: "", exportable: "never" },
        { curve: "p256", label: "x", exportable: "always" },
      ];
      for (const options of bad) {
        // Data from another thread is checked at run time, whatever its static type said.
        const err = thrownBy(() => Reflect.apply(generateKeyPair, undefined, [s, options]));
        expect(err.reason).toBe("invalid-request");
      }
      expect(s.find([]).length).toBe(2 * cases.length);
    });
  });
});

describe("generateKeyPair with a fresh reference", () => {
  /** Counts the session's searches while `work` runs. */
  function searchesDuring<T>(s: Session, work: () => T): { value: T; searches: number } {
    const find = s.find.bind(s);
    let searches = 0;
    s.find = (template) => {
      searches++;
      return find(template);
    };
    try {
      return { value: work(), searches };
    } finally {
      s.find = find;
    }
  }

  it("skips the token-wide searches on a first try; a repeat (not fresh) searches and finds the same key", async () => {
    const ref = randomBytes(16).toString("hex");
    const options = { curve: "p256" as const, label: "fresh", exportable: "never" as const, ref };
    const first = await rw((s) => searchesDuring(s, () => generateKeyPair(s, { ...options, fresh: true })));
    expect(first.searches).toBe(0);
    expect(first.value.created).toBe(true);
    const repeat = await rw((s) => searchesDuring(s, () => generateKeyPair(s, options)));
    expect(repeat.searches).toBeGreaterThan(0);
    expect(repeat.value).toMatchObject({ created: false, ref });
    expect(repeat.value.publicKey.equals(first.value.publicKey)).toBe(true);
    expect((await ro((s) => findKey(s, ref))).publicKey.equals(first.value.publicKey)).toBe(true);
  });
});

describe("sign", () => {
  it.each(CURVES)("%s: signatures verify with @noble/curves for the returned public key", async (curve) => {
    await rw(async (s) => {
      const { ref, publicKey } = generateKeyPair(s, { curve, label: `sign ${curve}`, exportable: "never" });
      for (let i = 0; i < 20; i++) {
        const data = input(curve);
        const signature = sign(s, ref, data);
        expect(signature).toHaveLength(64);
        expect(verifySignature(curve, publicKey, data, signature)).toBe(true);
      }
    });
  });

  it.each(["secp256k1", "p256"] as const)(
    "%s: S is low every time, though the HSM's own output is not",
    async (curve) => {
      await rw((s) => {
        const { ref, publicKey } = generateKeyPair(s, {
          curve,
          label: `low-S ${curve}`,
          exportable: "never",
        });
        let rawHigh = 0;
        const digest = randomBytes(32);
        for (let i = 0; i < 300; i++) {
          const signature = sign(s, ref, digest);
          expect(isLowS(curve, signature)).toBe(true);
          expect(verifySignature(curve, publicKey, digest, signature)).toBe(true);
          // CKM_ECDSA straight from the token, to show what the normalisation is for.
          const handle = s.keys.get(ref)?.handle;
          if (handle === undefined) throw new Error("the key handle should be cached");
          s.run("C_SignInit", (m, h) => m.C_SignInit(h, { mechanism: MECHANISM.ecdsa }, handle));
          const raw = s.run("C_Sign", (m, h) => m.C_Sign(h, digest, Buffer.alloc(64)));
          if (!isLowS(curve, raw)) rawHigh++;
        }
        // Half of raw ECDSA signatures are high-S; 300 low ones in a row would be a 2^-300 chance.
        expect(rawHigh).toBeGreaterThan(0);
      });
    },
  );

  it("secp256k1: ethereumYParity gives the bit that recovers the key, and only that bit", async () => {
    await rw((s) => {
      const { ref, publicKey } = generateKeyPair(s, {
        curve: "secp256k1",
        label: "eth",
        exportable: "never",
      });
      const bits = new Set<number>();
      for (let i = 0; i < 40; i++) {
        const digest = randomBytes(32);
        const signature = sign(s, ref, digest);
        const yParity = ethereumYParity(digest, signature, publicKey);
        bits.add(yParity);
        const parsed = secp256k1.Signature.fromBytes(signature, "compact");
        const recovered = parsed.addRecoveryBit(yParity).recoverPublicKey(digest).toBytes(false);
        expect(Buffer.from(recovered)).toEqual(publicKey);
        const otherBit = yParity === 0 ? 1 : 0;
        let other: Uint8Array | undefined;
        try {
          other = parsed.addRecoveryBit(otherBit).recoverPublicKey(digest).toBytes(false);
        } catch {
          other = undefined;
        }
        expect(other === undefined || !Buffer.from(other).equals(publicKey)).toBe(true);
      }
      expect([...bits].sort()).toEqual([0, 1]);
    });
  });

  it("ECDSA refuses anything but a 32-byte digest, with a message that says so", async () => {
    await rw((s) => {
      for (const curve of ["secp256k1", "p256"] as const) {
        const { ref } = generateKeyPair(s, { curve, label: `digest ${curve}`, exportable: "never" });
        for (const length of [0, 20, 31, 33, 64]) {
          const err = thrownBy(() => sign(s, ref, randomBytes(length)));
          expect(err).toMatchObject({ reason: "invalid-request", code: "INTERNAL" });
          expect(err.message).toContain(`signs a 32-byte digest; got ${length} bytes`);
        }
      }
    });
  });
});

describe("destroyKey and unknown keys", () => {
  it("a destroyed key cannot sign, and is no longer found", async () => {
    const { ref } = await rw((s) =>
      generateKeyPair(s, { curve: "secp256k1", label: "doomed", exportable: "never" }),
    );
    await rw((s) => {
      // This session caches the handle, then the key is destroyed through another session.
      sign(s, ref, randomBytes(32));
      return asUser(token, true, (other) => expect(destroyKey(other, ref)).toBe(true)).then(() => {
        const err = thrownBy(() => sign(s, ref, randomBytes(32)));
        expect(err).toMatchObject({ reason: "key-missing", kind: "configuration" });
        expect(err.message).toContain(`No key with reference ${ref}`);
      });
    });
    await rw((s) => {
      expect(thrownBy(() => sign(s, ref, randomBytes(32))).reason).toBe("key-missing");
      expect(thrownBy(() => findKey(s, ref)).reason).toBe("key-missing");
      expect(s.find([{ type: p.CKA_ID, value: Buffer.from(ref, "hex") }])).toHaveLength(0);
      // Destroying again is not an error: a retried destruction is harmless.
      expect(destroyKey(s, ref)).toBe(false);
    });
  });

  it("a malformed reference is refused; a well-formed unknown one is key-missing", async () => {
    await ro((s) => {
      for (const ref of ["", "xyz", "AB".repeat(16), "ab".repeat(17)]) {
        expect(thrownBy(() => sign(s, ref, randomBytes(32))).reason).toBe("invalid-request");
      }
      expect(thrownBy(() => findKey(s, "00".repeat(16))).reason).toBe("key-missing");
    });
  });
});

describe("supportedMechanisms", () => {
  it("reports every curve and the backup mechanism on SoftHSM 2.6.1", async () => {
    const supported = await ro((s) => supportedMechanisms(s));
    expect(supported.curves).toEqual({ secp256k1: true, ed25519: true, p256: true });
    expect(supported.backup).toBe(true);
    expect(supported.mechanisms).toContain(MECHANISM.eddsa);
    expect(supported.mechanisms).toEqual([...supported.mechanisms].sort((a, b) => a - b));
  });
});
