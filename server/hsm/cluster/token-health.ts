// Per-token health for the token set: what an error from one token means for that token and for the request,
// and a small state machine fed with the outcome of every call. Pure (no I/O; the time is passed in), so it
// is tested with a fake clock. It decides on an error's reason and kind only, never on its message.
import type { HsmErrorKind, HsmErrorReason } from "../pkcs11/errors";

/**
 * healthy: answering. degraded: failed lately but still used, in its configured place. failed: set aside
 * until `retryAt`, then probed; requests do not wait for it.
 */
export type TokenState = "healthy" | "degraded" | "failed";

export type TokenFailure = { reason: HsmErrorReason; kind: HsmErrorKind; message: string; at: Date };

export type TokenHealth = {
  readonly state: TokenState;
  /** Failures since the last success. */
  readonly consecutiveFailures: number;
  /** Times in a row the token was set aside (a failed probe adds one); the back-off doubles with each. */
  readonly setAsideCount: number;
  readonly lastError: TokenFailure | null;
  readonly lastSuccessAt: Date | null;
  /** When the token last went from in use to failed. */
  readonly failedSince: Date | null;
  /** When a failed token is probed again. */
  readonly retryAt: Date | null;
};

export type HealthPolicy = {
  /** Transient failures in a row (device, stale session, unknown outcome, timeout) that set a token aside. */
  failAfter: number;
  /** The first back-off; it doubles each time the token is set aside again without a success between. */
  backoffMs: number;
  maxBackoffMs: number;
};

export const DEFAULT_HEALTH_POLICY: HealthPolicy = { failAfter: 3, backoffMs: 5_000, maxBackoffMs: 300_000 };

export const INITIAL_HEALTH: TokenHealth = Object.freeze({
  state: "healthy",
  consecutiveFailures: 0,
  setAsideCount: 0,
  lastError: null,
  lastSuccessAt: null,
  failedSince: null,
  retryAt: null,
});

/**
 * What an error from one token means:
 * - token-down: the token cannot serve at all (library, token, login): set it aside at once. A refused PIN
 *   is here so that it is not tried again at request rate: real HSMs lock a PIN after a few failures
 *   (SoftHSM 2.6.1 does not, measured).
 * - token-flaky: a transient failure of this token (device, stale session, unknown outcome, timeout):
 *   counted, and the token is set aside after `failAfter` in a row.
 * - elsewhere: nothing reached the HSM ("busy": every session in use): another token may serve; the token
 *   is not sick, so a load peak does not take tokens out one after another.
 * - not-here: this token holds no key with that reference; another may hold a clone.
 * - request: the request itself is wrong or refused by the key's rules: every token would say the same.
 */
export type ErrorClass = "token-down" | "token-flaky" | "elsewhere" | "not-here" | "request";

const TOKEN_DOWN: ReadonlySet<HsmErrorReason> = new Set<HsmErrorReason>([
  "library-missing",
  "misconfigured",
  "token-missing",
  "token-ambiguous",
  "pin-incorrect",
  "pin-locked",
  "login-conflict",
]);

export function classify(error: { reason: HsmErrorReason; kind: HsmErrorKind }): ErrorClass {
  if (error.reason === "busy") return "elsewhere";
  if (error.reason === "key-missing") return "not-here";
  if (TOKEN_DOWN.has(error.reason)) return "token-down";
  if (error.kind === "configuration") return "request";
  return "token-flaky";
}

/** Whether the error says something about the token itself (and so changes its health). */
export function isTokenFault(cls: ErrorClass): cls is "token-down" | "token-flaky" {
  return cls === "token-down" || cls === "token-flaky";
}

/** The token answered (a signature, or a clear "no such key"): it is healthy again. */
export function afterSuccess(health: TokenHealth, now: Date): TokenHealth {
  return {
    ...health,
    state: "healthy",
    consecutiveFailures: 0,
    setAsideCount: 0,
    lastSuccessAt: now,
    failedSince: null,
    retryAt: null,
  };
}

/**
 * A token fault. A failure while the token is set aside (a last-resort attempt) keeps the back-off as it is;
 * a failure once the back-off has run out (the probe) sets the token aside again for twice as long.
 */
export function afterFailure(
  health: TokenHealth,
  failure: TokenFailure,
  cls: "token-down" | "token-flaky",
  now: Date,
  policy: HealthPolicy,
): TokenHealth {
  const consecutiveFailures = health.consecutiveFailures + 1;
  if (health.state === "failed" && isSetAside(health, now)) {
    return { ...health, consecutiveFailures, lastError: failure };
  }
  const down = cls === "token-down" || health.state === "failed" || consecutiveFailures >= policy.failAfter;
  if (!down) return { ...health, state: "degraded", consecutiveFailures, lastError: failure };
  const setAsideCount = health.setAsideCount + 1;
  const backoff = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** (setAsideCount - 1));
  return {
    ...health,
    state: "failed",
    consecutiveFailures,
    setAsideCount,
    lastError: failure,
    failedSince: health.failedSince ?? now,
    retryAt: new Date(now.getTime() + backoff),
  };
}

/** Failed and still inside its back-off: not given requests. */
export function isSetAside(health: TokenHealth, now: Date): boolean {
  return health.state === "failed" && health.retryAt !== null && now.getTime() < health.retryAt.getTime();
}

/** Failed, and the back-off has run out: time for a probe. */
export function isDue(health: TokenHealth, now: Date): boolean {
  return health.state === "failed" && !isSetAside(health, now);
}

/**
 * Whether a set-aside token may still be tried when no other token could serve: yes for a transient fault
 * (it may have passed), never for a token-down one (a wrong PIN tried at request rate locks real HSMs).
 */
export function lastResort(health: TokenHealth): boolean {
  return health.lastError !== null && classify(health.lastError) === "token-flaky";
}
