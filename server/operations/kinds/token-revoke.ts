// token.revoke: revoking another member's hardware token once Keyward is live (a token is a way to vote: taking
// it away can leave a rule unreachable). Your own token stays yours to revoke directly (tokens.revoke). The
// proposer names the member and the token; the proposing transaction reads the member's name and the token's
// nickname into the payload. Refused before anyone votes for a token already revoked, the last admin's last
// token, or when it would leave a reachable rule unreachable; checked again when executed. Executed: the token is
// revoked and the sessions signed in with it end, with token.revoked (naming the operation); already revoked
// counts as done.
import { z } from "zod";
import { CREDENTIAL_ID_MAX } from "@/server/auth/schemas";
import { executeMembershipChange } from "./member-context";
import { payloadNameSchema } from "./member-words";
import type { OperationKind } from "./types";

export const TOKEN_REVOKE_KIND = "token.revoke";

const credentialIdSchema = z
  .string()
  .min(1)
  .max(CREDENTIAL_ID_MAX)
  .regex(/^[A-Za-z0-9_-]+$/, "a credential id is base64url");

export const tokenRevokeInputSchema = z
  .object({ memberId: z.string().uuid(), credentialId: credentialIdSchema })
  .strict();
export type TokenRevokeInput = z.infer<typeof tokenRevokeInputSchema>;

export const tokenRevokePayloadSchema = z
  .object({
    memberId: z.string().uuid(),
    name: payloadNameSchema,
    credentialId: credentialIdSchema,
    nickname: z.string().min(1).max(60),
  })
  .strict();
export type TokenRevokePayload = z.infer<typeof tokenRevokePayloadSchema>;

export const tokenRevoke: OperationKind<TokenRevokePayload, TokenRevokeInput> = {
  kind: TOKEN_REVOKE_KIND,
  proposers: ["admin"],
  payload: tokenRevokePayloadSchema,
  propose: {
    input: tokenRevokeInputSchema,
    async prepare(input, read) {
      const member = await read.members.member(input.memberId);
      const token = await read.members.token(member.id, input.credentialId);
      await read.members.check({ change: "revoke-token", memberId: member.id, credentialId: token.id });
      return { memberId: member.id, name: member.name, credentialId: token.id, nickname: token.nickname };
    },
  },
  describe(p) {
    return {
      title: `Revoke ${p.name}'s token “${p.nickname}”`,
      lines: [
        { label: "Member", value: `${p.name} (${p.memberId})` },
        { label: "Token", value: `${p.nickname} (${p.credentialId.slice(0, 16)}…)` },
        {
          label: "Effect",
          value: "the token can no longer sign in or vote, and the sessions signed in with it end",
        },
      ],
    };
  },
  facts() {
    return { keyTags: [] };
  },
  execute: (ctx, op) =>
    executeMembershipChange(
      ctx,
      op,
      { change: "revoke-token", memberId: op.payload.memberId, credentialId: op.payload.credentialId },
      { memberId: op.payload.memberId, credentialId: op.payload.credentialId },
    ),
};
