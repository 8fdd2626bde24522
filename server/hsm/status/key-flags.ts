// What a token itself says about keys' exposure, for the period report: the boolean attributes of each key's
// private half (CKA_LOCAL, CKA_SENSITIVE, CKA_ALWAYS_SENSITIVE, CKA_EXTRACTABLE, CKA_NEVER_EXTRACTABLE,
// CKA_WRAP_WITH_TRUSTED), for many keys in one call. Runs where every HSM call runs (a pool thread in the server:
// the `attest` operation). Read-only, and only these booleans plus CKA_CLASS, CKA_ID and CKA_EC_PARAMS (to be
// sure the handle is the key's private half) are ever asked: never CKA_VALUE or anything secret.
//
// Cost: one C_GetAttributeValue per key whose handle this session or the pool's index already has (the
// handle is checked by the same read: its class and CKA_ID come back with the flags). Keys with no known
// handle are left "unresolved" unless `search` is asked; then ONE search over the token's private keys (not
// one per key: SoftHSM scans every object for each search, ~0.4 s among 10,000 keys) and a CKA_ID read of
// each handle not yet known settle them all, and a key still not found is "missing" once the session is
// confirmed to see the token's private objects (key-objects.ts: a lost login looks like an empty token).
import "server-only";
import pkcs11js from "pkcs11js";
import { curveOfParams } from "../keys/curves";
import { confirmAbsence } from "../keys/key-objects";
import { HsmError } from "../pkcs11/errors";
import type { Handle, Session, TokenDescription } from "../pkcs11/pkcs11";

/** Each flag as the token answered it; null when the token would not give that attribute. */
export type KeyFlags = {
  local: boolean | null;
  sensitive: boolean | null;
  alwaysSensitive: boolean | null;
  extractable: boolean | null;
  neverExtractable: boolean | null;
  wrapWithTrusted: boolean | null;
};

export const KEY_FLAG_NAMES: Record<keyof KeyFlags, string> = {
  local: "CKA_LOCAL",
  sensitive: "CKA_SENSITIVE",
  alwaysSensitive: "CKA_ALWAYS_SENSITIVE",
  extractable: "CKA_EXTRACTABLE",
  neverExtractable: "CKA_NEVER_EXTRACTABLE",
  wrapWithTrusted: "CKA_WRAP_WITH_TRUSTED",
};

/**
 * One key on this token. holds: its private half's flags; missing: searched for, not there; unresolved: no
 * handle known and no search asked; unreadable: something is there but not readable as one key (message).
 */
export type KeyFlagsAnswer =
  | { ref: string; state: "holds"; flags: KeyFlags }
  | { ref: string; state: "missing" }
  | { ref: string; state: "unresolved" }
  | { ref: string; state: "unreadable"; message: string };

export type TokenKeyFlags = { token: TokenDescription; keys: KeyFlagsAnswer[] };

export type KeyFlagsRequest = {
  refs: readonly string[];
  /** The pool's handle index entries for the refs, by position (checked before use; never needed). */
  hints?: readonly (Handle | null)[];
  /** Settle keys with no known handle by one search over the token's private keys. */
  search?: boolean;
};

/** The most refs one call may carry: one call must stay well inside a pool thread's stuck limit. */
export const MAX_FLAG_REFS = 20_000;

const FLAG_TYPES: readonly (readonly [keyof KeyFlags, number])[] = [
  ["local", pkcs11js.CKA_LOCAL],
  ["sensitive", pkcs11js.CKA_SENSITIVE],
  ["alwaysSensitive", pkcs11js.CKA_ALWAYS_SENSITIVE],
  ["extractable", pkcs11js.CKA_EXTRACTABLE],
  ["neverExtractable", pkcs11js.CKA_NEVER_EXTRACTABLE],
  ["wrapWithTrusted", pkcs11js.CKA_WRAP_WITH_TRUSTED],
];
const IDENTITY = [pkcs11js.CKA_CLASS, pkcs11js.CKA_ID, pkcs11js.CKA_EC_PARAMS] as const;
const ALL = [...IDENTITY, ...FLAG_TYPES.map(([, type]) => type)];
const REF = /^[0-9a-f]{32}$/;

/** Token-wide trouble (a lost login, a failing device): the caller's, for the whole token, never one key's. */
function tokenWide(e: unknown): boolean {
  return e instanceof HsmError && (e.kind === "stale-session" || e.kind === "device");
}

function bool(value: Buffer | undefined): boolean | null {
  return value === undefined || value.length === 0 ? null : value[0] !== 0;
}

function isPrivateKey(value: Buffer | undefined): boolean {
  // A CK_ULONG in the host's byte order (little-endian where Keyward runs), 4 or 8 bytes (as key-index.ts).
  return (
    value !== undefined &&
    value.length >= 4 &&
    value.readUInt32LE(0) === pkcs11js.CKO_PRIVATE_KEY &&
    value.subarray(4).every((b) => b === 0)
  );
}

