// The one fresh tap behind every immediate restriction (restricting is immediate, loosening needs the quorum):
// suspending a key (restrict.ts), freezing all signing (freeze.ts), cancelling a scheduled destruction
// (key-destruction.ts). issueRestrictionTap offers the member's live tokens a challenge of purpose "restrict"
// (five minutes, single use) bound to one subject — the action, its target and the member; confirmRestrictionTap,
// inside the transaction that restricts, consumes that challenge, checks it names the expected subject, re-reads
// the member (a member suspended or demoted since the tap was issued restricts nothing) and verifies that the
// member's own token signed it (verifyTokenAssertion). Each caller maps the refusals to its own error class, so
// its messages stay its own; withRestrictionRefusal records every refusal the same way (restriction.refused).
import "server-only";
import type { PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { generateAuthenticationOptions } from "@simplewebauthn/server";
import { and, eq, isNull } from "drizzle-orm";
import type { Db, Tx } from "@/db/client";
import { tokens } from "@/db/schema";
import { AssertionRefusedError, verifyTokenAssertion } from "@/server/auth/assertion";
import { challengeFromClientData, consumeChallenge, storeChallenge } from "@/server/auth/challenges";
import type { WebAuthnConfig } from "@/server/auth/config";
import type { AssertionRefusal } from "@/server/auth/refusals";
import type { AuthenticationResponse } from "@/server/auth/schemas";
import { type TapResponse, withTapRefusal } from "@/server/auth/tap-refusal";

export const RESTRICT_PURPOSE = "restrict";

/** Why a restriction tap is refused before the restriction itself is looked at. */
export type RestrictionTapRefusal = AssertionRefusal | "challenge_invalid" | "wrong_binding";

/** Builds the caller's own error for a refusal (with the assertion's evidence when there is some). */
export type Refuse = (reason: RestrictionTapRefusal, evidence?: AssertionRefusedError["evidence"]) => Error;

/** The tap's options for the member's live tokens, its challenge stored under `subject`; none live: refused. */
export async function issueRestrictionTap(
  db: Db,
  config: WebAuthnConfig,
  input: { memberId: string; subject: string; now: Date; refuse: Refuse },
): Promise<{ options: PublicKeyCredentialRequestOptionsJSON }> {
  const live = await db
    .select({ id: tokens.id })
    .from(tokens)
    .where(and(eq(tokens.memberId, input.memberId), isNull(tokens.revokedAt)));
  if (live.length === 0) throw input.refuse("token_revoked");
  const options = await generateAuthenticationOptions({
    rpID: config.rpId,
    userVerification: "required",
    allowCredentials: live.map((t) => ({ id: t.id })),
    timeout: config.challengeTtlMs,
  });
  await storeChallenge(db, {
    purpose: RESTRICT_PURPOSE,
    challenge: options.challenge,
    subject: input.subject,
    expiresAt: new Date(input.now.getTime() + config.challengeTtlMs),
  });
  return { options };
}

/**
 * Consumes and verifies the tap in `tx`: the challenge once, for `subject` only; `recheck` re-reads the member
 * (and throws the caller's refusal); then the member's own live token must have signed it with user
 * verification and a counter that moved forward. Returns the token that signed.
 */
export async function confirmRestrictionTap(
  tx: Tx,
  config: WebAuthnConfig,
  input: {
    memberId: string;
    subject: string;
    response: AuthenticationResponse;
    now: Date;
    refuse: Refuse;
    recheck: () => Promise<unknown>;
  },
): Promise<{ tokenId: string }> {
  const challenge = challengeFromClientData(input.response.response.clientDataJSON);
  let subject: string | null;
  try {
    ({ subject } = await consumeChallenge(tx, RESTRICT_PURPOSE, challenge, input.now));
  } catch {
    throw input.refuse("challenge_invalid");
  }
  if (subject !== input.subject) throw input.refuse("wrong_binding");
  await input.recheck();
  try {
    const { tokenId } = await verifyTokenAssertion(tx, {
      response: input.response,
      expectedChallenge: challenge,
      expectedMemberId: input.memberId,
      now: input.now,
      config,
    });
    return { tokenId };
  } catch (e) {
    if (e instanceof AssertionRefusedError) throw input.refuse(e.reason, e.evidence);
    throw e;
  }
}

/**
 * Runs a restriction step; a refusal (an `of` error) burns the challenge its response answered and is recorded as
 * restriction.refused (who, the action, its target, the reason, the tap's token) on `subject` in a transaction of
 * its own (the step rolled back), then rethrown.
 */
export function withRestrictionRefusal<
  T,
  E extends Error & { reason: string; evidence: AssertionRefusedError["evidence"] },
>(
  db: Db,
  meta: {
    of: new (...args: never[]) => E;
    memberId: string;
    action: string;
    target: string;
    subject: string;
    response: TapResponse | null;
    now: Date;
  },
  run: () => Promise<T>,
): Promise<T> {
  return withTapRefusal(
    db,
    {
      of: meta.of,
      response: meta.response,
      now: meta.now,
      record: (e, credentialId) => ({
        action: "restriction.refused",
        actor: `member:${meta.memberId}`,
        subject: meta.subject,
        at: meta.now,
        data: {
          memberId: meta.memberId,
          action: meta.action,
          target: meta.target,
          reason: e.reason,
          credentialId,
        },
      }),
    },
    run,
  );
}
