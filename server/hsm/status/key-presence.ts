// Which configured HSM tokens hold a key, for the key page: every token is asked, at once and each within its own
// deadline, what it holds under the key's reference (its CKA_ID), and its public key there is compared with the
// one Keyward recorded, so a token holding another key under the same reference shows as a mismatch. Read-only:
// the look-up runs on the token's pool thread like any call (never on the event loop), reuses the handles the
// pool's threads already hold (no token-wide search for a key a thread has seen, status/key-on-token.ts), never
// logs in to a token set aside (real HSMs lock a PIN tried again and again), and each answer is kept for a few
// seconds, so a page updating live does not ask the HSM at every change. It never says a PIN or a secret.
import "server-only";
import { serverTokenSet } from "../cluster/server-token-set";
import type { HsmTokenSet, TokenRole, TokenStatus } from "../cluster/token-set";
import { type HsmErrorReason, HsmError } from "../pkcs11/errors";
import type { KeyOnToken } from "./key-on-token";

/** holds: the token answered with a key under the reference; missing: it answered it has none; unreachable: no answer. */
export type HolderState = "holds" | "missing" | "unreachable";

export type KeyHolder = {
  label: string;
  role: TokenRole;
  /** The token's serial, as it answered; null when it did not answer. */
  serial: string | null;
  state: HolderState;
  /** With `holds`: whether its public key there is the recorded one (false: another key, to investigate). */
  matches: boolean | null;
  /** In words, for people: why a token is unreachable, what differs, or why a missing copy is expected. */
  note: string | null;
};

export type KeyPresence = { checkedAt: Date; tokens: KeyHolder[]; error: string | null };

/** The key as Keyward recorded it (the keys table). */
export type RecordedKey = { ref: string; publicKey: string; curve: string; exportable: string };

export const PRESENCE_TTL_MS = 15_000;
const MAX_CACHED = 1_000;

type Cached = { at: number; presence: Promise<KeyPresence> };

// One cache per token set (the server has one, kept on globalThis across dev-mode reloads; tests make their own).
const caches = new WeakMap<HsmTokenSet, Map<string, Cached>>();

/** Why a token could not answer, in a few words (the status page has the whole message, for admins). */
export const WHY: Record<HsmErrorReason, string> = {
  "library-missing": "its PKCS#11 library could not be loaded",
  misconfigured: "it is misconfigured",
  "token-missing": "the token was not found",
  "token-ambiguous": "two tokens carry its label",
  "pin-incorrect": "its user PIN was refused",
  "pin-locked": "its user PIN is locked",
  "login-conflict": "another login is in the way",
  "mechanism-unsupported": "it lacks a mechanism Keyward needs",
  "kek-missing": "it has no backup key",
  refused: "it refused the request",
  "key-missing": "it holds no such key",
  "key-not-wrappable": "the key cannot leave its token",
  "invalid-request": "the request was not valid",
  "session-lost": "its login was lost",
  "device-failed": "the device stopped answering",
  busy: "it was busy",
  "outcome-unknown": "a call to it broke off",
  timeout: "it did not answer in time",
};

function utcMinute(at: Date): string {
  return `${at.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

export function setAside(token: TokenStatus): string {
  const why = token.lastError === null ? "it failed" : WHY[token.lastError.reason];
  const next = token.retryAt === null ? "" : `, tried again after ${utcMinute(token.retryAt)}`;
  return `set aside because ${why}; not asked${next} (see the status page)`;
}

/** What a token lacking the key means: expected for keys that are never copied, a gap for the others. */
function absence(token: TokenStatus, recorded: RecordedKey): string {
  if (token.role === "primary") return "the primary token, where keys are made, does not hold it";
  if (recorded.exportable === "never")
    return "expected: a never-exportable key stays on the token that made it";
  if (recorded.curve === "ed25519") return "expected: SoftHSM cannot copy Ed25519 keys to another token";
  return "no copy here: signing with this key cannot fail over to this token (a restore puts it back)";
}

function compared(token: TokenStatus, found: KeyOnToken, recorded: RecordedKey): KeyHolder {
  const base = { label: token.label, role: token.role, serial: found.token.serial, state: "holds" as const };
  if (found.curve !== recorded.curve) {
    return {
      ...base,
      matches: false,
      note: `holds a ${found.curve} key under this reference, but the recorded key is ${recorded.curve}: not the recorded key`,
    };
  }
  if (found.publicKey.toString("hex") !== recorded.publicKey.toLowerCase()) {
    return {
      ...base,
      matches: false,
      note: "the key it holds under this reference has another public key than the recorded one: not the recorded key",
    };
  }
  return { ...base, matches: true, note: null };
}

async function askToken(set: HsmTokenSet, token: TokenStatus, recorded: RecordedKey): Promise<KeyHolder> {
  const base = { label: token.label, role: token.role };
  if (token.state === "failed") {
    return { ...base, serial: null, state: "unreachable", matches: null, note: setAside(token) };
  }
  try {
    const found = await set.inspectKey(token.label, recorded.ref);
    if (found === null) {
      return { ...base, serial: null, state: "missing", matches: null, note: absence(token, recorded) };
    }
    return compared(token, found, recorded);
  } catch (e) {
    const error = e instanceof HsmError ? e : null;
    // What the token holds under the reference is not a key Keyward made (extractable to any key, halves on
    // different curves, an unreadable public half): it holds something, and it is not the recorded key.
    if (error !== null && (error.reason === "refused" || error.reason === "invalid-request")) {
      return {
        ...base,
        serial: null,
        state: "holds",
        matches: false,
        note: "what it holds under this reference is not a key as Keyward makes them: not the recorded key",
      };
    }
    const why = error === null ? "it gave an unexpected answer" : WHY[error.reason];
    return {
      ...base,
      serial: null,
      state: "unreachable",
      matches: null,
      note: `${why} (see the status page)`,
    };
  }
}

async function lookUp(set: HsmTokenSet, recorded: RecordedKey, now: Date): Promise<KeyPresence> {
  // Every token at once: one that hangs costs the page its own deadline, not the sum of them.
  const tokens = await Promise.all(set.health().map((token) => askToken(set, token, recorded)));
  return { checkedAt: now, tokens, error: null };
}

/**
 * The tokens holding the recorded key (by its reference, CKA_ID), each compared with the recorded public key,
 * answered from a cache of PRESENCE_TTL_MS per token set. Never throws for a sick HSM or a missing
 * configuration: the problem is part of the answer.
 */
export function keyPresence(
  recorded: RecordedKey,
  given?: { set?: HsmTokenSet; now?: Date },
): Promise<KeyPresence> {
  const now = given?.now ?? new Date();
  let set: HsmTokenSet;
  try {
    set = given?.set ?? serverTokenSet();
  } catch (e) {
    console.error("Keyward: key presence: the HSM token set could not be made", e);
    return Promise.resolve({
      checkedAt: now,
      tokens: [],
      error: "the HSM is not configured (see the status page)",
    });
  }
  const cache = caches.get(set) ?? new Map<string, Cached>();
  caches.set(set, cache);
  const id = `${recorded.ref}:${recorded.publicKey.toLowerCase()}`;
  const cached = cache.get(id);
  if (cached && now.getTime() - cached.at < PRESENCE_TTL_MS) return cached.presence;
  const presence = lookUp(set, recorded, now);
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value ?? "");
  cache.set(id, { at: now.getTime(), presence });
  // A look-up that failed as a whole is not kept: the next page asks again.
  presence.catch(() => {
    if (cache.get(id)?.presence === presence) cache.delete(id);
  });
  return presence;
}
