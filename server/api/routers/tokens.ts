// Hardware tokens: your own (list, add, revoke) and, for admins and auditors, anyone's list. Adding one takes
// three calls: beginAdd (step-up challenge), approveAdd (a tap of a current token), completeAdd (the new token).
import "server-only";
import { z } from "zod";
import { webauthnConfig } from "@/server/auth/config";
import {
  authenticationResponseSchema,
  registrationResponseSchema,
  tokenNicknameSchema,
} from "@/server/auth/schemas";
import {
  approveAddToken,
  beginAddToken,
  completeAddToken,
  listTokens,
  revokeToken,
} from "@/server/members/tokens";
import { createTRPCRouter, memberProcedure, withRole } from "../trpc";

export const tokensRouter = createTRPCRouter({
  mine: memberProcedure.query(async ({ ctx }) => {
    const tokens = await listTokens(ctx.db, ctx.member.id);
    return tokens.map((t) => ({ ...t, current: t.id === ctx.session.tokenId }));
  }),

  ofMember: withRole("admin", "auditor")
    .input(z.object({ memberId: z.string().uuid() }))
    .query(({ ctx, input }) => listTokens(ctx.db, input.memberId)),

  beginAdd: memberProcedure.mutation(({ ctx }) =>
    beginAddToken(ctx.db, webauthnConfig(), { memberId: ctx.member.id, now: ctx.clock() }),
  ),

  approveAdd: memberProcedure
    .input(z.object({ additionId: z.string().uuid(), response: authenticationResponseSchema }))
    .mutation(({ ctx, input }) =>
      approveAddToken(ctx.db, webauthnConfig(), { memberId: ctx.member.id, ...input, now: ctx.clock() }),
    ),

  completeAdd: memberProcedure
    .input(
      z.object({
        additionId: z.string().uuid(),
        nickname: tokenNicknameSchema,
        response: registrationResponseSchema,
      }),
    )
    .mutation(({ ctx, input }) =>
      completeAddToken(ctx.db, webauthnConfig(), { memberId: ctx.member.id, ...input, now: ctx.clock() }),
    ),

  /** Own tokens for anyone; another person's, or a last token, only for admins (checked in revokeToken). */
  revoke: memberProcedure
    .input(z.object({ credentialId: z.string().min(1).max(1024) }))
    .mutation(({ ctx, input }) =>
      revokeToken(ctx.db, { actor: ctx.member, credentialId: input.credentialId, now: ctx.clock() }),
    ),
});
