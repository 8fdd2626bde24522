// Backups and clones: a "wrapped-only" private key leaves the HSM only wrapped under the trusted backup KEK
// (CKM_AES_KEY_WRAP_PAD), and comes back into this or another token holding the same KEK. It must never
// wrap under anything but the trusted KEK, and never leave an imported key that does not match its public key.
import "server-only";
import { randomBytes } from "node:crypto";
import pkcs11js from "pkcs11js";
import { findBackupKeks } from "../ceremonies/backup-kek";
import { type Curve, ecPointAttribute, rawPublicKey } from "./curves";
import { HsmError, hsmError } from "../pkcs11/errors";
import {
  checkCurve,
  checkLabel,
  checkRef,
  curveOfObject,
  exportableOf,
  objectsWithRef,
  privateKeyOf,
  privateKeyTemplate,
  publicKeyTemplate,
} from "./key-objects";
import { findKey, type KeyInfo } from "./keys";
import { flag, type Handle, MECHANISM, type Session } from "../pkcs11/pkcs11";
import { verifySignature } from "./signature";

const WRAP = { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD };

/** The token's one trusted backup KEK. */
function backupKek(session: Session, operation: string): Handle {
  const [kek, ...more] = findBackupKeks(session);
  const tokenLabel = session.token.target.tokenLabel;
  if (kek === undefined) throw hsmError("kek-missing", { operation, tokenLabel });
  if (more.length > 0) {
    throw new HsmError(
      "misconfigured",
      `HSM token '${tokenLabel}' holds ${more.length + 1} trusted backup KEKs; Keyward cannot tell which one a backup needs.`,
      { operation },
    );
  }
  return kek;
}

/**
 * The private key of `ref`, wrapped under the backup KEK: the only form in which a key leaves the HSM.
 * A "never" key is refused before the HSM is asked ("key-not-wrappable").
 */
export function wrapKey(session: Session, ref: string): Buffer {
  const operation = "wrapKey";
  checkRef(ref, operation);
  const key = privateKeyOf(session, ref, operation, true);
  const p = pkcs11js;
  const values = session.attributes(key.handle, [p.CKA_EXTRACTABLE, p.CKA_WRAP_WITH_TRUSTED]);
  const exportable = exportableOf(
    flag(values, p.CKA_EXTRACTABLE),
    flag(values, p.CKA_WRAP_WITH_TRUSTED),
    ref,
    operation,
  );
  const tokenLabel = session.token.target.tokenLabel;
  if (exportable === "never") throw hsmError("key-not-wrappable", { operation, tokenLabel, key: ref });
  const kek = backupKek(session, operation);
  try {
    // A PKCS#8 EC or Ed25519 key wraps to well under 200 bytes (72 for secp256k1 here).
    return session.run("C_WrapKey", (m, s) => m.C_WrapKey(s, WRAP, kek, key.handle, Buffer.alloc(1024)), {
      key: ref,
    });
  } catch (e) {
    // Measured: SoftHSM 2.6.1 wraps RSA, DSA, DH and EC private keys only; an Ed25519 key gets
    // CKR_KEY_NOT_WRAPPABLE even under a trusted KEK. That is a limit of the HSM, not of this key.
    if (key.curve === "ed25519" && e instanceof HsmError && e.detail.ckr === "CKR_KEY_NOT_WRAPPABLE") {
      throw hsmError("mechanism-unsupported", {
        operation,
        tokenLabel,
        key: ref,
        mechanism:
          "wrapping Ed25519 private keys (SoftHSM 2.6.1 wraps RSA, DSA, DH and EC keys only), so Ed25519 keys cannot be backed up or cloned on it",
      });
    }
    throw e;
  }
}

export type UnwrapKeyOptions = {
  curve: Curve;
  label: string;
  ref: string;
  publicKey: Uint8Array;
  /**
   * A recovery drill on a token that already holds the key: prove the blob restores the key with this public
   * key here, and keep nothing (see drillUnwrap). Without it the key is imported as token objects.
   */
  drill?: boolean;
};

