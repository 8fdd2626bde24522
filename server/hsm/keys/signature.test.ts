import { randomBytes } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519";
import { p256 } from "@noble/curves/nist";
import { secp256k1 } from "@noble/curves/secp256k1";
import { describe, expect, it } from "vitest";
import { HsmError } from "../pkcs11/errors";
import { CURVE_ORDER, ethereumYParity, isLowS, normalizeLowS, verifySignature } from "./signature";

const hex32 = (value: bigint) => Buffer.from(value.toString(16).padStart(64, "0"), "hex");
const sig = (r: bigint, s: bigint) => Buffer.concat([hex32(r), hex32(s)]);
const sOf = (signature: Uint8Array) => BigInt(`0x${Buffer.from(signature.subarray(32)).toString("hex")}`);

describe("low-S normalisation", () => {
  it("uses the curve orders noble uses", () => {
    expect(CURVE_ORDER.secp256k1).toBe(secp256k1.Point.CURVE().n);
    expect(CURVE_ORDER.p256).toBe(p256.Point.CURVE().n);
  });

  it.each(["secp256k1", "p256"] as const)("%s: turns a high S into n - S, which still verifies", (curve) => {
    const lib = curve === "secp256k1" ? secp256k1 : p256;
    const n = CURVE_ORDER[curve];
    const secret = lib.utils.randomPrivateKey();
    const publicKey = lib.getPublicKey(secret, false);
    for (let i = 0; i < 20; i++) {
      const digest = randomBytes(32);
      const low = lib.sign(digest, secret, { lowS: true });
      const high = sig(low.r, n - low.s);
      expect(isLowS(curve, high)).toBe(false);
      const normalised = normalizeLowS(curve, high);
      expect(normalised).toEqual(sig(low.r, low.s));
      expect(isLowS(curve, normalised)).toBe(true);
      expect(verifySignature(curve, publicKey, digest, normalised)).toBe(true);
      // Already low: unchanged.
      expect(normalizeLowS(curve, normalised)).toEqual(normalised);
    }
  });

  it("keeps S = floor(n/2) and flips floor(n/2) + 1", () => {
    const half = CURVE_ORDER.secp256k1 / 2n;
    expect(sOf(normalizeLowS("secp256k1", sig(1n, half)))).toBe(half);
    expect(sOf(normalizeLowS("secp256k1", sig(1n, half + 1n)))).toBe(CURVE_ORDER.secp256k1 - half - 1n);
  });

  it("refuses a signature that is not 64 bytes", () => {
    expect(() => normalizeLowS("p256", Buffer.alloc(63))).toThrow(HsmError);
    expect(() => isLowS("secp256k1", Buffer.alloc(72))).toThrow(/64 bytes/);
  });
});

describe("ethereumYParity", () => {
  it("finds the recovery bit noble computed when it signed, for both parities", () => {
    const secret = secp256k1.utils.randomPrivateKey();
    const publicKey = secp256k1.getPublicKey(secret, false);
    const seen = new Set<number>();
    for (let i = 0; i < 40; i++) {
      const digest = randomBytes(32);
      const signature = secp256k1.sign(digest, secret, { lowS: true });
      expect(ethereumYParity(digest, signature.toBytes("compact"), publicKey)).toBe(signature.recovery);
      seen.add(signature.recovery);
    }
    expect([...seen].sort()).toEqual([0, 1]);
  });

  it("refuses a signature by another key, a high S and malformed lengths", () => {
    const secret = secp256k1.utils.randomPrivateKey();
    const other = secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), false);
    const digest = randomBytes(32);
    const signature = secp256k1.sign(digest, secret, { lowS: true });
    const compact = signature.toBytes("compact");
    expect(() => ethereumYParity(digest, compact, other)).toThrow(/does not recover/);
    const high = sig(signature.r, CURVE_ORDER.secp256k1 - signature.s);
    expect(() => ethereumYParity(digest, high, secp256k1.getPublicKey(secret, false))).toThrow(/low-S/);
    expect(() => ethereumYParity(digest.subarray(1), compact, other)).toThrow(/32-byte digest/);
    expect(() => ethereumYParity(digest, compact, secp256k1.getPublicKey(secret, true))).toThrow(/65-byte/);
  });
});

describe("verifySignature", () => {
  it("accepts Ed25519 over the message and refuses a changed message or signature", () => {
    const secret = ed25519.utils.randomPrivateKey();
    const publicKey = ed25519.getPublicKey(secret);
    const message = Buffer.from("a Solana transaction message");
    const signature = ed25519.sign(message, secret);
    expect(verifySignature("ed25519", publicKey, message, signature)).toBe(true);
    expect(verifySignature("ed25519", publicKey, Buffer.from("another message"), signature)).toBe(false);
    expect(verifySignature("ed25519", publicKey, message, Buffer.alloc(64))).toBe(false);
  });

  it("treats the ECDSA input as the digest itself, not as a message to hash", () => {
    const secret = secp256k1.utils.randomPrivateKey();
    const digest = randomBytes(32);
    const signature = secp256k1.sign(digest, secret, { lowS: true, prehash: false }).toBytes("compact");
    expect(verifySignature("secp256k1", secp256k1.getPublicKey(secret, false), digest, signature)).toBe(true);
    expect(
      verifySignature("secp256k1", secp256k1.getPublicKey(secret, false), randomBytes(32), signature),
    ).toBe(false);
    expect(verifySignature("secp256k1", Buffer.alloc(65), digest, signature)).toBe(false);
  });
});
