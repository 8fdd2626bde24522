import { describe, expect, it } from "vitest";
import { AppError } from "../../errors";
import {
  ckrOf,
  HSM_REASONS,
  HsmError,
  type HsmErrorReason,
  hsmError,
  hsmMessage,
  reasonForCkr,
  toHsmError,
} from "./errors";

// The two shapes pkcs11js 2.1.7 throws (seen against SoftHSM 2.6.1): a Pkcs11Error whose message is the CKR
// name and whose `code` is the value, and a plain Error "CKR_NAME:value" from C_SetAttributeValue.
function pkcs11Error(name: string, code: number): Error {
  const e = new Error(name);
  e.name = "Pkcs11Error";
  return Object.assign(e, { code, method: "C_Login" });
}

const ctx = { operation: "C_Sign", tokenLabel: "keyward", library: "/usr/lib/softhsm/libsofthsm2.so" };

describe("ckrOf", () => {
  it("reads a Pkcs11Error's name and code", () => {
    expect(ckrOf(pkcs11Error("CKR_PIN_INCORRECT", 160))).toEqual({ code: 160, name: "CKR_PIN_INCORRECT" });
  });

  it("reads the code from a plain 'CKR_NAME:code' message and names it from the PKCS#11 table", () => {
    // pkcs11js calls 0x1B CKR_VENDOR_DEFINED; it is CKR_ACTION_PROHIBITED.
    expect(ckrOf(new Error("CKR_VENDOR_DEFINED:27"))).toEqual({ code: 27, name: "CKR_ACTION_PROHIBITED" });
  });

  it("ignores errors that are not PKCS#11 errors", () => {
    expect(ckrOf(new TypeError("Parameter 1 MUST be Buffer"))).toBeUndefined();
    expect(ckrOf("CKR_PIN_INCORRECT")).toBeUndefined();
    expect(ckrOf(Object.assign(new Error("some other failure"), { code: 160 }))).toBeUndefined();
  });
});

describe("classification (STACK.md error classes)", () => {
  const cases: [string, number, string, string][] = [
    ["CKR_PIN_INCORRECT", 0xa0, "pin-incorrect", "configuration"],
    ["CKR_PIN_LOCKED", 0xa4, "pin-locked", "configuration"],
    ["CKR_KEY_HANDLE_INVALID", 0x60, "key-missing", "configuration"],
    ["CKR_MECHANISM_INVALID", 0x70, "mechanism-unsupported", "configuration"],
    ["CKR_ATTRIBUTE_SENSITIVE", 0x11, "refused", "configuration"],
    ["CKR_KEY_NOT_WRAPPABLE", 0x69, "refused", "configuration"],
    ["CKR_ACTION_PROHIBITED", 0x1b, "refused", "configuration"],
    ["CKR_SESSION_HANDLE_INVALID", 0xb3, "session-lost", "stale-session"],
    ["CKR_USER_NOT_LOGGED_IN", 0x101, "session-lost", "stale-session"],
    ["CKR_DEVICE_ERROR", 0x30, "device-failed", "device"],
    ["CKR_FUNCTION_FAILED", 0x06, "device-failed", "device"],
    ["CKR_TOKEN_NOT_PRESENT", 0xe0, "device-failed", "device"],
    ["CKR_GENERAL_ERROR", 0x05, "outcome-unknown", "outcome-unknown"],
    ["CKR_DEVICE_REMOVED", 0x32, "outcome-unknown", "outcome-unknown"],
    ["CKR_SESSION_CLOSED", 0xb0, "outcome-unknown", "outcome-unknown"],
  ];

  it.each(cases)("%s is %s (%s)", (name, code, reason, kind) => {
    const err = toHsmError(pkcs11Error(name, code), ctx);
    expect(err).toBeInstanceOf(HsmError);
    expect(err).toBeInstanceOf(AppError);
    expect(err.reason).toBe(reason);
    expect(err.kind).toBe(kind);
    expect(err.detail).toEqual({ operation: "C_Sign", ckr: name, ckrCode: code });
    expect(err.message).toContain(name);
  });

  it("treats an unknown CKR value as outcome-unknown, so nobody retries a call that may have happened", () => {
    expect(reasonForCkr(0x8000_0001)).toBe("outcome-unknown");
    expect(toHsmError(new Error("CKR_VENDOR_DEFINED:2147483649"), ctx).kind).toBe("outcome-unknown");
  });

  it("treats a non-PKCS#11 error mid-call as outcome-unknown", () => {
    expect(toHsmError(new Error("timeout"), ctx).reason).toBe("outcome-unknown");
  });

  it("maps every reason to a class and a message", () => {
    const reasons = Object.keys(HSM_REASONS).filter((r): r is HsmErrorReason => r in HSM_REASONS);
    expect(reasons).toHaveLength(18);
    for (const reason of reasons) expect(hsmMessage(reason, ctx).length).toBeGreaterThan(20);
  });
});

