// The three curves Keyward keeps keys on, and the byte formats PKCS#11 uses for them: the DER curve
// parameters (CKA_EC_PARAMS) and the DER-wrapped public point (CKA_EC_POINT). Pure: no PKCS#11 calls, no I/O,
// so it is tested without a token and can be imported from anywhere.
import { HsmError, hsmError } from "../pkcs11/errors";

export const CURVES = ["secp256k1", "ed25519", "p256"] as const;
/** secp256k1: Bitcoin and Ethereum; ed25519: Solana; p256: the audit trail's checkpoints. */
export type Curve = (typeof CURVES)[number];
/** ECDSA curves sign a 32-byte digest; Ed25519 signs the message itself. */
export type EcdsaCurve = Exclude<Curve, "ed25519">;

/**
 * "never": CKA_EXTRACTABLE false, the key can never leave the HSM in any form.
 * "wrapped-only": CKA_EXTRACTABLE true with CKA_WRAP_WITH_TRUSTED true, so it leaves only wrapped under a
 * trusted key, and only the HSM's security officer can make a key trusted.
 */
export type Exportable = "never" | "wrapped-only";

type CurveSpec = {
  /** What Keyward sends in CKA_EC_PARAMS: the curve's OID, DER-encoded. */
  params: Buffer;
  /** Other encodings a token may report back for the same curve. */
  alsoKnownAs: readonly Buffer[];
  /** Length of the raw public point: 65 (uncompressed SEC1, 0x04 || x || y) or 32 (Ed25519). */
  pointLength: number;
};

const hex = (value: string) => Buffer.from(value, "hex");

export const CURVE_SPECS: Readonly<Record<Curve, CurveSpec>> = {
  secp256k1: { params: hex("06052b8104000a"), alsoKnownAs: [], pointLength: 65 },
  p256: { params: hex("06082a8648ce3d030107"), alsoKnownAs: [], pointLength: 65 },
  // SoftHSM 2.6.1 accepts both the OID 1.3.101.112 and the PrintableString "edwards25519" when generating,
  // and reports the private key's parameters as the string even when the key was made with the OID.
  ed25519: {
    params: hex("06032b6570"),
    alsoKnownAs: [hex(`130c${Buffer.from("edwards25519").toString("hex")}`)],
    pointLength: 32,
  },
};

export function isCurve(value: unknown): value is Curve {
  return typeof value === "string" && CURVES.some((c) => c === value);
}

export function isEcdsaCurve(curve: Curve): curve is EcdsaCurve {
  return curve !== "ed25519";
}

/** The curve named by CKA_EC_PARAMS, or undefined for a curve Keyward does not use. */
export function curveOfParams(params: Uint8Array): Curve | undefined {
  return CURVES.find((curve) => {
    const spec = CURVE_SPECS[curve];
    return spec.params.equals(params) || spec.alsoKnownAs.some((alias) => alias.equals(params));
  });
}

/**
 * The raw public point from CKA_EC_POINT. PKCS#11 wraps it in a DER OCTET STRING (0x04, length, point),
 * and some tokens return it bare. The two are told apart by length, not by the first byte: an uncompressed
 * SEC1 point also starts with 0x04.
 */
export function rawPublicKey(curve: Curve, ecPoint: Uint8Array): Buffer {
  const { pointLength } = CURVE_SPECS[curve];
  const bytes = Buffer.from(ecPoint);
  let point: Buffer | undefined;
  if (bytes.length === pointLength) point = bytes;
  // Both point lengths are below 128, so the DER length is the single short-form byte.
  else if (bytes.length === pointLength + 2 && bytes[0] === 0x04 && bytes[1] === pointLength) {
    point = bytes.subarray(2);
  }
  if (point === undefined || (pointLength === 65 && point[0] !== 0x04)) {
    throw hsmError("device-failed", {
      operation: `reading the ${curve} public key (CKA_EC_POINT of ${bytes.length} bytes)`,
    });
  }
  return Buffer.from(point);
}

/** CKA_EC_POINT for a raw public point: the DER OCTET STRING PKCS#11 asks for when a key is imported. */
export function ecPointAttribute(curve: Curve, publicKey: Uint8Array): Buffer {
  const { pointLength } = CURVE_SPECS[curve];
  if (publicKey.length !== pointLength || (pointLength === 65 && publicKey[0] !== 0x04)) {
    const shape = pointLength === 65 ? "65 bytes, uncompressed (starting 0x04)" : "32 bytes";
    throw new HsmError(
      "invalid-request",
      `A ${curve} public key is ${shape}; got ${publicKey.length} bytes.`,
      {
        operation: "ecPointAttribute",
      },
    );
  }
  return Buffer.concat([Buffer.from([0x04, pointLength]), publicKey]);
}
