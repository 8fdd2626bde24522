import { describe, expect, it } from "vitest";
import { CURVE_SPECS, CURVES, curveOfParams, ecPointAttribute, rawPublicKey } from "./curves";
import { HsmError } from "../pkcs11/errors";

const point65 = Buffer.concat([Buffer.from([0x04]), Buffer.alloc(64, 0x41)]);
const point32 = Buffer.alloc(32, 0x07);

describe("CKA_EC_POINT: the DER OCTET STRING around the public point", () => {
  it("strips the wrapper for secp256k1 and P-256 (04 41 || 65-byte SEC1 point)", () => {
    const der = Buffer.concat([Buffer.from([0x04, 0x41]), point65]);
    expect(rawPublicKey("secp256k1", der)).toEqual(point65);
    expect(rawPublicKey("p256", der)).toEqual(point65);
  });

  it("strips the wrapper for Ed25519 (04 20 || 32 bytes), as SoftHSM 2.6.1 returns it", () => {
    const fromSofthsm = Buffer.from(
      "0420b75f7f61f9b6c37887a87559137e82e3acf6d4580c63ead5b41f9eec667e7564",
      "hex",
    );
    expect(rawPublicKey("ed25519", fromSofthsm).toString("hex")).toBe(
      "b75f7f61f9b6c37887a87559137e82e3acf6d4580c63ead5b41f9eec667e7564",
    );
  });

  it("takes a bare point as it is, even one whose bytes look like a DER header (04 41 ...)", () => {
    // x starting with 0x41: the first two bytes read "04 41" like an OCTET STRING header; the length says otherwise.
    expect(rawPublicKey("secp256k1", point65)).toEqual(point65);
    expect(rawPublicKey("ed25519", point32)).toEqual(point32);
  });

  it("refuses lengths, tags and point forms that are not a public key of the curve", () => {
    const bad = [
      ["secp256k1", Buffer.concat([Buffer.from([0x04, 0x21]), Buffer.alloc(33, 2)])], // compressed
      ["secp256k1", Buffer.concat([Buffer.from([0x03, 0x41]), point65])], // BIT STRING tag
      ["p256", Buffer.concat([Buffer.from([0x04, 0x41, 0x02]), Buffer.alloc(64)])], // not uncompressed
      ["ed25519", Buffer.concat([Buffer.from([0x04, 0x20]), Buffer.alloc(31)])],
      ["ed25519", Buffer.alloc(0)],
    ] as const;
    for (const [curve, bytes] of bad) {
      expect(() => rawPublicKey(curve, bytes)).toThrow(HsmError);
    }
  });

  it("wraps a raw point for import and round-trips", () => {
    expect(ecPointAttribute("secp256k1", point65).subarray(0, 2).toString("hex")).toBe("0441");
    expect(ecPointAttribute("ed25519", point32).subarray(0, 2).toString("hex")).toBe("0420");
    for (const curve of CURVES) {
      const raw = curve === "ed25519" ? point32 : point65;
      expect(rawPublicKey(curve, ecPointAttribute(curve, raw))).toEqual(raw);
    }
    expect(() => ecPointAttribute("p256", point32)).toThrow(/65 bytes, uncompressed/);
    expect(() => ecPointAttribute("ed25519", point65)).toThrow(/32 bytes/);
  });
});

describe("CKA_EC_PARAMS", () => {
  it("names the three curves by their DER OIDs", () => {
    expect(curveOfParams(Buffer.from("06052b8104000a", "hex"))).toBe("secp256k1");
    expect(curveOfParams(Buffer.from("06082a8648ce3d030107", "hex"))).toBe("p256");
    expect(curveOfParams(Buffer.from("06032b6570", "hex"))).toBe("ed25519");
  });

  it("also reads the PrintableString 'edwards25519' SoftHSM reports on Ed25519 private keys", () => {
    expect(curveOfParams(Buffer.from("130c656477617264733235353139", "hex"))).toBe("ed25519");
  });

  it("knows no other curve", () => {
    expect(curveOfParams(Buffer.from("06052b81040022", "hex"))).toBeUndefined(); // P-384
    expect(curveOfParams(Buffer.alloc(0))).toBeUndefined();
    for (const curve of CURVES) expect(curveOfParams(CURVE_SPECS[curve].params)).toBe(curve);
  });
});