/** The label of the throw-away session object a recovery drill unwraps. */
export const DRILL_LABEL = "keyward-restore-drill";

/**
 * Proves that a private key object belongs to the public key we were given: signs random bytes and
 * verifies with @noble/curves. The random "digest" has no known preimage, so the signature is useless
 * to anyone, and it is dropped.
 */
function matchesPublicKey(session: Session, key: Handle, curve: Curve, publicKey: Uint8Array, ref: string) {
  const data = randomBytes(32);
  const mechanism = curve === "ed25519" ? MECHANISM.eddsa : MECHANISM.ecdsa;
  session.run("C_SignInit", (m, s) => m.C_SignInit(s, { mechanism }, key), { key: ref });
  const signature = session.run("C_Sign", (m, s) => m.C_Sign(s, data, Buffer.alloc(64)), { key: ref });
  return verifySignature(curve, publicKey, data, signature);
}

/**
 * Imports a wrapped key into this token under the same reference, with the attributes of a "wrapped-only"
 * key, plus its public half made from the known public key, and returns what findKey would.
 * Safe to retry: a key already complete here with the same public key is returned as it is, and the
 * private half left by an interrupted earlier call is completed rather than imported twice.
 */
export function unwrapKey(session: Session, blob: Uint8Array, options: UnwrapKeyOptions): KeyInfo {
  if (options.drill === true) return drillUnwrap(session, blob, options);
  const operation = "unwrapKey";
  const { curve, label, ref } = options;
  checkCurve(curve, operation);
  checkLabel(label, operation);
  checkRef(ref, operation);
  const publicKey = Buffer.from(options.publicKey);
  const point = ecPointAttribute(curve, publicKey);
  const tokenLabel = session.token.target.tokenLabel;
  const conflict = (why: string) =>
    new HsmError("invalid-request", `Cannot import key ${ref} into HSM token '${tokenLabel}': ${why}.`, {
      operation,
    });

  const [existingPrivate, ...extraPrivate] = objectsWithRef(session, "private", ref);
  const [existingPublic, ...extraPublic] = objectsWithRef(session, "public", ref);
  if (extraPrivate.length > 0 || extraPublic.length > 0)
    throw conflict("it already holds several objects with that reference");

  let privateHandle = existingPrivate;
  let imported = false;
  if (privateHandle === undefined) {
    const kek = backupKek(session, operation);
    const wrapped = Buffer.from(blob);
    try {
      privateHandle = session.run(
        "C_UnwrapKey",
        (m, s) => m.C_UnwrapKey(s, WRAP, kek, wrapped, privateKeyTemplate(curve, ref, label, "wrapped-only")),
        { key: ref },
      );
    } catch (e) {
      // Measured: SoftHSM answers a blob whose AES key-wrap integrity check fails (another KEK, damaged
      // bytes) with CKR_GENERAL_ERROR, which alone would read as "maybe done". Looking for the object
      // settles it: when nothing was created, say what happened.
      const unclear =
        e instanceof HsmError && (e.reason === "outcome-unknown" || e.reason === "invalid-request");
      if (!unclear || objectsWithRef(session, "private", ref).length > 0) throw e;
      throw conflict(
        `the blob does not unwrap under this token's backup KEK: it was wrapped under another KEK, or it is damaged (${e.detail.ckr ?? "no CKR"})`,
      );
    }
    imported = true;
  }
  const handle = privateHandle;
  const discard = () => {
    if (imported) session.run("C_DestroyObject", (m, s) => m.C_DestroyObject(s, handle), { key: ref });
  };
  if (curveOfObject(session, handle, ref, operation) !== curve) {
    discard();
    throw conflict(`the wrapped key is not on ${curve}`);
  }
  if (!matchesPublicKey(session, handle, curve, publicKey, ref)) {
    discard();
    throw conflict(
      imported
        ? "the wrapped key does not match the given public key"
        : "the reference already names another key",
    );
  }

  if (existingPublic === undefined) {
    session.run(
      "C_CreateObject",
      (m, s) => m.C_CreateObject(s, publicKeyTemplate(curve, ref, label, point)),
      {
        key: ref,
      },
    );
  } else {
    const stored = session.attributes(existingPublic, [pkcs11js.CKA_EC_POINT]).get(pkcs11js.CKA_EC_POINT);
    if (!rawPublicKey(curve, stored ?? Buffer.alloc(0)).equals(publicKey)) {
      throw conflict("its public key object for that reference holds another public key");
    }
  }
  session.keys.set(ref, { handle, curve });
  return findKey(session, ref);
}

