// Key handles without a search per key: one pass over the token that reads every private key's reference
// (CKA_ID) and curve, for the pool's handle index, and the check that lets a thread use a handle another
// session found. SoftHSM's C_FindObjects scans every object on the token (~350 ms among 10,000 keys), so a
// search per key and thread would make the first signature with any key cost that much.
//
// Why a handle found in one session may serve another: the PKCS#11 usage guide ("Session handles and object
// handles", v2.10 to 2.40) says visibility of an object through an object handle is the same among all
// threads of an application, while the base text only promises a session that a handle it can use keeps
// naming the same object. SoftHSM 2.6.1 gives a token object one handle in every session of the process
// (measured here: a handle found in one session reads and signs in another; its HandleManager is per
// process and never reuses a number) and drops them when the last session on the slot closes or the user
// logs out. Another HSM may hand out per-session handles or reuse numbers, so a handle from elsewhere is
// never trusted as it is: `adoptKey`
// re-reads its class and CKA_ID (one C_GetAttributeValue, microseconds) before the thread caches it, and
// anything unexpected falls back to a search.
import "server-only";
import pkcs11js from "pkcs11js";
import { type Curve, curveOfParams } from "./curves";
import { HsmError } from "../pkcs11/errors";
import type { CachedKey, Handle, Session } from "../pkcs11/pkcs11";
import { checkRef, privateKeyOf } from "./key-objects";

/** One private key as the index holds it. */
export type IndexedKey = { ref: string; handle: Handle; curve: Curve };

/**
 * Every Keyward private key on the token (16-byte CKA_ID, a curve Keyward uses), in one search and one
 * attribute read per key. Objects that are not Keyward keys are left out (they cannot be signed with by
 * reference anyway). Caches every key in this session as well.
 */
export function indexKeys(session: Session): IndexedKey[] {
  const p = pkcs11js;
  const handles = session.find([
    { type: p.CKA_CLASS, value: p.CKO_PRIVATE_KEY },
    { type: p.CKA_TOKEN, value: true },
  ]);
  const keys: IndexedKey[] = [];
  for (const handle of handles) {
    let values: Map<number, Buffer>;
    try {
      values = session.attributes(handle, [p.CKA_ID, p.CKA_EC_PARAMS]);
    } catch (e) {
      // Not an EC or Edwards key (no CKA_EC_PARAMS), or destroyed meanwhile: not one of ours to index.
      if (e instanceof HsmError && e.kind !== "stale-session" && e.kind !== "device") continue;
      throw e;
    }
    const id = values.get(p.CKA_ID);
    const params = values.get(p.CKA_EC_PARAMS);
    const curve = params === undefined ? undefined : curveOfParams(params);
    if (id === undefined || id.length !== 16 || curve === undefined) continue;
    const ref = id.toString("hex");
    keys.push({ ref, handle, curve });
    session.keys.set(ref, { handle, curve });
  }
  return keys;
}

/**
 * Takes a handle another session found for `ref` into this session's cache if it is a private key carrying
 * exactly that CKA_ID here; otherwise (a stale or reused handle, a per-session handle of another HSM)
 * returns undefined and the caller searches.
 */
export function adoptKey(session: Session, ref: string, hint: { handle: Handle; curve: Curve }): CachedKey | undefined {
  const p = pkcs11js;
  let values: Map<number, Buffer>;
  try {
    values = session.attributes(hint.handle, [p.CKA_CLASS, p.CKA_ID, p.CKA_EC_PARAMS]);
  } catch (e) {
    if (e instanceof HsmError && (e.kind === "stale-session" || e.kind === "device")) throw e;
    return undefined;
  }
  const cls = values.get(p.CKA_CLASS);
  const params = values.get(p.CKA_EC_PARAMS);
  // A CK_ULONG in the host's byte order (little-endian on the platforms Keyward runs on), 4 or 8 bytes.
  const isPrivate =
    cls !== undefined &&
    cls.length >= 4 &&
    cls.readUInt32LE(0) === p.CKO_PRIVATE_KEY &&
    cls.subarray(4).every((b) => b === 0);
  const sameId = values.get(p.CKA_ID)?.equals(Buffer.from(ref, "hex")) === true;
  const curve = params === undefined ? undefined : curveOfParams(params);
  if (!isPrivate || !sameId || curve === undefined) return undefined;
  const key = { handle: hint.handle, curve };
  session.keys.set(ref, key);
  return key;
}

/** The private key of `ref`: this session's cached handle, or one search (the pool's index miss). */
export function locateKey(session: Session, ref: string): CachedKey {
  const operation = "locateKey";
  checkRef(ref, operation);
  return privateKeyOf(session, ref, operation);
}