describe("context-dependent mapping", () => {
  it("a failed load is a missing library and says how to install one", () => {
    const err = toHsmError(new Error("/nope.so: cannot open shared object file"), {
      ...ctx,
      operation: "load",
    });
    expect(err.reason).toBe("library-missing");
    expect(err.code).toBe("HSM_UNAVAILABLE");
    expect(err.message).toContain("apt-get install softhsm2");
    expect(err.message).toContain("KEYWARD_HSM_LIBRARY");
  });

  it("CKR_GENERAL_ERROR from C_Initialize is SoftHSM's unreadable configuration, not an unknown outcome", () => {
    const err = toHsmError(pkcs11Error("CKR_GENERAL_ERROR", 5), {
      ...ctx,
      operation: "C_Initialize",
      softhsmConf: "/data/softhsm2.conf",
    });
    expect(err.reason).toBe("misconfigured");
    expect(err.kind).toBe("configuration");
    expect(err.message).toContain("/data/softhsm2.conf");
  });

  it("a wrong PIN names where the PIN comes from for the role, never the PIN itself", () => {
    const user = toHsmError(pkcs11Error("CKR_PIN_INCORRECT", 160), {
      ...ctx,
      operation: "C_Login",
      role: "user",
    });
    expect(user.message).toContain("KEYWARD_HSM_PIN");
    const so = toHsmError(pkcs11Error("CKR_PIN_INCORRECT", 160), {
      ...ctx,
      operation: "C_Login",
      role: "so",
    });
    expect(so.message).toContain("KEYWARD_HSM_SO_PIN");
  });

  it("a replica's wrong PIN names that token's own PIN setting, not the primary's", () => {
    const pinSource = { user: "HSM_B_PIN", so: 'hsmTokens["b"].soPin in /data/secrets.json' };
    const login = { ...ctx, operation: "C_Login", pinSource };
    const user = toHsmError(pkcs11Error("CKR_PIN_INCORRECT", 160), { ...login, role: "user" });
    expect(user.message).toContain("Set HSM_B_PIN to the PIN");
    expect(user.message).not.toContain("KEYWARD_HSM_PIN");
    const so = toHsmError(pkcs11Error("CKR_PIN_INCORRECT", 160), { ...login, role: "so" });
    expect(so.message).toContain('hsmTokens["b"].soPin');
  });

  it("a request the HSM refuses is our bug (INTERNAL); an HSM that cannot serve is HSM_UNAVAILABLE", () => {
    expect(toHsmError(pkcs11Error("CKR_ATTRIBUTE_SENSITIVE", 0x11), ctx).code).toBe("INTERNAL");
    expect(toHsmError(pkcs11Error("CKR_DEVICE_ERROR", 0x30), ctx).code).toBe("HSM_UNAVAILABLE");
  });

  it("passes an HsmError through unchanged", () => {
    const original = new HsmError("token-missing", "no token");
    expect(toHsmError(original, ctx)).toBe(original);
  });
});

describe("the reasons the key operations and the pool add", () => {
  it("key-missing names the key reference when there is one", () => {
    const err = toHsmError(pkcs11Error("CKR_KEY_HANDLE_INVALID", 0x60), { ...ctx, key: "ab".repeat(16) });
    expect(err.reason).toBe("key-missing");
    expect(err.message).toContain(`No key with reference ${"ab".repeat(16)}`);
  });

  it("key-not-wrappable is a configuration error and our bug (INTERNAL), never retried", () => {
    const err = hsmError("key-not-wrappable", { ...ctx, operation: "wrapKey", key: "cd".repeat(16) });
    expect(err).toMatchObject({ reason: "key-not-wrappable", kind: "configuration", code: "INTERNAL" });
    expect(err.message).toContain("never-exportable");
  });

  it("busy may be retried elsewhere (nothing reached the HSM); a timeout is maybe-done", () => {
    expect(hsmError("busy", ctx)).toMatchObject({ kind: "device", code: "HSM_UNAVAILABLE" });
    const timeout = hsmError("timeout", { ...ctx, timeoutMs: 5000 });
    expect(timeout).toMatchObject({ kind: "outcome-unknown", code: "HSM_UNAVAILABLE" });
    expect(timeout.message).toContain("within 5000 ms");
    expect(timeout.message).toContain("maybe-done");
  });

  it("mechanism-unsupported says what exactly is missing when it is known", () => {
    const err = toHsmError(pkcs11Error("CKR_KEY_NOT_WRAPPABLE", 0x69), ctx);
    expect(err.reason).toBe("refused");
    const unsupported = hsmError("mechanism-unsupported", { ...ctx, mechanism: "wrapping Ed25519 keys" });
    expect(unsupported.message).toContain("does not support wrapping Ed25519 keys");
  });
});
