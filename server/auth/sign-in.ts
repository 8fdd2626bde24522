// Username-less sign-in with a hardware token: the browser asks for options, the token signs the challenge
// with user verification, and the server verifies signature, origin, user verification and counter.
import "server-only";
import { generateAuthenticationOptions, verifyAuthenticationResponse } from "@simplewebauthn/server";
import type { PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { and, eq } from "drizzle-orm";
import type { Db } from "@/db/client";
import { tokens, members } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { AppError } from "@/server/errors";
import { challengeFromClientData, consumeChallenge, storeChallenge } from "./challenges";
import type { WebAuthnConfig } from "./config";
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

/** Why a sign-in was refused; the browser maps each reason to words. */
export const SIGN_IN_FAILURES = [
  "challenge_invalid",
  "unknown_token",
  "token_revoked",
  "member_suspended",
  "verification_failed",
  "user_verification_missing",
  "counter_regressed",
] as const;
export type SignInFailure = (typeof SIGN_IN_FAILURES)[number];

export class SignInError extends AppError {
  constructor(
    readonly reason: SignInFailure,
    message: string,
  ) {
    super(reason === "challenge_invalid" ? "EXPIRED" : "UNAUTHENTICATED", message);
  }
}

type Verified = { memberId: string; credentialId: string; storedCounter: number; newCounter: number };

async function verifyAssertion(db: Db, config: WebAuthnConfig, response: AuthenticationResponse, now: Date) {
  const challenge = challengeFromClientData(response.response.clientDataJSON);
  // The challenge is consumed in its own statement: even a failed attempt cannot reuse it.
  try {
    await consumeChallenge(db, "sign-in", challenge, now);
  } catch {
    throw new SignInError("challenge_invalid", "This sign-in request was already used or has expired. Tap your key again.");
  }
  const [row] = await db
    .select({ credential: tokens, status: members.status, userHandle: members.userHandle })
    .from(tokens)
    .innerJoin(members, eq(members.id, tokens.memberId))
    .where(eq(tokens.id, response.id));
  if (!row) throw new SignInError("unknown_token", "This token is not registered with Keyward.");
  const { credential } = row;
  // WebAuthn §7.2 step 6: the user handle the token returns must be its owner's.
  const claimedHandle = response.response.userHandle;
  if (claimedHandle !== undefined && claimedHandle !== row.userHandle) {
    throw new SignInError("verification_failed", "The token's response names another person. Sign-in refused.");
  }
  if (credential.revokedAt) throw new SignInError("token_revoked", "This token has been revoked. Use another token.");
  if (row.status !== "active") {
    throw new SignInError("member_suspended", "Your membership is suspended. Ask an admin to reactivate it.");
  }
  let result: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
  try {
    result = await verifyAuthenticationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: config.origin,
      expectedRPID: config.rpId,
      // The counter is compared below, after the signature is known good, so a regression is recorded.
      credential: {
        id: credential.id,
        publicKey: Buffer.from(credential.publicKey, "base64url"),
        counter: 0,
        transports: [],
      },
      requireUserVerification: false,
    });
  } catch {
    throw new SignInError("verification_failed", "The token's signature could not be verified.");
  }
  if (!result.verified) throw new SignInError("verification_failed", "The token's signature could not be verified.");
  if (!result.authenticationInfo.userVerified) {
    throw new SignInError(
      "user_verification_missing",
      "Your token did not verify you (PIN or fingerprint). Keyward requires user verification.",
    );
  }
  const received = result.authenticationInfo.newCounter;
  if ((received > 0 || credential.counter > 0) && received <= credential.counter) {
    await db.transaction((tx) =>
      appendAudit(tx, {
        action: "auth.counter_regressed",
        actor: `member:${credential.memberId}`,
        subject: `token:${credential.id}`,
        at: now,
        data: { credentialId: credential.id, storedCounter: credential.counter, receivedCounter: received },
      }),
    );
    throw new SignInError(
      "counter_regressed",
      "This token's signature counter went backwards, which suggests a cloned token. Sign-in refused and recorded; contact security.",
    );
  }
  return {
    memberId: credential.memberId,
    credentialId: credential.id,
    storedCounter: credential.counter,
    newCounter: received,
  } satisfies Verified;
}

export async function completeSignIn(
  db: Db,
  config: WebAuthnConfig,
  input: { response: AuthenticationResponse; now: Date; policy: SessionPolicy },
): Promise<{ sessionId: string; memberId: string }> {
  try {
    const verified = await verifyAssertion(db, config, input.response, input.now);
    return await startSession(db, verified, input);
  } catch (e) {
    const reason = e instanceof SignInError ? e.reason : "verification_failed";
    await db.transaction((tx) =>
      appendAudit(tx, {
        action: "auth.sign_in_failed",
        actor: "anonymous",
        subject: `token:${input.response.id}`,
        at: input.now,
        data: { reason, credentialId: input.response.id },
      }),
    );
    throw e;
  }
}

function startSession(db: Db, verified: Verified, input: { now: Date; policy: SessionPolicy }) {
  return db.transaction(async (tx) => {
    // Conditional on the counter we verified against, so two racing assertions cannot both win.
    const updated = await tx
      .update(tokens)
      .set({ counter: verified.newCounter, lastUsedAt: input.now })
      .where(and(eq(tokens.id, verified.credentialId), eq(tokens.counter, verified.storedCounter)))
      .returning({ id: tokens.id });
    if (updated.length === 0) {
      throw new SignInError("counter_regressed", "This token was used twice at once. Tap your key again.");
    }
    const sessionId = await createSession(tx, {
      memberId: verified.memberId,
      tokenId: verified.credentialId,
      now: input.now,
      policy: input.policy,
    });
    await appendAudit(tx, {
      action: "auth.signed_in",
      actor: `member:${verified.memberId}`,
      subject: `session:${sessionId}`,
      at: input.now,
      data: { sessionId, credentialId: verified.credentialId },
    });
    return { sessionId, memberId: verified.memberId };
  });
}
