// The unwrap self-check of every configured HSM token, run at start-up (server/boot.ts) through each token's
// pool, and kept per token (on globalThis, like the token set, so the status page sees the result boot
// recorded). The enforcement itself is in the pool threads (keys/unwrap-guard.ts): a token that fails makes
// no wrapped-only keys. This is what the log and the status page say about it.
import "server-only";
import { env } from "../../env";
import { serverTokenSet } from "../cluster/server-token-set";
import type { HsmTokenSet } from "../cluster/token-set";
import { allowsWrappedOnly, type UnwrapGuard } from "../keys/unwrap-guard-result";
import type { HsmConfig } from "../pkcs11/pkcs11";

export type UnwrapGuardView = {
  tokenLabel: string;
  checkedAt: Date;
  /** Null when the token could not be checked (down, wrong PIN): `error` says why. */
  guard: UnwrapGuard | null;
  error: string | null;
  /** Whether Keyward makes wrapped-only keys on this token. */
  wrappedOnly: boolean;
};

const holder = globalThis as typeof globalThis & { __keywardUnwrapGuards?: Map<string, UnwrapGuardView> };

function results(): Map<string, UnwrapGuardView> {
  holder.__keywardUnwrapGuards ??= new Map();
  return holder.__keywardUnwrapGuards;
}

/** Checks every token now, one after another; never throws (a token that cannot be checked says why). */
export async function checkUnwrapGuards(given?: {
  set: HsmTokenSet;
  tokens: readonly HsmConfig[];
}): Promise<UnwrapGuardView[]> {
  const { set, tokens } = given ?? { set: serverTokenSet(), tokens: env().hsm.tokens };
  const views: UnwrapGuardView[] = [];
  for (const token of tokens) {
    const tokenLabel = token.tokenLabel;
    let view: UnwrapGuardView;
    try {
      const guard = await set.unwrapGuard(tokenLabel);
      view = { tokenLabel, checkedAt: new Date(), guard, error: null, wrappedOnly: allowsWrappedOnly(guard) };
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      // Unchecked is not proven: the pool thread checks again before it makes a wrapped-only key.
      view = { tokenLabel, checkedAt: new Date(), guard: null, error, wrappedOnly: false };
    }
    results().set(tokenLabel, view);
    views.push(view);
  }
  return views;
}

/** The last result for each token checked, in no particular order. */
export function lastUnwrapGuards(): UnwrapGuardView[] {
  return [...results().values()];
}

/** One line for the server log. */
export function unwrapGuardLine(view: UnwrapGuardView): string {
  if (view.guard === null) return `HSM token '${view.tokenLabel}': unwrap self-check not run (${view.error})`;
  const verdict = view.wrappedOnly ? "passed" : "FAILED";
  return `HSM token '${view.tokenLabel}': unwrap self-check ${verdict}: ${view.guard.message}`;
}

/** Whether a PKCS#11 library is SoftHSM: a development HSM, never for real funds (see README.md). */
export function isSoftHsmLibrary(library: string): boolean {
  return /softhsm/i.test(library.split("/").pop() ?? "");
}
