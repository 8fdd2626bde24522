// The error a token set gives when no token could do what was asked: it names every token, what each
// answered (or why it was not asked), and carries the same facts as data for callers and tests.
// Pure: messages come from the tokens' own HsmErrors and never hold a PIN.
import "server-only";
import { HsmError, type HsmErrorKind, type HsmErrorReason } from "../pkcs11/errors";
import { classify, type TokenHealth } from "./token-health";
import type { TokenRole } from "./token-member";

export type TokenAttempt = {
  token: string;
  role: TokenRole;
  /**
   * failed: asked now, and it failed. no-key: asked, and it holds no key with the reference.
   * set-aside: not asked: it failed earlier and its back-off has not run out.
   */
  outcome: "failed" | "no-key" | "set-aside";
  reason: HsmErrorReason;
  kind: HsmErrorKind;
  message: string;
  /** For set-aside: when it will be probed again. */
  retryAt?: Date;
};

type Member = { label: string; role: TokenRole; health: TokenHealth };

export function attemptOf(member: Member, error: HsmError): TokenAttempt {
  return {
    token: member.label,
    role: member.role,
    outcome: classify(error) === "not-here" ? "no-key" : "failed",
    reason: error.reason,
    kind: error.kind,
    message: error.message,
  };
}

export function setAsideAttempt(member: Member): TokenAttempt {
  const { lastError, retryAt } = member.health;
  return {
    token: member.label,
    role: member.role,
    outcome: "set-aside",
    reason: lastError?.reason ?? "device-failed",
    kind: lastError?.kind ?? "device",
    message: lastError?.message ?? "it failed earlier",
    retryAt: retryAt ?? undefined,
  };
}

export class TokenSetError extends HsmError {
  override name = "TokenSetError";
  constructor(
    reason: HsmErrorReason,
    message: string,
    readonly attempts: readonly TokenAttempt[],
    operation: string,
  ) {
    super(reason, message, { operation });
  }
}

/** One token's part of the story, in a sentence that names it and its role. */
function account(a: TokenAttempt): string {
  const who = `'${a.token}' (${a.role})`;
  switch (a.outcome) {
    case "no-key":
      return `${who} has no key with this reference.`;
    case "set-aside":
      return `${who} is set aside until ${a.retryAt?.toISOString() ?? "its next probe"} after: ${a.message}`;
    case "failed":
      return `${who}: ${a.message}`;
  }
}

/**
 * The reason a caller switches on: the first token fault (so "every token is down" reads as the HSM being
 * unavailable, HSM_UNAVAILABLE), or "key-missing" when every token answered that it has no such key.
 */
function overallReason(attempts: readonly TokenAttempt[]): HsmErrorReason {
  return attempts.find((a) => a.outcome !== "no-key")?.reason ?? "key-missing";
}

/** Signing failed on every token that could have served. */
export function signFailure(ref: string, attempts: readonly TokenAttempt[]): TokenSetError {
  const noKey = attempts.filter((a) => a.outcome === "no-key").map((a) => `'${a.token}'`);
  let message: string;
  if (noKey.length === attempts.length) {
    message = `No HSM token holds key ${ref}: ${noKey.join(", ")} each answered that it has no such key (destroyed, or never created or cloned there).`;
  } else {
    message = `No HSM token could sign with key ${ref}. ${attempts.map(account).join(" ")}`;
    if (noKey.length > 0) {
      message += ` Key ${ref} has no clone on ${noKey.join(", ")}: "never" keys, and Ed25519 keys on SoftHSM 2.6.1 (which cannot wrap them), live only on the token that made them, so signing with them cannot fail over.`;
    }
  }
  return new TokenSetError(overallReason(attempts), message, attempts, "sign");
}

/** Creating a key needs the primary, which is failing or set aside. */
export function primaryUnavailable(attempt: TokenAttempt, operation: string): TokenSetError {
  return new TokenSetError(
    attempt.reason,
    `New keys are made on the primary HSM token, and it cannot serve now. ${account(attempt)} Retry when it is back, or configure another token as the primary.`,
    [attempt],
    operation,
  );
}

/** Some tokens that may hold the key could not be asked to destroy it. */
export function destroyIncomplete(
  ref: string,
  destroyed: readonly string[],
  attempts: readonly TokenAttempt[],
) {
  const done =
    destroyed.length > 0 ? `It was destroyed on ${destroyed.map((t) => `'${t}'`).join(", ")}. ` : "";
  return new TokenSetError(
    overallReason(attempts),
    `Key ${ref} may still exist on ${attempts.map((a) => `'${a.token}'`).join(", ")}. ${done}${attempts.map(account).join(" ")} Run the destruction again when they are back: it is idempotent.`,
    attempts,
    "destroyKey",
  );
}
