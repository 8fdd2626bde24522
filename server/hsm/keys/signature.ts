// What the chains need from an HSM signature that PKCS#11 does not give: low-S ECDSA (Bitcoin and Ethereum
// reject the high-S twin of a valid signature) and Ethereum's recovery bit, found by recovering against the
// public key we already know. Pure, with @noble/curves doing the curve arithmetic; it never sees a private key.
import { ed25519 } from "@noble/curves/ed25519";
import { p256 } from "@noble/curves/nist";
import { secp256k1 } from "@noble/curves/secp256k1";
import type { Curve, EcdsaCurve } from "./curves";
import { HsmError } from "../pkcs11/errors";

/** Group orders n (SEC 2): s and n - s both verify; the low one is s <= n / 2. */
export const CURVE_ORDER: Readonly<Record<EcdsaCurve, bigint>> = {
  secp256k1: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
  p256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
};

const toBigInt = (bytes: Uint8Array) => BigInt(`0x${Buffer.from(bytes).toString("hex") || "0"}`);
const to32Bytes = (value: bigint) => Buffer.from(value.toString(16).padStart(64, "0"), "hex");

function splitSignature(signature: Uint8Array): { r: bigint; s: bigint } {
  if (signature.length !== 64) {
    throw new HsmError(
      "invalid-request",
      `An ECDSA signature is 64 bytes (r || s); got ${signature.length}.`,
      {
        operation: "signature",
      },
    );
  }
  return { r: toBigInt(signature.subarray(0, 32)), s: toBigInt(signature.subarray(32)) };
}

export function isLowS(curve: EcdsaCurve, signature: Uint8Array): boolean {
  return splitSignature(signature).s <= CURVE_ORDER[curve] / 2n;
}

/** floor(n / 2) as 32 big-endian bytes, so the common low-S case is one byte comparison, no bigint. */
const HALF_ORDER: Readonly<Record<EcdsaCurve, Buffer>> = {
  secp256k1: to32Bytes(CURVE_ORDER.secp256k1 / 2n),
  p256: to32Bytes(CURVE_ORDER.p256 / 2n),
};

const ORDER_BYTES: Readonly<Record<EcdsaCurve, Buffer>> = {
  secp256k1: to32Bytes(CURVE_ORDER.secp256k1),
  p256: to32Bytes(CURVE_ORDER.p256),
};

/**
 * r || s with s replaced by n - s when it is in the upper half: the same signature, in canonical form.
 * Byte arithmetic rather than bigint: this runs for every signature, and hex round trips cost more here
 * than the rest of the step.
 */
export function normalizeLowS(curve: EcdsaCurve, signature: Uint8Array): Buffer {
  if (signature.length !== 64) splitSignature(signature); // throws the usual invalid-request
  const copy = Buffer.from(signature);
  if (Buffer.compare(copy.subarray(32), HALF_ORDER[curve]) <= 0) return copy;
  // s is in (n/2, n) for a signature the HSM made; n - s is then positive and below n/2.
  const n = ORDER_BYTES[curve];
  let borrow = 0;
  for (let i = 31; i >= 0; i--) {
    const d = (n[i] ?? 0) - (copy[32 + i] ?? 0) - borrow;
    borrow = d < 0 ? 1 : 0;
    copy[32 + i] = d & 0xff;
  }
  return copy;
}

/**
 * Ethereum's yParity (v = yParity, or 27 + yParity in legacy form): the recovery bit for which the
 * signature over `digest` recovers `publicKey` (65 bytes, uncompressed). The HSM does not report it, so
 * both candidates are tried. Refuses a high-S signature, which Ethereum rejects anyway.
 */
export function ethereumYParity(digest: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): 0 | 1 {
  const { r, s } = splitSignature(signature);
  if (digest.length !== 32 || publicKey.length !== 65) {
    throw new HsmError(
      "invalid-request",
      `Recovery needs a 32-byte digest and a 65-byte uncompressed public key; got ${digest.length} and ${publicKey.length} bytes.`,
      { operation: "ethereumYParity" },
    );
  }
  if (s > CURVE_ORDER.secp256k1 / 2n) {
    throw new HsmError("invalid-request", "Ethereum accepts only low-S signatures; normalise s first.", {
      operation: "ethereumYParity",
    });
  }
  const expected = Buffer.from(publicKey);
  for (const bit of [0, 1] as const) {
    try {
      const point = new secp256k1.Signature(r, s).addRecoveryBit(bit).recoverPublicKey(digest);
      if (expected.equals(point.toBytes(false))) return bit;
    } catch {
      // No point for this bit (x = r is not on the curve with that parity): try the other one.
    }
  }
  throw new HsmError(
    "invalid-request",
    "The signature does not recover to the given public key with either recovery bit: it was made by another key or over another digest.",
    { operation: "ethereumYParity" },
  );
}

/**
 * Verifies with software we did not write. ECDSA takes the 32-byte digest itself (no hashing here) and
 * accepts either S; Ed25519 takes the message.
 */
export function verifySignature(
  curve: Curve,
  publicKey: Uint8Array,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    if (curve === "ed25519") return ed25519.verify(signature, data, publicKey);
    const ecdsa = curve === "secp256k1" ? secp256k1 : p256;
    return ecdsa.verify(signature, data, publicKey, { prehash: false, lowS: false });
  } catch {
    // Malformed inputs make noble throw; for a verifier that is simply "not valid".
    return false;
  }
}
