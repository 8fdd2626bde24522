// How a Keyward key sits on the token: a private and a public key object sharing a random 16-byte CKA_ID
// (the key reference, hex) and a label; the templates that give them exactly the attributes ARCHITECTURE.md
// asks for; and the lookups by reference. It must never read or template a private value.
import "server-only";
import pkcs11js from "pkcs11js";
import { CURVE_SPECS, type Curve, curveOfParams, type Exportable, isCurve } from "./curves";
import { HsmError, hsmError, toHsmError } from "../pkcs11/errors";
import { type CachedKey, CKK_EC_EDWARDS, type Handle, type Session, type Template } from "../pkcs11/pkcs11";

/** A key reference: the CKA_ID both halves carry, 16 random bytes in lowercase hex. */
const KEY_REF = /^[0-9a-f]{32}$/;

/** Refuses anything that is not a key reference before it reaches a search template. */
export function checkRef(ref: unknown, operation: string): asserts ref is string {
  if (typeof ref !== "string" || !KEY_REF.test(ref)) {
    throw new HsmError(
      "invalid-request",
      `A key reference is 32 lowercase hex characters; got ${String(ref)}.`,
      {
        operation,
      },
    );
  }
}

/** Labels are for people (and the HSM's own tools); 1 to 255 bytes of UTF-8. */
export function checkLabel(label: unknown, operation: string): asserts label is string {
  if (typeof label !== "string" || label.length === 0 || Buffer.byteLength(label) > 255) {
    throw new HsmError("invalid-request", "A key label is 1 to 255 bytes of text.", { operation });
  }
}

export function checkCurve(curve: unknown, operation: string): asserts curve is Curve {
  if (!isCurve(curve)) {
    throw new HsmError(
      "invalid-request",
      `Keyward keeps keys on secp256k1, ed25519 or p256; got ${String(curve)}.`,
      {
        operation,
      },
    );
  }
}

export function keyTypeOf(curve: Curve): number {
  return curve === "ed25519" ? CKK_EC_EDWARDS : pkcs11js.CKK_EC;
}

/**
 * The private half. Sensitive, private and on the token; it signs and does nothing else (no decrypt,
 * unwrap or derive), and can be neither changed nor copied. "never" keys are not extractable;
 * "wrapped-only" ones are extractable only under a trusted key (CKA_WRAP_WITH_TRUSTED), which only the
 * security officer can create.
 * For an unwrap, CKA_EC_PARAMS must be left out: the HSM takes them from the wrapped key, and SoftHSM
 * refuses them in the template (CKR_ATTRIBUTE_READ_ONLY).
 */
export function privateKeyTemplate(
  curve: Curve,
  ref: string,
  label: string,
  exportable: Exportable,
): Template {
  const p = pkcs11js;
  const template: Template = [
    { type: p.CKA_CLASS, value: p.CKO_PRIVATE_KEY },
    { type: p.CKA_KEY_TYPE, value: keyTypeOf(curve) },
    { type: p.CKA_TOKEN, value: true },
    { type: p.CKA_PRIVATE, value: true },
    { type: p.CKA_SENSITIVE, value: true },
    { type: p.CKA_SIGN, value: true },
    { type: p.CKA_DECRYPT, value: false },
    { type: p.CKA_UNWRAP, value: false },
    { type: p.CKA_DERIVE, value: false },
    { type: p.CKA_EXTRACTABLE, value: exportable === "wrapped-only" },
    { type: p.CKA_LABEL, value: label },
    { type: p.CKA_ID, value: Buffer.from(ref, "hex") },
  ];
  if (exportable === "wrapped-only") template.push({ type: p.CKA_WRAP_WITH_TRUSTED, value: true });
  // Nobody, the user included, may weaken the key later (C_SetAttributeValue) or copy it into a weaker
  // object (C_CopyObject). The backup KEK's unwrap template demands both of every unwrapped key.
  // CKA_MODIFIABLE false comes last: in C_UnwrapKey SoftHSM refuses any attribute after it.
  template.push({ type: p.CKA_COPYABLE, value: false }, { type: p.CKA_MODIFIABLE, value: false });
  return template;
}

/**
 * The public half: verify only. It is a private object too (CKA_PRIVATE true) although nothing in it is
 * secret, so that the inventory of keys and their labels is visible only to a logged-in user.
 * `point` is the raw public key, given when the object is imported rather than generated.
 */
export function publicKeyTemplate(curve: Curve, ref: string, label: string, point?: Buffer): Template {
  const p = pkcs11js;
  const template: Template = [
    { type: p.CKA_CLASS, value: p.CKO_PUBLIC_KEY },
    { type: p.CKA_KEY_TYPE, value: keyTypeOf(curve) },
    { type: p.CKA_TOKEN, value: true },
    { type: p.CKA_PRIVATE, value: true },
    { type: p.CKA_EC_PARAMS, value: CURVE_SPECS[curve].params },
    { type: p.CKA_VERIFY, value: true },
    { type: p.CKA_ENCRYPT, value: false },
    { type: p.CKA_WRAP, value: false },
    { type: p.CKA_DERIVE, value: false },
    { type: p.CKA_LABEL, value: label },
    { type: p.CKA_ID, value: Buffer.from(ref, "hex") },
  ];
  if (point !== undefined) template.push({ type: p.CKA_EC_POINT, value: point });
  return template;
}

