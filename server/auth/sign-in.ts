// Username-less sign-in with a hardware token: the browser asks for options, the token signs the challenge
// with user verification, and the server verifies it (assertion.ts: signature first, then token and member
// state, then the counter) and opens a session in the same transaction as the counter update.
import "server-only";
import { generateAuthenticationOptions } from "@simplewebauthn/server";
import type { PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import type { Db } from "@/db/client";
import { appendAudit } from "@/server/audit/append";
import { AppError } from "@/server/errors";
import { AssertionRefusedError, verifyTokenAssertion } from "./assertion";
import { challengeFromClientData, consumeChallenge, storeChallenge } from "./challenges";
import type { WebAuthnConfig } from "./config";
import { recordSignInFailure, summariseSignInFailures } from "./failure-events";
import { SIGN_IN_MESSAGES, type SignInFailure } from "./refusals";
import type { AuthenticationResponse } from "./schemas";
import { createSession, type SessionPolicy } from "./sessions";

export async function beginSignIn(
  db: Db,
  config: WebAuthnConfig,
  now: Date,
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const options = await generateAuthenticationOptions({
    rpID: config.rpId,
    userVerification: "required",
    timeout: config.challengeTtlMs,
  });
  await storeChallenge(db, {
    purpose: "sign-in",
    challenge: options.challenge,
    expiresAt: new Date(now.getTime() + config.challengeTtlMs),
  });
  return options;
}

export type { SignInFailure } from "./refusals";

export class SignInError extends AppError {
  constructor(readonly reason: SignInFailure) {
    super(reason === "challenge_invalid" ? "EXPIRED" : "UNAUTHENTICATED", SIGN_IN_MESSAGES[reason]);
  }
}

export async function completeSignIn(
  db: Db,
  config: WebAuthnConfig,
  input: { response: AuthenticationResponse; now: Date; policy: SessionPolicy },
): Promise<{ sessionId: string; memberId: string }> {
  const { response, now } = input;
  try {
    const challenge = challengeFromClientData(response.response.clientDataJSON);
    // The challenge is consumed in its own statement: even a failed attempt cannot reuse it.
    try {
      await consumeChallenge(db, "sign-in", challenge, now);
    } catch {
      throw new SignInError("challenge_invalid");
    }
    const signedIn = await db.transaction(async (tx) => {
      const verified = await verifyTokenAssertion(tx, {
        response,
        expectedChallenge: challenge,
        now,
        config,
      });
      const sessionId = await createSession(tx, {
        memberId: verified.memberId,
        tokenId: verified.tokenId,
        now,
        policy: input.policy,
      });
      await appendAudit(tx, {
        action: "auth.signed_in",
        actor: `member:${verified.memberId}`,
        subject: `session:${sessionId}`,
        at: now,
        data: { sessionId, credentialId: verified.tokenId },
      });
      return { sessionId, memberId: verified.memberId };
    });
    // Failures counted in closed minutes reach the trail now, even if no failure comes after them (cheap when
    // there are none: one read of a table holding only the current minute). A problem here must not undo the sign-in.
    await summariseSignInFailures(db, now).catch((e: unknown) =>
      console.error("[auth] summarising failures", e),
    );
    return signedIn;
  } catch (e) {
    const reason = failureReason(e);
    if (e instanceof AssertionRefusedError && e.evidence) {
      const { evidence } = e;
      await db.transaction((tx) => appendAudit(tx, evidence));
    }
    await recordSignInFailure(db, { credentialId: response.id, reason, now });
    throw e instanceof AssertionRefusedError ? new SignInError(reason) : e;
  }
}

function failureReason(e: unknown): SignInFailure {
  if (e instanceof SignInError) return e.reason;
  if (e instanceof AppError && e.code === "BAD_INPUT") return "bad_input";
  // Sign-in names no expected member, so "wrong_member" cannot arise; anything unexpected counts as unverified.
  if (e instanceof AssertionRefusedError && e.reason !== "wrong_member") return e.reason;
  return "verification_failed";
}
