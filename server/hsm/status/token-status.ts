// The HSM part of the status page: every configured token, its role, what the token set has seen of it
// (state, last error, back-off) and what a fresh check of it finds (serial, backup KEK, mechanisms).
// It never throws for a sick HSM, and never retries the PIN of a token set aside: real HSMs lock a PIN
// tried again and again.
import "server-only";
import { env } from "../../env";
import type { HsmErrorKind, HsmErrorReason } from "../pkcs11/errors";
import { type HsmHealth, healthError, healthFrom, hsmHealth } from "./health";
import type { HsmConfig } from "../pkcs11/pkcs11";
import { serverTokenSet } from "../cluster/server-token-set";
import type { TokenState } from "../cluster/token-health";
import type { HsmTokenSet, TokenRole } from "../cluster/token-set";

type Problem = { code: HsmErrorReason; kind: HsmErrorKind; message: string };

export type HsmTokenView = {
  label: string;
  role: TokenRole;
  library: string;
  state: TokenState;
  serial: string | null;
  kek: { id: string; shareable: boolean } | null;
  consecutiveFailures: number;
  lastError: { reason: HsmErrorReason; kind: HsmErrorKind; message: string; at: Date } | null;
  lastSuccessAt: Date | null;
  retryAt: Date | null;
  /** What the check found wrong that does not stop signing (a missing KEK, another KEK, a mechanism). */
  problem: Problem | null;
};

/**
 * The primary's health as before (library, token, objects, mechanisms, error), plus the set as a whole:
 * healthy (every token healthy, nothing wrong), degraded (signing can go on: some token still in use),
 * failing (every token set aside).
 */
export type HsmStatus = HsmHealth & { state: "healthy" | "degraded" | "failing"; tokens: HsmTokenView[] };

/**
 * One token's check. A token in use is checked through the set, like any call: on the server that is a pool
 * thread (counting the objects of a token with 10,000 keys takes ~0.5 s, which must not block the event
 * loop), and a token found down is set aside for requests too. A token set aside, or one the set could not
 * reach, is described without logging in: a few short calls (token info, mechanism list) on this thread.
 */
async function checkOf(set: HsmTokenSet, token: HsmConfig, login: boolean): Promise<HsmHealth> {
  if (!login) return hsmHealth(token, { login: false });
  try {
    return healthFrom(token, await set.check(token.tokenLabel));
  } catch (e) {
    const seen = await hsmHealth(token, { login: false });
    return { ...seen, ok: false, error: seen.error ?? healthError(e, token) };
  }
}

/** The status of the server's token set (env() and serverTokenSet()), or of the set and tokens given. */
export async function hsmStatus(given?: { set: HsmTokenSet; tokens: readonly HsmConfig[] }): Promise<HsmStatus> {
  let source: { set: HsmTokenSet; tokens: readonly HsmConfig[] };
  try {
    source = given ?? { set: serverTokenSet(), tokens: env().hsm.tokens };
  } catch {
    // Unreadable configuration: hsmHealth() reports it as a "misconfigured" error without throwing.
    return { ...(await hsmHealth()), state: "failing", tokens: [] };
  }
  const { set, tokens } = source;
  await set.probeDue();
  const checks = new Map<string, HsmHealth>();
  for (const token of tokens) {
    const known = set.health().find((t) => t.label === token.tokenLabel);
    checks.set(token.tokenLabel, await checkOf(set, token, known?.state !== "failed"));
  }
  const primaryKek = checks.get(tokens[0]?.tokenLabel ?? "")?.objects?.kek?.id;
  const views = set.health().map((t): HsmTokenView => {
    const check = checks.get(t.label);
    const kek = check?.objects?.kek ?? null;
    let problem: Problem | null = check?.error ?? null;
    if (problem === null && kek !== null && primaryKek !== undefined && kek.id !== primaryKek) {
      problem = {
        code: "misconfigured",
        kind: "configuration",
        message: `HSM token '${t.label}' holds another backup KEK (id ${kek.id}) than the primary (id ${primaryKek}): clones cannot be made on it. Re-initialise it and run the setup again.`,
      };
    }
    return {
      label: t.label,
      role: t.role,
      library: t.library,
      state: t.state,
      serial: check?.token?.serial ?? null,
      kek,
      consecutiveFailures: t.consecutiveFailures,
      lastError: t.lastError,
      lastSuccessAt: t.lastSuccessAt,
      retryAt: t.retryAt,
      // A token set aside shows its last error; the check did not log in, so it has no more to say.
      problem: t.state === "failed" ? null : problem,
    };
  });
  const allWell = views.every((v) => v.state === "healthy" && v.problem === null);
  const state = allWell ? "healthy" : views.some((v) => v.state !== "failed") ? "degraded" : "failing";
  const primary = checks.get(tokens[0]?.tokenLabel ?? "") ?? (await hsmHealth(tokens[0]));
  return { ...primary, ok: allWell, state, tokens: views };
}
