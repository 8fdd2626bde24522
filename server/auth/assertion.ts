// Verifies a WebAuthn assertion made by one of a member's tokens: the one check sign-in, step-up (adding a
// token) and votes share. The caller owns the challenge (consumed before calling) and the transaction.
//
// Order matters: nothing about the token or its member (revoked, suspended, whose it is) is revealed until the
// signature over this challenge is known good. An attacker who knows a credential id but not its key gets the
// same answer for a live, revoked, suspended or unknown token: "verification_failed".
import "server-only";
import { verifyAuthenticationResponse } from "@simplewebauthn/server";
import { and, eq } from "drizzle-orm";
import type { Tx } from "@/db/client";
import { members, tokens } from "@/db/schema";
import type { AppendInput } from "@/server/audit/append";
import { AppError } from "@/server/errors";
import type { WebAuthnConfig } from "./config";
import { ASSERTION_MESSAGES, type AssertionRefusal } from "./refusals";
import type { AuthenticationResponse } from "./schemas";

export class AssertionRefusedError extends AppError {
  constructor(
    readonly reason: AssertionRefusal,
    /**
     * An audit event the caller must append in a transaction of its own (the caller's transaction rolls back
     * with the refusal): today only `auth.counter_regressed`, the mark of a cloned token.
     */
    readonly evidence: AppendInput | null = null,
  ) {
    super(reason === "wrong_member" ? "FORBIDDEN" : "UNAUTHENTICATED", ASSERTION_MESSAGES[reason]);
  }
}

export type VerifiedAssertion = { memberId: string; tokenId: string; counter: number };

export async function verifyTokenAssertion(
  tx: Tx,
  input: {
    response: AuthenticationResponse;
    /** The challenge the caller issued and has consumed (base64url). */
    expectedChallenge: string;
    /** When set, the token must belong to this member (step-up, votes). */
    expectedMemberId?: string;
    now: Date;
    config: WebAuthnConfig;
  },
): Promise<VerifiedAssertion> {
  const { response, config } = input;
  const [row] = await tx
    .select({ token: tokens, status: members.status, userHandle: members.userHandle })
    .from(tokens)
    .innerJoin(members, eq(members.id, tokens.memberId))
    .where(eq(tokens.id, response.id));
  // No key, no verification: an unknown token gets the answer a bad signature gets.
  if (!row) throw new AssertionRefusedError("verification_failed");
  const { token } = row;

  let result: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
  try {
    result = await verifyAuthenticationResponse({
      response,
      expectedChallenge: input.expectedChallenge,
      expectedOrigin: config.origin,
      expectedRPID: config.rpId,
      // The counter is compared below, after the signature is known good, so a regression is recorded.
      credential: {
        id: token.id,
        publicKey: Buffer.from(token.publicKey, "base64url"),
        counter: 0,
        transports: [],
      },
      // Checked below so the refusal names its reason; the signature is verified either way.
      requireUserVerification: false,
    });
  } catch {
    throw new AssertionRefusedError("verification_failed");
  }
  if (!result.verified) throw new AssertionRefusedError("verification_failed");

  // WebAuthn §7.2 step 6: the user handle the token returns must be its owner's.
  const claimedHandle = response.response.userHandle;
  if (claimedHandle !== undefined && claimedHandle !== row.userHandle) {
    throw new AssertionRefusedError("verification_failed");
  }
  if (!result.authenticationInfo.userVerified) throw new AssertionRefusedError("user_verification_missing");
  // From here on the holder of the token's key is talking to us: they may learn its state.
  if (token.revokedAt) throw new AssertionRefusedError("token_revoked");
  if (row.status !== "active") throw new AssertionRefusedError("member_suspended");
  if (input.expectedMemberId !== undefined && token.memberId !== input.expectedMemberId) {
    throw new AssertionRefusedError("wrong_member");
  }

  const received = result.authenticationInfo.newCounter;
  if ((received > 0 || token.counter > 0) && received <= token.counter) {
    throw new AssertionRefusedError("counter_regressed", {
      action: "auth.counter_regressed",
      actor: `member:${token.memberId}`,
      subject: `token:${token.id}`,
      at: input.now,
      data: { credentialId: token.id, storedCounter: token.counter, receivedCounter: received },
    });
  }
  // Conditional on the counter we verified against, so two racing assertions cannot both win.
  const updated = await tx
    .update(tokens)
    .set({ counter: received, lastUsedAt: input.now })
    .where(and(eq(tokens.id, token.id), eq(tokens.counter, token.counter)))
    .returning({ id: tokens.id });
  if (updated.length === 0) throw new AssertionRefusedError("counter_regressed");
  return { memberId: token.memberId, tokenId: token.id, counter: received };
}