/** Every object of one class carrying the reference (normally zero or one). */
export function objectsWithRef(session: Session, cls: "private" | "public", ref: string): Handle[] {
  return session.find([
    {
      type: pkcs11js.CKA_CLASS,
      value: cls === "private" ? pkcs11js.CKO_PRIVATE_KEY : pkcs11js.CKO_PUBLIC_KEY,
    },
    { type: pkcs11js.CKA_ID, value: Buffer.from(ref, "hex") },
  ]);
}

// CK_STATE values (PKCS#11 2.40 §5.6.1); pkcs11js 2.1.7 exports no constants for them.
const CKS_RO_PUBLIC_SESSION = 0;
const CKS_RW_PUBLIC_SESSION = 2;

/**
 * Called when a lookup by reference found nothing, before that is reported as "key-missing". Measured on
 * SoftHSM 2.6.1: after a logout (another session logged out, e.g. around a PIN change) and after the
 * token's folder vanished, a cached private-key handle gives CKR_OBJECT_HANDLE_INVALID and a new search
 * finds nothing, exactly as for a key that does not exist. So a user session that went public is reported
 * as "session-lost" and a token that no longer answers as "device-failed": both send a caller to another
 * token, while "key-missing" would wrongly say the key is gone. Costs two calls on the miss path only.
 */
export function confirmAbsence(session: Session, operation: string): void {
  const { module, slot, target } = session.token;
  try {
    module.C_GetTokenInfo(slot);
  } catch (e) {
    const cause = toHsmError(e, { operation: "C_GetTokenInfo", tokenLabel: target.tokenLabel });
    throw new HsmError(
      "device-failed",
      `HSM token '${target.tokenLabel}' stopped answering (${cause.detail.ckr ?? "no CKR"} from C_GetTokenInfo) during ${operation}; it may have failed or been removed. Retry on another HSM or check the device.`,
      { operation: "C_GetTokenInfo", ckr: cause.detail.ckr, ckrCode: cause.detail.ckrCode },
      { cause: e },
    );
  }
  if (session.role !== "user") return;
  const { state } = session.run("C_GetSessionInfo", (m, s) => m.C_GetSessionInfo(s));
  if (state === CKS_RO_PUBLIC_SESSION || state === CKS_RW_PUBLIC_SESSION) {
    throw new HsmError(
      "session-lost",
      `The user login on HSM token '${target.tokenLabel}' was lost during ${operation} (the session is public again: logged out elsewhere, e.g. around a PIN change); open a new session and log in again.`,
      { operation: "C_GetSessionInfo", ckr: "CKR_USER_NOT_LOGGED_IN", ckrCode: 0x101 },
    );
  }
}

/** The one object of a class with this reference; none is "key-missing", two are a broken token. */
export function oneObjectWithRef(
  session: Session,
  cls: "private" | "public",
  ref: string,
  operation: string,
) {
  const [found, ...more] = objectsWithRef(session, cls, ref);
  const ctx = { operation, tokenLabel: session.token.target.tokenLabel, key: ref };
  if (found === undefined) {
    confirmAbsence(session, operation);
    throw hsmError("key-missing", ctx);
  }
  if (more.length > 0) {
    throw new HsmError(
      "misconfigured",
      `HSM token '${ctx.tokenLabel}' holds ${more.length + 1} ${cls} keys with reference ${ref}; remove the extra copies with the HSM's own tools.`,
      { operation },
    );
  }
  return found;
}

/** The curve a key object was made on, from its CKA_EC_PARAMS. */
export function curveOfObject(session: Session, object: Handle, ref: string, operation: string): Curve {
  const params = session.attributes(object, [pkcs11js.CKA_EC_PARAMS]).get(pkcs11js.CKA_EC_PARAMS);
  const curve = params === undefined ? undefined : curveOfParams(params);
  if (curve === undefined) {
    throw new HsmError(
      "invalid-request",
      `Key ${ref} on HSM token '${session.token.target.tokenLabel}' is on a curve Keyward does not use (CKA_EC_PARAMS ${params?.toString("hex") ?? "missing"}).`,
      { operation },
    );
  }
  return curve;
}

/**
 * The private key for a reference, from this session's cache or found on the token and cached.
 * `fresh` skips the cache: for a retry after a cached handle went stale.
 */
export function privateKeyOf(session: Session, ref: string, operation: string, fresh = false): CachedKey {
  const cached = fresh ? undefined : session.keys.get(ref);
  if (cached !== undefined) return cached;
  session.keys.delete(ref);
  const handle = oneObjectWithRef(session, "private", ref, operation);
  const key = { handle, curve: curveOfObject(session, handle, ref, operation) };
  session.keys.set(ref, key);
  return key;
}

/** CKA_EXTRACTABLE and CKA_WRAP_WITH_TRUSTED read as one of our two export rules, or refused. */
export function exportableOf(
  extractable: boolean,
  wrapWithTrusted: boolean,
  ref: string,
  operation: string,
): Exportable {
  if (!extractable) return "never";
  if (wrapWithTrusted) return "wrapped-only";
  // Keyward never makes such a key: it could be wrapped under any key, trusted or not.
  throw new HsmError(
    "refused",
    `Key ${ref} is extractable without CKA_WRAP_WITH_TRUSTED; Keyward does not use keys that can leave the HSM under an untrusted key.`,
    { operation },
  );
}
