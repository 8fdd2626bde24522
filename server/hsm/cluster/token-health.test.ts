// The per-token health state machine with a fake clock: what each error class does to a token, when a token
// is set aside and for how long, and how it comes back.
import { describe, expect, it } from "vitest";
import type { HsmErrorKind, HsmErrorReason } from "../pkcs11/errors";
import { HSM_REASONS } from "../pkcs11/errors";
import {
  afterFailure,
  afterSuccess,
  classify,
  type HealthPolicy,
  INITIAL_HEALTH,
  isDue,
  isSetAside,
  lastResort,
  type TokenHealth,
} from "./token-health";

const policy: HealthPolicy = { failAfter: 3, backoffMs: 1_000, maxBackoffMs: 5_000 };
const T0 = Date.parse("2026-11-25T10:00:00Z");
const at = (ms: number) => new Date(T0 + ms);

function failure(reason: HsmErrorReason, ms: number) {
  const kind: HsmErrorKind = HSM_REASONS[reason];
  return { reason, kind, message: `${reason} at +${ms}`, at: at(ms) };
}

/** Feeds one token fault at time +ms. */
function fail(h: TokenHealth, reason: HsmErrorReason, ms: number): TokenHealth {
  const cls = classify({ reason, kind: HSM_REASONS[reason] });
  if (cls !== "token-down" && cls !== "token-flaky") throw new Error(`${reason} is not a token fault`);
  return afterFailure(h, failure(reason, ms), cls, at(ms), policy);
}

describe("classify", () => {
  it.each([
    ["device-failed", "token-flaky"],
    ["session-lost", "token-flaky"],
    ["outcome-unknown", "token-flaky"],
    ["timeout", "token-flaky"],
    ["pin-incorrect", "token-down"],
    ["pin-locked", "token-down"],
    ["token-missing", "token-down"],
    ["library-missing", "token-down"],
    ["misconfigured", "token-down"],
    ["login-conflict", "token-down"],
    ["busy", "elsewhere"],
    ["key-missing", "not-here"],
    ["invalid-request", "request"],
    ["refused", "request"],
    ["key-not-wrappable", "request"],
    ["mechanism-unsupported", "request"],
    ["kek-missing", "request"],
  ] as const)("%s → %s", (reason, expected) => {
    expect(classify({ reason, kind: HSM_REASONS[reason] })).toBe(expected);
  });

  it("covers every reason", () => {
    for (const reason of Object.keys(HSM_REASONS) as HsmErrorReason[]) {
      expect(["token-down", "token-flaky", "elsewhere", "not-here", "request"]).toContain(
        classify({ reason, kind: HSM_REASONS[reason] }),
      );
    }
  });
});

describe("the token health state machine", () => {
  it("degrades on transient faults and sets the token aside after failAfter in a row", () => {
    let h = fail(INITIAL_HEALTH, "device-failed", 0);
    expect(h).toMatchObject({ state: "degraded", consecutiveFailures: 1, retryAt: null });
    expect(h.lastError).toEqual(failure("device-failed", 0));
    h = fail(h, "timeout", 10);
    expect(h).toMatchObject({ state: "degraded", consecutiveFailures: 2 });
    expect(isSetAside(h, at(10))).toBe(false);
    h = fail(h, "session-lost", 20);
    expect(h).toMatchObject({ state: "failed", consecutiveFailures: 3, setAsideCount: 1 });
    expect(h.failedSince).toEqual(at(20));
    expect(h.retryAt).toEqual(at(1_020));
    expect(isSetAside(h, at(1_019))).toBe(true);
    expect(isDue(h, at(1_019))).toBe(false);
    expect(isDue(h, at(1_020))).toBe(true);
  });

  it("sets the token aside at once for a refused PIN or a missing token, and never tries it as a last resort", () => {
    for (const reason of ["pin-incorrect", "token-missing", "library-missing"] as const) {
      const h = fail(INITIAL_HEALTH, reason, 0);
      expect(h).toMatchObject({ state: "failed", consecutiveFailures: 1, retryAt: at(1_000) });
      expect(lastResort(h)).toBe(false);
    }
    expect(
      lastResort(
        fail(fail(fail(INITIAL_HEALTH, "device-failed", 0), "device-failed", 1), "device-failed", 2),
      ),
    ).toBe(true);
  });

  it("a success resets everything but keeps the last error for the status page", () => {
    const failed = fail(INITIAL_HEALTH, "pin-incorrect", 0);
    const h = afterSuccess(failed, at(1_500));
    expect(h).toEqual({
      state: "healthy",
      consecutiveFailures: 0,
      setAsideCount: 0,
      lastError: failure("pin-incorrect", 0),
      lastSuccessAt: at(1_500),
      failedSince: null,
      retryAt: null,
    });
    expect(isSetAside(h, at(1_500))).toBe(false);
  });

  it("doubles the back-off for each failed probe, up to the maximum", () => {
    let h = fail(INITIAL_HEALTH, "pin-incorrect", 0);
    const retries: number[] = [];
    for (let i = 0; i < 5; i++) {
      const probeAt = (h.retryAt?.getTime() ?? 0) - T0;
      h = fail(h, "pin-incorrect", probeAt);
      retries.push((h.retryAt?.getTime() ?? 0) - T0 - probeAt);
    }
    expect(retries).toEqual([2_000, 4_000, 5_000, 5_000, 5_000]);
    expect(h).toMatchObject({ state: "failed", setAsideCount: 6, failedSince: at(0) });
  });

  it("a failure while set aside (a last-resort attempt) records the error but does not push the probe back", () => {
    const h = fail(fail(fail(INITIAL_HEALTH, "device-failed", 0), "device-failed", 1), "device-failed", 2);
    const retryAt = h.retryAt;
    const again = fail(h, "timeout", 500);
    expect(again).toMatchObject({ state: "failed", consecutiveFailures: 4, setAsideCount: 1, retryAt });
    expect(again.lastError?.reason).toBe("timeout");
  });

  it("recovers from failed to healthy after a successful probe, and fails fresh afterwards", () => {
    const failed = fail(INITIAL_HEALTH, "token-missing", 0);
    const recovered = afterSuccess(failed, at(1_000));
    const next = fail(recovered, "device-failed", 2_000);
    expect(next).toMatchObject({ state: "degraded", consecutiveFailures: 1, setAsideCount: 0 });
  });
});