/**
 * A recovery drill on a token that already holds the key (same reference and public key): the blob is
 * unwrapped as a *session* object (CKA_TOKEN false, a throw-away CKA_ID and the label DRILL_LABEL, otherwise
 * the attributes the KEK's unwrap template demands), signs a fresh random challenge, which must verify
 * against `publicKey` (the key's recorded public key), and is destroyed whatever happened, so a drill never
 * leaves a second copy; a session object also vanishes with its session if the thread dies mid-drill.
 * Returns what findKey says of the token's own key. Refuses (invalid-request) a blob that does not unwrap
 * under this token's KEK, a key on another curve, and a key that does not sign for `publicKey`.
 */
function drillUnwrap(session: Session, blob: Uint8Array, options: UnwrapKeyOptions): KeyInfo {
  const operation = "drillUnwrap";
  const { curve, ref } = options;
  checkCurve(curve, operation);
  checkRef(ref, operation);
  const publicKey = Buffer.from(options.publicKey);
  const tokenLabel = session.token.target.tokenLabel;
  const refused = (why: string) =>
    new HsmError(
      "invalid-request",
      `Recovery drill of key ${ref} on HSM token '${tokenLabel}' failed: ${why}.`,
      {
        operation,
      },
    );
  // The token's own key must be the one the drill is about (key-missing when it holds none: restore instead).
  const held = findKey(session, ref);
  if (held.curve !== curve || !held.publicKey.equals(publicKey)) {
    throw refused("the token's key under that reference has another public key than the recorded one");
  }
  const kek = backupKek(session, operation);
  const throwAway = randomBytes(16).toString("hex");
  const template = privateKeyTemplate(curve, throwAway, DRILL_LABEL, "wrapped-only").map((a) =>
    a.type === pkcs11js.CKA_TOKEN ? { type: a.type, value: false } : a,
  );
  let handle: Handle;
  try {
    handle = session.run("C_UnwrapKey", (m, s) => m.C_UnwrapKey(s, WRAP, kek, Buffer.from(blob), template), {
      key: ref,
    });
  } catch (e) {
    // As in unwrapKey: SoftHSM answers a blob that fails the AES key-wrap integrity check with
    // CKR_GENERAL_ERROR. A session object that did not appear cannot outlive the session either way.
    const unclear =
      e instanceof HsmError && (e.reason === "outcome-unknown" || e.reason === "invalid-request");
    if (!unclear) throw e;
    throw refused(
      `the backup does not unwrap under this token's backup KEK: it was wrapped under another KEK, or it is damaged (${e.detail.ckr ?? "no CKR"})`,
    );
  }
  try {
    if (curveOfObject(session, handle, ref, operation) !== curve)
      throw refused(`the backed-up key is not on ${curve}`);
    if (!matchesPublicKey(session, handle, curve, publicKey, ref)) {
      throw refused("the restored key does not sign for the recorded public key");
    }
  } finally {
    session.run("C_DestroyObject", (m, s) => m.C_DestroyObject(s, handle), { key: ref });
  }
  return held;
}
