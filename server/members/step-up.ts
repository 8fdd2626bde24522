// The step-up before adding a token: a fresh assertion, with user verification, by one of the member's own
// live tokens, over a challenge of its own that names this member and this one addition and is used once.
// Whoever holds only a stolen session cookie cannot pass it; registration options are never issued without it.
import "server-only";
import { randomUUID } from "node:crypto";
import { generateAuthenticationOptions } from "@simplewebauthn/server";
import type { PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { and, eq, isNull } from "drizzle-orm";
import type { Db, Tx } from "@/db/client";
import { auditEvents, members, tokens } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { type TapResponse, withTapRefusal } from "@/server/auth/tap-refusal";
import { auditEventSchema } from "@/server/audit/events";
import { AssertionRefusedError, verifyTokenAssertion } from "@/server/auth/assertion";
import { challengeFromClientData, consumeChallenge, storeChallenge } from "@/server/auth/challenges";
import type { WebAuthnConfig } from "@/server/auth/config";
import { ASSERTION_MESSAGES, type AssertionRefusal } from "@/server/auth/refusals";
import type { AuthenticationResponse } from "@/server/auth/schemas";
import { AppError } from "@/server/errors";

const STEP_UP_PURPOSE = "add-token-step-up";

/** Why a step-up, or a registration claiming one, was refused; recorded as `token.step_up_refused`. */
export type StepUpRefusal =
  | AssertionRefusal
  | "challenge_invalid"
  | "wrong_addition"
  | "step_up_missing"
  | "approving_token_revoked";

const STEP_UP_MESSAGES: Record<StepUpRefusal, string> = {
  ...ASSERTION_MESSAGES,
  wrong_member: "That token belongs to someone else. Confirm with one of your own current tokens.",
  challenge_invalid:
    "This confirmation was already used or has expired. Start again with “Add a token” and tap one of your current tokens once.",
  wrong_addition: "This confirmation belongs to another token addition. Start again with “Add a token”.",
  step_up_missing:
    "Adding a token needs a confirmation by one of your current tokens first. Start again with “Add a token”.",
  approving_token_revoked:
    "The token that confirmed this addition has been revoked since. Start again and confirm with a live token.",
};

export class StepUpRefusedError extends AppError {
  constructor(
    readonly reason: StepUpRefusal,
    /** What to append in its own transaction besides the refusal (a regressed counter's evidence). */
    readonly evidence: AssertionRefusedError["evidence"] = null,
  ) {
    super(reason === "challenge_invalid" ? "EXPIRED" : "FORBIDDEN", STEP_UP_MESSAGES[reason]);
  }
}

/** The challenge subject binding a step-up and its registration to one member and one addition. */
export function additionSubject(memberId: string, additionId: string): string {
  return `member:${memberId}:addition:${additionId}`;
}

/** Issues the step-up challenge for a new addition; only the member's live tokens may answer it. */
export async function beginStepUp(
  db: Db,
  config: WebAuthnConfig,
  input: { memberId: string; now: Date },
): Promise<{ additionId: string; options: PublicKeyCredentialRequestOptionsJSON }> {
  const [member] = await db
    .select({ status: members.status })
    .from(members)
    .where(eq(members.id, input.memberId));
  if (member?.status !== "active") throw new AppError("NOT_FOUND", "No such member.");
  const live = await db
    .select({ id: tokens.id, transports: tokens.transports })
    .from(tokens)
    .where(and(eq(tokens.memberId, input.memberId), isNull(tokens.revokedAt)));
  if (live.length === 0) {
    throw new AppError(
      "CONFLICT",
      "You have no live token to confirm with. Ask an admin to invite you again.",
    );
  }
  const additionId = randomUUID();
  const options = await generateAuthenticationOptions({
    rpID: config.rpId,
    userVerification: "required",
    allowCredentials: live.map((t) => ({ id: t.id, transports: authenticatorTransports(t.transports) })),
    timeout: config.challengeTtlMs,
  });
  await storeChallenge(db, {
    purpose: STEP_UP_PURPOSE,
    challenge: options.challenge,
    subject: additionSubject(input.memberId, additionId),
    expiresAt: new Date(input.now.getTime() + config.challengeTtlMs),
  });
  return { additionId, options };
}

/**
 * Consumes the step-up challenge and verifies the assertion for this member and addition, then records the
 * approval (`token.step_up_approved`), all in the caller's transaction. Returns the approving token's id.
 */
export async function approveStepUp(
  tx: Tx,
  config: WebAuthnConfig,
  input: { memberId: string; additionId: string; response: AuthenticationResponse; now: Date },
): Promise<string> {
  const challenge = challengeFromClientData(input.response.response.clientDataJSON);
  let subject: string | null;
  try {
    ({ subject } = await consumeChallenge(tx, STEP_UP_PURPOSE, challenge, input.now));
  } catch {
    throw new StepUpRefusedError("challenge_invalid");
  }
  // Another person's step-up, or one made for another addition, approves nothing here.
  if (subject !== additionSubject(input.memberId, input.additionId))
    throw new StepUpRefusedError("wrong_addition");
  let tokenId: string;
  try {
    ({ tokenId } = await verifyTokenAssertion(tx, {
      response: input.response,
      expectedChallenge: challenge,
      expectedMemberId: input.memberId,
      now: input.now,
      config,
    }));
  } catch (e) {
    if (e instanceof AssertionRefusedError) throw new StepUpRefusedError(e.reason, e.evidence);
    throw e;
  }
  await appendAudit(tx, {
    action: "token.step_up_approved",
    actor: `member:${input.memberId}`,
    subject: `token-addition:${input.additionId}`,
    at: input.now,
    data: { memberId: input.memberId, additionId: input.additionId, credentialId: tokenId },
  });
  return tokenId;
}

/**
 * The approval a registration claims, read from the audit trail (append-only, hash-chained): it must exist, be
 * this member's, and its approving token must still be live. The token row is share-locked so a revocation
 * racing this addition waits for it (and then revokes a token whose addition is on record).
 */
export async function requireStepUpApproval(
  tx: Tx,
  input: { memberId: string; additionId: string },
): Promise<{ approvedBy: string; nickname: string }> {
  const rows = await tx
    .select({ action: auditEvents.action, data: auditEvents.data })
    .from(auditEvents)
    .where(
      and(
        eq(auditEvents.action, "token.step_up_approved"),
        eq(auditEvents.subject, `token-addition:${input.additionId}`),
      ),
    );
  const approvals = rows.flatMap((row) => {
    const event = auditEventSchema.parse(row);
    return event.action === "token.step_up_approved" ? [event.data] : [];
  });
  const [approval] = approvals;
  if (!approval) throw new StepUpRefusedError("step_up_missing");
  if (approval.memberId !== input.memberId) throw new StepUpRefusedError("wrong_addition");
  const [approver] = await tx
    .select({ memberId: tokens.memberId, nickname: tokens.nickname, revokedAt: tokens.revokedAt })
    .from(tokens)
    .where(eq(tokens.id, approval.credentialId))
    .for("share");
  if (!approver || approver.memberId !== input.memberId || approver.revokedAt) {
    throw new StepUpRefusedError("approving_token_revoked");
  }
  return { approvedBy: approval.credentialId, nickname: approver.nickname };
}

/**
 * Runs a step of an addition (`run` owns its transaction); when a step-up is refused, the challenge the
 * response answered is burned and the refusal recorded in a transaction of its own (the step rolled back),
 * and the error is rethrown for the person to read.
 */
export function withStepUpRefusalAudit<T>(
  db: Db,
  meta: { memberId: string; additionId: string | null; response: TapResponse; now: Date },
  run: () => Promise<T>,
): Promise<T> {
  return withTapRefusal(
    db,
    {
      of: StepUpRefusedError,
      response: meta.response,
      now: meta.now,
      record: (e, credentialId) => ({
        action: "token.step_up_refused",
        actor: `member:${meta.memberId}`,
        subject: `member:${meta.memberId}`,
        at: meta.now,
        data: { memberId: meta.memberId, additionId: meta.additionId, reason: e.reason, credentialId },
      }),
    },
    run,
  );
}

/** The challenge a response answered, or "" when unreadable (burning "" touches nothing). */

const TRANSPORTS = ["ble", "cable", "hybrid", "internal", "nfc", "smart-card", "usb"] as const;
type Transport = (typeof TRANSPORTS)[number];

/** Stored transports as WebAuthn names them; anything else is dropped (they are only a hint to the browser). */
function authenticatorTransports(stored: readonly string[]): Transport[] {
  return stored.filter((t): t is Transport => (TRANSPORTS as readonly string[]).includes(t));
}
