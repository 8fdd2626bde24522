// Adding a token in integration tests through the real three steps: a step-up tap by one of the member's
// current tokens, the registration options it unlocks, and the new token's registration.
import type { PublicKeyCredentialCreationOptionsJSON } from "@simplewebauthn/server";
import type { Db } from "@/db/client";
import type { WebAuthnConfig } from "@/server/auth/config";
import { approveAddToken, beginAddToken, completeAddToken } from "@/server/members/tokens";
import type { SoftAuthenticator } from "./soft-authenticator";

/** Steps 1 and 2: `approver` (a current token of the member) taps the step-up; returns the registration options. */
export async function approvedAddition(
  db: Db,
  config: WebAuthnConfig,
  input: { memberId: string; approver: SoftAuthenticator; now: Date },
): Promise<{ additionId: string; registration: PublicKeyCredentialCreationOptionsJSON }> {
  const { additionId, options } = await beginAddToken(db, config, {
    memberId: input.memberId,
    now: input.now,
  });
  const registration = await approveAddToken(db, config, {
    memberId: input.memberId,
    additionId,
    response: input.approver.authenticate(options),
    now: input.now,
  });
  return { additionId, registration };
}

/** All three steps: `approver` confirms, then `token` is registered as `nickname`. */
export async function addToken(
  db: Db,
  config: WebAuthnConfig,
  input: {
    memberId: string;
    approver: SoftAuthenticator;
    token: SoftAuthenticator;
    nickname: string;
    now: Date;
  },
) {
  const { additionId, registration } = await approvedAddition(db, config, input);
  return completeAddToken(db, config, {
    memberId: input.memberId,
    additionId,
    nickname: input.nickname,
    response: input.token.register(registration),
    now: input.now,
  });
}