function read(session: Session, handle: Handle, types: readonly number[]): Map<number, Buffer> | undefined {
  try {
    return session.attributes(handle, types);
  } catch (e) {
    if (tokenWide(e)) throw e;
    return undefined;
  }
}

/**
 * The flags of `handle` if it is the private half of `ref` on this token; undefined if it is not (stale,
 * another object). One read in the common case; an HSM that refuses one of the flags gets one read per flag,
 * that flag then null.
 */
function flagsOf(session: Session, ref: string, handle: Handle): KeyFlags | undefined {
  const p = pkcs11js;
  let values = read(session, handle, ALL);
  if (values === undefined) {
    values = read(session, handle, [p.CKA_CLASS, p.CKA_ID]);
    if (values === undefined) return undefined;
    for (const [, type] of FLAG_TYPES) {
      const one = read(session, handle, [type])?.get(type);
      if (one !== undefined) values.set(type, one);
    }
  }
  if (!isPrivateKey(values.get(p.CKA_CLASS))) return undefined;
  if (values.get(p.CKA_ID)?.equals(Buffer.from(ref, "hex")) !== true) return undefined;
  const params = values.get(p.CKA_EC_PARAMS);
  const curve = params === undefined ? undefined : curveOfParams(params);
  // A checked handle serves this session's other calls too (signatures, the key page).
  if (curve !== undefined) session.keys.set(ref, { handle, curve });
  const flags = {} as KeyFlags;
  for (const [name, type] of FLAG_TYPES) flags[name] = bool(values.get(type));
  return flags;
}

/** One search over the token's private keys: the handles carrying each wanted reference. */
function searchAll(
  session: Session,
  wanted: ReadonlySet<string>,
  known: ReadonlySet<string>,
): Map<string, Handle[]> {
  const p = pkcs11js;
  const found = new Map<string, Handle[]>();
  const handles = session.find([
    { type: p.CKA_CLASS, value: p.CKO_PRIVATE_KEY },
    { type: p.CKA_TOKEN, value: true },
  ]);
  for (const handle of handles) {
    // A handle already read as another key of this call is not read again.
    if (known.has(handle.toString("hex"))) continue;
    const id = read(session, handle, [p.CKA_ID])?.get(p.CKA_ID);
    if (id === undefined || id.length !== 16) continue;
    const ref = id.toString("hex");
    if (!wanted.has(ref)) continue;
    found.set(ref, [...(found.get(ref) ?? []), handle]);
  }
  return found;
}

/** The flags of every key in `request.refs` on this token, in the same order; one key's trouble is its answer. */
export function readKeyFlags(session: Session, request: KeyFlagsRequest): TokenKeyFlags {
  const operation = "readKeyFlags";
  if (request.refs.length > MAX_FLAG_REFS) {
    throw new HsmError(
      "invalid-request",
      `readKeyFlags takes at most ${MAX_FLAG_REFS} keys a call; got ${request.refs.length}.`,
      { operation },
    );
  }
  const answers: KeyFlagsAnswer[] = [];
  const known = new Set<string>();
  const unresolved = new Map<string, number>();
  request.refs.forEach((ref, i) => {
    if (typeof ref !== "string" || !REF.test(ref)) {
      answers.push({ ref: String(ref), state: "unreadable", message: "not a key reference (32 hex digits)" });
      return;
    }
    const candidates = [session.keys.get(ref)?.handle, request.hints?.[i] ?? undefined];
    for (const handle of candidates) {
      if (handle === undefined) continue;
      const flags = flagsOf(session, ref, handle);
      if (flags !== undefined) {
        known.add(handle.toString("hex"));
        answers.push({ ref, state: "holds", flags });
        return;
      }
    }
    // The cached handle (if any) no longer names this key: dropped, as a signature would.
    session.keys.delete(ref);
    unresolved.set(ref, answers.length);
    answers.push({ ref, state: "unresolved" });
  });
  if (request.search === true && unresolved.size > 0) {
    const found = searchAll(session, new Set(unresolved.keys()), known);
    let absent = false;
    for (const [ref, at] of unresolved) {
      const handles = found.get(ref) ?? [];
      const [handle] = handles;
      if (handle === undefined) {
        absent = true;
        answers[at] = { ref, state: "missing" };
      } else if (handles.length > 1) {
        answers[at] = {
          ref,
          state: "unreadable",
          message: `the token holds ${handles.length} private keys under this reference`,
        };
      } else {
        const flags = flagsOf(session, ref, handle);
        answers[at] =
          flags === undefined
            ? { ref, state: "unreadable", message: "its private half could not be read" }
            : { ref, state: "holds", flags };
      }
    }
    // "Missing" only from a session that still sees the token's private objects (throws otherwise).
    if (absent) confirmAbsence(session, operation);
  }
  return { token: session.token.description, keys: answers };
}
