// What every configured HSM token itself attests about many keys, for the period report: for each key's private
// half, CKA_LOCAL, CKA_SENSITIVE, CKA_ALWAYS_SENSITIVE, CKA_EXTRACTABLE, CKA_NEVER_EXTRACTABLE and
// CKA_WRAP_WITH_TRUSTED as that token answers them now (status/key-flags.ts: booleans only, never a value), and
// whether the token offers a vendor key attestation (SoftHSM offers none). Read-only, on the tokens' pool threads
// like every call. Batched: keys the pool's handle index knows are read in chunks through their handles (one
// attribute read each, no search), and the keys left over on a token are settled by ONE search there (a replica
// lacks every never-exportable key: one search, not one per key). Every token is asked at once. One key's or one
// token's trouble is part of the answer ("not on this token", "token unreachable"), never thrown.
import "server-only";
import { serverTokenSet } from "../cluster/server-token-set";
import type { HsmTokenSet, TokenRole, TokenStatus } from "../cluster/token-set";
import { HsmError } from "../pkcs11/errors";
import type { KeyFlags, KeyFlagsAnswer } from "./key-flags";
import { setAside, WHY } from "./key-presence";
import { isSoftHsmLibrary } from "./unwrap-guards";

export type { KeyFlags };

/** One key on one token: its flags, or why there are none. */
export type KeyFlagsOnToken =
  | { state: "holds"; flags: KeyFlags }
  | { state: "missing"; note: string }
  | { state: "unreadable"; note: string }
  | { state: "unreachable"; note: string };

export type AttestingToken = {
  label: string;
  role: TokenRole;
  /** As the token answered; null when it did not. */
  serial: string | null;
  manufacturer: string | null;
  model: string | null;
  /** Why the token (or part of its keys) could not be asked; null when it answered for every key. */
  note: string | null;
  /** The vendor's key attestation, in words: what this HSM offers beyond the PKCS#11 flags. */
  vendorAttestation: string;
};

export type KeyAttestations = {
  checkedAt: Date;
  tokens: AttestingToken[];
  /** Per key reference asked, one answer per token, in the order of `tokens`. */
  keys: Map<string, KeyFlagsOnToken[]>;
  /** Set when no token could be asked at all (no HSM configured). */
  error: string | null;
};

/**
 * Keys per call to a token. A key costs ~0.3 ms of SoftHSM's time (one C_GetAttributeValue of nine attributes,
 * measured on this 2-core machine), so a call of 250 takes ~0.1 s, far inside a pool thread's stuck limit, and
 * the calls spread over the pool's threads.
 */
export const FLAG_CHUNK = 250;

const SOFTHSM_ATTESTATION =
  "none: SoftHSM offers no vendor key attestation; the flags are the claims of a development HSM, in software";
const OTHER_ATTESTATION =
  "not read: Keyward does not read a vendor key attestation (such as a signed attestation certificate) from this HSM; only its PKCS#11 flags";

function vendorAttestation(library: string, manufacturer: string | null): string {
  return isSoftHsmLibrary(library) || /softhsm/i.test(manufacturer ?? "")
    ? SOFTHSM_ATTESTATION
    : OTHER_ATTESTATION;
}

function whyNot(e: unknown): string {
  const why = e instanceof HsmError ? WHY[e.reason] : "it gave an unexpected answer";
  return `token unreachable: ${why} (see the status page)`;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function answerOf(a: KeyFlagsAnswer): KeyFlagsOnToken {
  switch (a.state) {
    case "holds":
      return { state: "holds", flags: a.flags };
    case "missing":
      return { state: "missing", note: "not on this token" };
    case "unreadable":
      return { state: "unreadable", note: a.message };
    case "unresolved":
      return { state: "unreadable", note: "not looked up" };
  }
}

type TokenAnswer = { token: AttestingToken; keys: Map<string, KeyFlagsOnToken> };

async function askToken(
  set: HsmTokenSet,
  status: TokenStatus,
  refs: readonly string[],
  chunk: number,
): Promise<TokenAnswer> {
  const token: AttestingToken = {
    label: status.label,
    role: status.role,
    serial: null,
    manufacturer: null,
    model: null,
    note: null,
    vendorAttestation: vendorAttestation(status.library, null),
  };
  const keys = new Map<string, KeyFlagsOnToken>();
  if (status.state === "failed") {
    token.note = `token unreachable: ${setAside(status)}`;
    for (const ref of refs) keys.set(ref, { state: "unreachable", note: token.note });
    return { token, keys };
  }
  let failure: string | null = null;
  const take = (
    answers: KeyFlagsAnswer[],
    description: { serial: string; manufacturer: string; model: string },
  ) => {
    token.serial = description.serial;
    token.manufacturer = description.manufacturer;
    token.model = description.model;
    for (const a of answers) keys.set(a.ref, answerOf(a));
  };
  const unreachable = (part: readonly string[], e: unknown) => {
    failure ??= whyNot(e);
    for (const ref of part) keys.set(ref, { state: "unreachable", note: whyNot(e) });
  };
  // First every key through the handles the pool already has (no search), all chunks at once.
  const leftOver: string[] = [];
  await Promise.all(
    chunks(refs, chunk).map(async (part) => {
      try {
        const answer = await set.keyFlags(status.label, part);
        take(answer.keys, answer.token);
        for (const a of answer.keys) if (a.state === "unresolved") leftOver.push(a.ref);
      } catch (e) {
        unreachable(part, e);
      }
    }),
  );
  // Then the keys no handle was known for, by one search over the token per chunk of them.
  for (const part of chunks(leftOver, Math.max(chunk, 10_000))) {
    try {
      const answer = await set.keyFlags(status.label, part, { search: true });
      take(answer.keys, answer.token);
    } catch (e) {
      unreachable(part, e);
    }
  }
  token.note = failure;
  token.vendorAttestation = vendorAttestation(status.library, token.manufacturer);
  return { token, keys };
}

/**
 * Every configured token's flags for each key in `refs` (key references, CKA_ID in hex), read now. Never throws
 * for a sick HSM or a missing configuration: the problem is part of the answer.
 */
export async function keyAttestations(
  refs: readonly string[],
  given?: { set?: HsmTokenSet; now?: Date; chunk?: number },
): Promise<KeyAttestations> {
  const now = given?.now ?? new Date();
  const unique = [...new Set(refs)];
  let set: HsmTokenSet;
  try {
    set = given?.set ?? serverTokenSet();
  } catch (e) {
    console.error("Keyward: key attestation: the HSM token set could not be made", e);
    return {
      checkedAt: now,
      tokens: [],
      keys: new Map(),
      error: "the HSM is not configured (see the status page)",
    };
  }
  const chunk = Math.max(1, Math.floor(given?.chunk ?? FLAG_CHUNK));
  const answers = await Promise.all(set.health().map((t) => askToken(set, t, unique, chunk)));
  const keys = new Map<string, KeyFlagsOnToken[]>();
  for (const ref of unique) {
    keys.set(
      ref,
      answers.map(
        (a) => a.keys.get(ref) ?? { state: "unreachable", note: a.token.note ?? "token unreachable" },
      ),
    );
  }
  return { checkedAt: now, tokens: answers.map((a) => a.token), keys, error: null };
}
