// The key operations a worker runs on its own open session: generate, find, sign, destroy, and what the
// token supports. Synchronous plain functions taking plain data and returning plain data (strings, Buffers,
// plain objects), so a worker thread can call them and post the result back. Callers log in as the user;
// generate and destroy need a read/write session. Nothing here returns or reads a private value.
import "server-only";
import { randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import { type Curve, type Exportable, isEcdsaCurve, rawPublicKey } from "./curves";
import { HsmError, hsmError } from "../pkcs11/errors";
import {
  checkCurve,
  checkLabel,
  checkRef,
  confirmAbsence,
  curveOfObject,
  exportableOf,
  objectsWithRef,
  oneObjectWithRef,
  privateKeyOf,
  privateKeyTemplate,
  publicKeyTemplate,
} from "./key-objects";
import { type CachedKey, flag, type Handle, MECHANISM, mechanismsOf, type Session } from "../pkcs11/pkcs11";
import { adoptKey } from "./key-index";
import { normalizeLowS } from "./signature";
import { requireUnwrapGuard } from "./unwrap-guard";

/**
 * `ref`: a reference the caller chose (32 lowercase hex, e.g. from an operation id), which makes the call
 * idempotent: a key pair already holding it is returned instead of a new one. Without it, a random one.
 */
export type GenerateKeyPairOptions = {
  curve: Curve;
  label: string;
  exportable: Exportable;
  ref?: string;
  /**
   * With `ref`: the caller knows nothing has used this reference before (the executor's first try of an
   * operation's first claim, whose reference is derived from the operation id), so the two searches for a key
   * an earlier attempt made are skipped. SoftHSM scans every object on each search: among 10,000 keys they
   * cost ~1.6 s per key made. Any repeat (a retry, a claim taken over, a recovery) must leave it unset.
   */
  fresh?: boolean;
};
/**
 * `ref` names the key from now on (hex CKA_ID); `publicKey` is raw: 65 bytes SEC1 or 32 bytes Ed25519.
 * `created` is false when the reference already named the key (a repeat), whose stored label is `label`.
 */
export type GeneratedKey = { ref: string; publicKey: Buffer; created: boolean; label: string };
export type KeyInfo = { ref: string; curve: Curve; label: string; publicKey: Buffer; exportable: Exportable };

function bestEffort(call: () => void): void {
  try {
    call();
  } catch {
    // Cleaning up after a failure: the original error is the one to report.
  }
}

/** Creates a key pair on the token and returns its reference and public key. */
export function generateKeyPair(session: Session, options: GenerateKeyPairOptions): GeneratedKey {
  const operation = "generateKeyPair";
  const { curve, label, exportable } = options;
  checkCurve(curve, operation);
  checkLabel(label, operation);
  if (exportable !== "never" && exportable !== "wrapped-only") {
    throw new HsmError(
      "invalid-request",
      `exportable is "never" or "wrapped-only"; got ${String(exportable)}.`,
      {
        operation,
      },
    );
  }
  // A wrapped-only key is made only where the HSM has shown that the user PIN cannot unwrap it weaker.
  if (options.ref !== undefined) {
    checkRef(options.ref, operation);
    if (options.fresh !== true) {
      const existing = existingKeyPair(session, { ...options, ref: options.ref }, operation);
      if (existing !== undefined) return existing;
    }
  }
  if (exportable === "wrapped-only") requireUnwrapGuard(session, operation);
  const ref = options.ref ?? randomBytes(16).toString("hex");
  const mechanism = curve === "ed25519" ? MECHANISM.edwardsKeyPairGen : MECHANISM.ecKeyPairGen;
  const pair = session.run(
    "C_GenerateKeyPair",
    (m, s) =>
      m.C_GenerateKeyPair(
        s,
        { mechanism },
        publicKeyTemplate(curve, ref, label),
        privateKeyTemplate(curve, ref, label, exportable),
      ),
    { mechanism: `${curve} key generation` },
  );
  try {
    const point = session.attributes(pair.publicKey, [pkcs11js.CKA_EC_POINT]).get(pkcs11js.CKA_EC_POINT);
    const publicKey = rawPublicKey(curve, point ?? Buffer.alloc(0));
    session.keys.set(ref, { handle: pair.privateKey, curve });
    return { ref, publicKey, created: true, label };
  } catch (e) {
    // A key nobody can name is of no use and would only clutter the token.
    bestEffort(() => session.token.module.C_DestroyObject(session.handle, pair.privateKey));
    bestEffort(() => session.token.module.C_DestroyObject(session.handle, pair.publicKey));
    throw e;
  }
}

/**
 * The key pair a caller-chosen reference already names, if any, checked against what is asked (a reference
 * naming a key on another curve or with another export rule is a conflict, never silently "the same key").
 * Searched on the token, not in a cache: another thread or an earlier process may have made it. Within a
 * process the token set runs one create per reference at a time (a search then a generate in two threads
 * at once could make two); across processes the operation executor's claim gives one executor per ref.
 */
function existingKeyPair(
  session: Session,
  options: GenerateKeyPairOptions & { ref: string },
  operation: string,
): GeneratedKey | undefined {
  const { ref } = options;
  let privates = objectsWithRef(session, "private", ref);
  let publics = objectsWithRef(session, "public", ref);
  // An object without its curve is a C_GenerateKeyPair cut short: SoftHSM creates each object from the
  // template (CKA_ID included) and only then, in a second write, stores the generated CKA_EC_PARAMS and key
  // values, so a kill -9 in between leaves an object that names the reference but holds no key (seen in the
  // batch kill -9 test: "CKA_EC_PARAMS " empty). It cannot sign and its public key was never returned to
  // anyone, so it is removed with its other half and the key made afresh.
  const unfinished = [...privates, ...publics].filter((object) => !hasCurve(session, object));
  if (unfinished.length > 0) {
    for (const object of [...privates, ...publics]) {
      session.run("C_DestroyObject", (m, s) => m.C_DestroyObject(s, object), { key: ref });
    }
    session.keys.delete(ref);
    privates = [];
    publics = [];
  }
  if (privates.length === 0) {
    // Nothing, or a public half alone: C_GenerateKeyPair interrupted (SoftHSM makes the public object
    // first), or a destroy interrupted after the private half went (destroyKey removes it first). Either
    // way no private key holds the reference and nobody was given its public key as a made key: the lone
    // half is removed and the key made afresh.
    if (publics.length === 0) confirmAbsence(session, operation);
    for (const object of publics) {
      session.run("C_DestroyObject", (m, s) => m.C_DestroyObject(s, object), { key: ref });
    }
    return undefined;
  }
  if (publics.length === 0) {
    throw new HsmError(
      "misconfigured",
      `HSM token '${session.token.target.tokenLabel}' holds the private half of key ${ref} without its public half; Keyward cannot tell its public key. Inspect it with the HSM's own tools.`,
      { operation },
    );
  }
  session.keys.delete(ref);
  const info = findKey(session, ref);
  const conflict = (why: string) =>
    new HsmError(
      "invalid-request",
      `Key reference ${ref} already names a key ${why}; choose another reference.`,
      {
        operation,
      },
    );
  if (info.curve !== options.curve) throw conflict(`on ${info.curve}, not ${options.curve}`);
  if (info.exportable !== options.exportable) {
    throw conflict(`that is "${info.exportable}" exportable, not "${options.exportable}"`);
  }
  return { ref, publicKey: info.publicKey, created: false, label: info.label };
}

/** Whether the object holds a CKA_EC_PARAMS at all (any curve): false for one whose generation was cut short. */
function hasCurve(session: Session, object: Handle): boolean {
  const params = session.attributes(object, [pkcs11js.CKA_EC_PARAMS]).get(pkcs11js.CKA_EC_PARAMS);
  return params !== undefined && params.length > 0;
}

/** What the token knows about a key: curve, label, public key and its export rule. */
export function findKey(session: Session, ref: string): KeyInfo {
  const operation = "findKey";
  checkRef(ref, operation);
  const key = privateKeyOf(session, ref, operation, true);
  const p = pkcs11js;
  const values = session.attributes(key.handle, [p.CKA_LABEL, p.CKA_EXTRACTABLE, p.CKA_WRAP_WITH_TRUSTED]);
  const exportable = exportableOf(
    flag(values, p.CKA_EXTRACTABLE),
    flag(values, p.CKA_WRAP_WITH_TRUSTED),
    ref,
    operation,
  );
  const publicObject = oneObjectWithRef(session, "public", ref, operation);
  if (curveOfObject(session, publicObject, ref, operation) !== key.curve) {
    throw new HsmError("misconfigured", `The two halves of key ${ref} are on different curves.`, {
      operation,
    });
  }
  const point = session.attributes(publicObject, [p.CKA_EC_POINT]).get(p.CKA_EC_POINT);
  return {
    ref,
    curve: key.curve,
    label: values.get(p.CKA_LABEL)?.toString("utf8") ?? "",
    publicKey: rawPublicKey(key.curve, point ?? Buffer.alloc(0)),
    exportable,
  };
}

const SIGNING: Readonly<Record<Curve, { mechanism: number; name: string }>> = {
  secp256k1: { mechanism: MECHANISM.ecdsa, name: "ECDSA on secp256k1" },
  p256: { mechanism: MECHANISM.ecdsa, name: "ECDSA on p256" },
  ed25519: { mechanism: MECHANISM.eddsa, name: "EdDSA on Ed25519" },
};

function signInit(session: Session, key: CachedKey, ref: string): void {
  const { mechanism, name } = SIGNING[key.curve];
  session.run("C_SignInit", (m, s) => m.C_SignInit(s, { mechanism }, key.handle), {
    key: ref,
    mechanism: name,
  });
}

/** A signature begun: C_SignInit done on the session; `input` and `output` go to C_Sign, `finish` checks its answer. */
export type BegunSignature = {
  key: CachedKey;
  input: Buffer;
  /** Both ECDSA on 256-bit curves and Ed25519 give 64 bytes (`finish` refuses any other length). */
  output: Buffer;
  finish: (signature: Buffer) => Buffer;
};

/**
 * The checks and C_SignInit of a signature, for callers that run C_Sign themselves (the pool worker's
 * asynchronous C_Sign). See `sign`.
 */
export function beginSign(session: Session, ref: string, data: Uint8Array, hint?: CachedKey): BegunSignature {
  const operation = "sign";
  checkRef(ref, operation);
  let key =
    session.keys.get(ref) ??
    (hint === undefined ? undefined : adoptKey(session, ref, hint)) ??
    privateKeyOf(session, ref, operation);
  if (isEcdsaCurve(key.curve) && data.length !== 32) {
    throw new HsmError(
      "invalid-request",
      `ECDSA on ${key.curve} signs a 32-byte digest; got ${data.length} bytes. Hash the message first.`,
      { operation },
    );
  }
  try {
    signInit(session, key, ref);
  } catch (e) {
    // A cached handle whose object was destroyed through another session: look the key up once more,
    // which either finds it again or says clearly that the key is gone.
    if (!(e instanceof HsmError) || e.reason !== "key-missing") throw e;
    key = privateKeyOf(session, ref, operation, true);
    signInit(session, key, ref);
  }
  const signed = key;
  const finish = (signature: Buffer): Buffer => {
    if (signature.length !== 64) {
      throw hsmError("device-failed", {
        operation: `sign (a ${signature.length}-byte signature)`,
        tokenLabel: session.token.target.tokenLabel,
      });
    }
    return isEcdsaCurve(signed.curve) ? normalizeLowS(signed.curve, signature) : signature;
  };
  // allocUnsafe: from Node's pooled slab, cheaper than a zeroed buffer of its own; C_Sign fills all 64 bytes.
  return {
    key,
    input: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
    output: Buffer.allocUnsafe(64),
    finish,
  };
}

/**
 * Signs with the key. secp256k1 and P-256 take a 32-byte digest (the caller hashes: Keccak-256 for
 * Ethereum, the sighash for Bitcoin, SHA-256 for the audit trail) and return r || s with low S.
 * Ed25519 takes the message itself and returns R || S.
 * `hint`: a handle another session found for the key (the pool's index), used once checked (key-index.ts)
 * instead of a search when this session has none cached.
 */
export function sign(session: Session, ref: string, data: Uint8Array, hint?: CachedKey): Buffer {
  const begun = beginSign(session, ref, data, hint);
  // C_Sign ends the operation whatever happens.
  const signature = session.run("C_Sign", (m, s) => m.C_Sign(s, begun.input, begun.output), {
    key: ref,
    mechanism: SIGNING[begun.key.curve].name,
  });
  return begun.finish(signature);
}

/** The name of a key's signing mechanism, for error messages. */
export function signingName(curve: Curve): string {
  return SIGNING[curve].name;
}

/**
 * Destroys both halves of a key. Returns false when the token has no object with the reference, so a
 * destruction retried after an unknown outcome is not an error.
 */
export function destroyKey(session: Session, ref: string): boolean {
  const operation = "destroyKey";
  checkRef(ref, operation);
  session.keys.delete(ref);
  // The private half first: if the call fails midway, what is left is only public.
  const objects = [...objectsWithRef(session, "private", ref), ...objectsWithRef(session, "public", ref)];
  // "Nothing to destroy" must not be a logged-out session's blindness: a clone would survive unnoticed.
  if (objects.length === 0) confirmAbsence(session, operation);
  for (const object of objects) {
    session.run("C_DestroyObject", (m, s) => m.C_DestroyObject(s, object), { key: ref });
  }
  return objects.length > 0;
}

/** Forgets a cached handle, e.g. when another worker destroyed the key (the pool broadcasts it). */
export function forgetKey(session: Session, ref: string): void {
  session.keys.delete(ref);
}

export type SupportedMechanisms = {
  /** Every mechanism number the token's slot lists, ascending. */
  mechanisms: number[];
  /** Whether the token lists both the key-generation and the signing mechanism for each curve. */
  curves: Record<Curve, boolean>;
  /** Whether it lists CKM_AES_KEY_WRAP_PAD, the backup wrapping mechanism. */
  backup: boolean;
};

/** What the token says it can do. A listed mechanism may still refuse a curve; generation tells for sure. */
export function supportedMechanisms(session: Session): SupportedMechanisms {
  const offered = mechanismsOf(session.token);
  const ec = offered.has(MECHANISM.ecKeyPairGen) && offered.has(MECHANISM.ecdsa);
  const edwards = offered.has(MECHANISM.edwardsKeyPairGen) && offered.has(MECHANISM.eddsa);
  return {
    mechanisms: [...offered].sort((a, b) => a - b),
    curves: { secp256k1: ec, ed25519: edwards, p256: ec },
    backup: offered.has(pkcs11js.CKM_AES_KEY_WRAP_PAD),
  };
}
