// What crosses the thread boundary of the HSM pool: exactly the caller's bytes (never the rest of a shared
// buffer), errors with their reason, and results checked on the way back: a malformed answer from a worker
// is an outcome-unknown error, never a value handed to the caller.
import { describe, expect, it } from "vitest";
import { HsmError } from "../pkcs11/errors";
import type { HsmOperation } from "./operations";
import {
  fromWireError,
  fromWireRequest,
  postableValue,
  reviveResult,
  toWireError,
  toWireRequest,
} from "./pool-protocol";

const REF = "00112233445566778899aabbccddeeff";

describe("requests", () => {
  it("carry exactly the bytes of a view into a larger buffer, through structured clone", () => {
    const shared = Buffer.alloc(4096, 0xee); // stands for Node's pooled slab holding other data
    const data = shared.subarray(100, 132).fill(7);
    data[0] = 0;
    data[31] = 255;
    const wire = structuredClone(toWireRequest({ op: "sign", ref: REF, data }));
    expect(JSON.stringify(wire)).not.toContain("\u00ee");
    const back = fromWireRequest(wire);
    expect(back).toEqual({ op: "sign", ref: REF, data: Buffer.from(data) });
  });

  it("round-trip an unwrap with its blob and public key, leaving the caller's object alone", () => {
    const request: HsmOperation = {
      op: "unwrap",
      blob: Uint8Array.from([0, 1, 128, 255]),
      key: { curve: "secp256k1", label: "hot", ref: REF, publicKey: Uint8Array.from([4, 9, 9]) },
    };
    const back = fromWireRequest(structuredClone(toWireRequest(request)));
    expect(back).toEqual({
      op: "unwrap",
      blob: Buffer.from([0, 1, 128, 255]),
      key: { curve: "secp256k1", label: "hot", ref: REF, publicKey: Buffer.from([4, 9, 9]) },
    });
    expect(request.blob).toBeInstanceOf(Uint8Array);
  });
});

describe("results", () => {
  it("come back as Buffers, nested ones included", () => {
    const signature = Buffer.from(Array.from({ length: 64 }, (_, i) => i * 4));
    expect(
      reviveResult({ op: "sign", ref: REF, data: new Uint8Array(32) }, postableValue(signature)),
    ).toEqual(signature);
    const key = { ref: REF, publicKey: Buffer.from([4, 1, 2]), created: true, label: "k" };
    const generate = { op: "generate", curve: "p256", label: "k", exportable: "never" } as const;
    expect(reviveResult(generate, structuredClone(postableValue(key)))).toEqual(key);
  });

  it("revive a token check, and refuse one whose object count is not a count", () => {
    const check = {
      token: {
        label: "keyward",
        serial: "0123456789abcdef",
        manufacturer: "SoftHSM project",
        model: "SoftHSM v2",
      },
      mechanisms: { ecdsa: true, eddsa: true, ecKeyPairGen: true, edwardsKeyPairGen: false },
      objects: { total: 3, kek: { id: "ab".repeat(16), shareable: true } },
    };
    expect(reviveResult({ op: "check" }, structuredClone(check))).toEqual(check);
    const bad = { ...check, objects: { total: -1, kek: null } };
    expect(() => reviveResult({ op: "check" }, bad)).toThrow(HsmError);
  });

  it("carry an attest's handle hints as bytes, and revive its flags; a flag that is not a boolean is refused", () => {
    const request: HsmOperation = {
      op: "attest",
      refs: [REF, REF],
      hints: [Buffer.from([1, 0, 0, 0]), null],
    };
    const back = fromWireRequest(structuredClone(toWireRequest(request)));
    expect(back).toEqual({ op: "attest", refs: [REF, REF], hints: [Buffer.from([1, 0, 0, 0]), null] });
    const flags = {
      local: true,
      sensitive: true,
      alwaysSensitive: null,
      extractable: false,
      neverExtractable: true,
      wrapWithTrusted: false,
    };
    const answer = {
      token: { label: "k", serial: "1", manufacturer: "SoftHSM project", model: "SoftHSM v2" },
      keys: [
        { ref: REF, state: "holds", flags },
        { ref: REF, state: "missing" },
        { ref: "x", state: "unreadable", message: "not a key reference" },
      ],
    };
    expect(reviveResult(request, structuredClone(answer))).toEqual(answer);
    const bad = { ...answer, keys: [{ ref: REF, state: "holds", flags: { ...flags, local: "yes" } }] };
    expect(() => reviveResult(request, bad)).toThrow(HsmError);
    expect(() => reviveResult(request, { ...answer, keys: [{ ref: REF, state: "other" }] })).toThrow(
      HsmError,
    );
  });

  it("refuse a malformed answer as outcome-unknown: the call may have happened", () => {
    const sign = { op: "sign", ref: REF, data: new Uint8Array(32) } as const;
    for (const value of [undefined, 42, new Uint8Array(64), { signature: "x" }]) {
      let error: unknown;
      try {
        reviveResult(sign, value);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(HsmError);
      expect(error).toMatchObject({ reason: "outcome-unknown", kind: "outcome-unknown" });
    }
  });
});

describe("errors", () => {
  it("keep reason, kind, message and CKR name across the boundary", () => {
    const original = new HsmError("pin-incorrect", "HSM token 'k' refused the user PIN.", {
      operation: "C_Login",
      ckr: "CKR_PIN_INCORRECT",
      ckrCode: 0xa0,
    });
    const back = fromWireError(structuredClone(toWireError(original, "sign")));
    expect(back).toBeInstanceOf(HsmError);
    expect(back).toMatchObject({
      reason: "pin-incorrect",
      kind: "configuration",
      message: original.message,
      detail: { ckr: "CKR_PIN_INCORRECT" },
    });
  });

  it("turn an unknown reason from a worker into outcome-unknown", () => {
    const back = fromWireError({
      reason: "no-such-reason" as never,
      message: "?",
      detail: { operation: "sign" },
    });
    expect(back.reason).toBe("outcome-unknown");
  });
});
