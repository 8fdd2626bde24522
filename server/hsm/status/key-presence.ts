// Which configured HSM tokens hold a key (an object with its CKA_ID), for the key page. Read-only: it looks the
// key up through the server's token set like any call (on the token's pool thread, never on the event loop),
// never logs in to a token set aside (real HSMs lock a PIN tried again and again), and keeps each answer for a
// few seconds, so a page updating live does not search the HSM at every change.
import "server-only";
import { serverTokenSet } from "../cluster/server-token-set";
import type { HsmTokenSet, TokenRole } from "../cluster/token-set";
import { HsmError } from "../pkcs11/errors";

export type KeyHolder = {
  label: string;
  role: TokenRole;
  /** true: holds it; false: answered that it does not; null: not asked (see `note`). */
  holds: boolean | null;
  note: string | null;
};

export type KeyPresence = { checkedAt: Date; tokens: KeyHolder[]; error: string | null };

export const PRESENCE_TTL_MS = 15_000;
const MAX_CACHED = 1_000;

type Cached = { at: number; presence: Promise<KeyPresence> };

// One cache per token set (the server has one, kept on globalThis across dev-mode reloads; tests make their own).
const caches = new WeakMap<HsmTokenSet, Map<string, Cached>>();

async function lookUp(set: HsmTokenSet, ref: string, now: Date): Promise<KeyPresence> {
  const tokens: KeyHolder[] = [];
  let error: string | null = null;
  for (const token of set.health()) {
    if (token.state === "failed") {
      // Why it failed is on the status page (admins and auditors); the key page only says it was not asked.
      tokens.push({
        ...token,
        holds: null,
        note: "set aside after a failure, not asked (see the status page)",
      });
      continue;
    }
    if (token.role !== "primary") {
      // The token set looks keys up on the primary only; clones are checked when they are made (replicate).
      tokens.push({ ...token, holds: null, note: "not asked: replicas are checked when a clone is made" });
      continue;
    }
    try {
      tokens.push({ ...token, holds: (await set.findKey(ref)) !== null, note: null });
    } catch (e) {
      const message =
        e instanceof HsmError && e.kind === "configuration"
          ? "the HSM is misconfigured"
          : "the HSM did not answer";
      error ??= message;
      tokens.push({ ...token, holds: null, note: `${message} (see the status page)` });
    }
  }
  return {
    checkedAt: now,
    tokens: tokens.map(({ label, role, holds, note }) => ({ label, role, holds, note })),
    error,
  };
}

/**
 * The tokens holding the key with reference `ref` (its CKA_ID), answered from a cache of PRESENCE_TTL_MS per
 * token set. Never throws for a sick HSM or a missing configuration: the problem is part of the answer.
 */
export function keyPresence(ref: string, given?: { set?: HsmTokenSet; now?: Date }): Promise<KeyPresence> {
  const now = given?.now ?? new Date();
  let set: HsmTokenSet;
  try {
    set = given?.set ?? serverTokenSet();
  } catch (e) {
    console.error("Keyward: key presence: the HSM token set could not be made", e);
    return Promise.resolve({ checkedAt: now, tokens: [], error: "the HSM is not configured (see the status page)" });
  }
  const cache = caches.get(set) ?? new Map<string, Cached>();
  caches.set(set, cache);
  const cached = cache.get(ref);
  if (cached && now.getTime() - cached.at < PRESENCE_TTL_MS) return cached.presence;
  const presence = lookUp(set, ref, now);
  if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value ?? "");
  cache.set(ref, { at: now.getTime(), presence });
  // A failed look-up is not kept: the next page asks again.
  const forget = () => {
    if (cache.get(ref)?.presence === presence) cache.delete(ref);
  };
  presence.then((p) => p.error !== null && forget(), forget);
  return presence;
}
