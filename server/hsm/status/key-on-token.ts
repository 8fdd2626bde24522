// One key as one token holds it, for the key page's "HSM tokens" section: the token's serial and, under the
// key's reference (CKA_ID), the private half's label, curve and export rule and the public half's key. Runs
// where every HSM call runs (a pool thread in the server: the `inspect` operation). Read-only, and it must
// never cost a token-wide search per page view for a key the token holds: handles this session already has
// (the pool's index pass, a signature, an earlier look) are checked with one attribute read and reused; a
// search runs only for a handle this session never had, or one that went stale. Never reads a private value.
import "server-only";
import pkcs11js from "pkcs11js";
import { type Curve, curveOfParams, rawPublicKey } from "../keys/curves";
import { adoptKey } from "../keys/key-index";
import { checkRef, exportableOf, oneObjectWithRef, privateKeyOf } from "../keys/key-objects";
import type { KeyInfo } from "../keys/keys";
import { HsmError } from "../pkcs11/errors";
import { type CachedKey, flag, type Handle, type Session } from "../pkcs11/pkcs11";

/** The key a token holds under a reference, and which token said so. */
export type KeyOnToken = KeyInfo & { token: { label: string; serial: string } };

// Public-half handles by reference, per session (the private halves are in `session.keys`). Bounded: the
// oldest entry goes first; a dropped one only costs a search the next time.
const publicHalves = new WeakMap<Session, Map<string, Handle>>();
const MAX_PUBLIC_HALVES = 20_000;

function isClass(value: Buffer | undefined, cls: number): boolean {
  // A CK_ULONG in the host's byte order (little-endian where Keyward runs), 4 or 8 bytes (as key-index.ts).
  return (
    value !== undefined &&
    value.length >= 4 &&
    value.readUInt32LE(0) === cls &&
    value.subarray(4).every((b) => b === 0)
  );
}

/** A handle read as this key's public half, or undefined when it no longer is one (stale, another object). */
function readPublic(
  session: Session,
  ref: string,
  handle: Handle,
): { curve: Curve; point: Buffer } | undefined {
  const p = pkcs11js;
  let values: Map<number, Buffer>;
  try {
    values = session.attributes(handle, [p.CKA_CLASS, p.CKA_ID, p.CKA_EC_PARAMS, p.CKA_EC_POINT]);
  } catch (e) {
    // A lost login or a failing device is the token's problem, not a stale handle: let the caller see it.
    if (e instanceof HsmError && (e.kind === "stale-session" || e.kind === "device")) throw e;
    return undefined;
  }
  const params = values.get(p.CKA_EC_PARAMS);
  const curve = params === undefined ? undefined : curveOfParams(params);
  const point = values.get(p.CKA_EC_POINT);
  const sameId = values.get(p.CKA_ID)?.equals(Buffer.from(ref, "hex")) === true;
  if (!isClass(values.get(p.CKA_CLASS), p.CKO_PUBLIC_KEY) || !sameId || curve === undefined || !point) {
    return undefined;
  }
  return { curve, point };
}

function publicHalf(session: Session, ref: string, operation: string): { curve: Curve; point: Buffer } {
  let cache = publicHalves.get(session);
  if (cache === undefined) {
    cache = new Map();
    publicHalves.set(session, cache);
  }
  const cached = cache.get(ref);
  const known = cached === undefined ? undefined : readPublic(session, ref, cached);
  if (known !== undefined) return known;
  cache.delete(ref);
  const handle = oneObjectWithRef(session, "public", ref, operation);
  const found = readPublic(session, ref, handle);
  if (found === undefined) {
    throw new HsmError(
      "invalid-request",
      `The public half of key ${ref} on HSM token '${session.token.target.tokenLabel}' is not an EC public key Keyward can read.`,
      { operation },
    );
  }
  if (cache.size >= MAX_PUBLIC_HALVES) cache.delete(cache.keys().next().value ?? "");
  cache.set(ref, handle);
  return found;
}

function privateHalf(session: Session, ref: string, operation: string): CachedKey {
  const cached = session.keys.get(ref);
  // Checked before use: the object may have been destroyed (and another made) through another session.
  const checked = cached === undefined ? undefined : adoptKey(session, ref, cached);
  return checked ?? privateKeyOf(session, ref, operation, true);
}

/**
 * What this token holds under `ref`: key-missing (after confirming the session still sees the token's
 * private objects, key-objects.ts) when no private key carries it. The public key comes from the token's
 * own public half, so a key made under the same reference by someone else shows its own public key.
 */
export function inspectKey(session: Session, ref: string): KeyOnToken {
  const operation = "inspectKey";
  checkRef(ref, operation);
  const key = privateHalf(session, ref, operation);
  const p = pkcs11js;
  const values = session.attributes(key.handle, [p.CKA_LABEL, p.CKA_EXTRACTABLE, p.CKA_WRAP_WITH_TRUSTED]);
  const exportable = exportableOf(
    flag(values, p.CKA_EXTRACTABLE),
    flag(values, p.CKA_WRAP_WITH_TRUSTED),
    ref,
    operation,
  );
  const pub = publicHalf(session, ref, operation);
  if (pub.curve !== key.curve) {
    // Two halves on different curves are not one key; said plainly, like findKey does.
    throw new HsmError("invalid-request", `The two halves of key ${ref} are on different curves.`, {
      operation,
    });
  }
  const { label, serial } = session.token.description;
  return {
    ref,
    curve: key.curve,
    label: values.get(p.CKA_LABEL)?.toString("utf8") ?? "",
    publicKey: rawPublicKey(key.curve, pub.point),
    exportable,
    token: { label, serial },
  };
}
