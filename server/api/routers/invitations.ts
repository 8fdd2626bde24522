// Invitations: admins create and revoke them; the invited person reads and accepts theirs by the link secret.
import "server-only";
import { z } from "zod";
import { webauthnConfig } from "@/server/auth/config";
import {
  groupsSchema,
  invitationSecretSchema,
  personNameSchema,
  registrationResponseSchema,
  rolesSchema,
  tokenNicknameSchema,
} from "@/server/auth/schemas";
import { env } from "@/server/env";
import {
  beginAcceptInvitation,
  completeAcceptInvitation,
  createInvitation,
  describeInvitation,
  listOpenInvitations,
  revokeInvitation,
} from "@/server/members/invitations";
import { proposeInvitation } from "@/server/members/propose-invitation";
import { createTRPCRouter, publicProcedure, withRole } from "../trpc";

export const createInvitationInput = z.object({
  name: personNameSchema,
  roles: rolesSchema,
  groups: groupsSchema,
  /** Hours the link stays valid; the configured default when omitted. */
  validHours: z
    .number()
    .int()
    .min(1)
    .max(24 * 14)
    .optional(),
});

const secretInput = z.object({ secret: invitationSecretSchema });

export const invitationsRouter = createTRPCRouter({
  create: withRole("admin")
    .input(createInvitationInput)
    .mutation(async ({ ctx, input }) => {
      const created = await createInvitation(ctx.db, {
        actor: ctx.member,
        name: input.name,
        roles: input.roles,
        groups: input.groups,
        ttlMs: input.validHours ? input.validHours * 3_600_000 : env().invitationMs,
        now: ctx.clock(),
      });
      // The secret rides in the fragment, which no browser sends to a server (app/invite/invitation-from-link.tsx).
      return {
        id: created.id,
        expiresAt: created.expiresAt,
        link: `${env().origin}/invite#${created.secret}`,
      };
    }),

  // Once live: a member.invite operation. The link is returned once, now; it works only after the quorum approved
  // and the invitation was created by the executor (server/operations/kinds/member-invite.ts).
  propose: withRole("admin")
    .input(createInvitationInput)
    .mutation(async ({ ctx, input }) => {
      const proposed = await proposeInvitation(ctx.db, {
        actor: ctx.member,
        name: input.name,
        roles: input.roles,
        groups: input.groups,
        validHours: input.validHours ?? Math.max(1, Math.round(env().invitationMs / 3_600_000)),
        now: ctx.clock(),
      });
      return { operationId: proposed.operationId, link: `${env().origin}/invite#${proposed.secret}` };
    }),

  list: withRole("admin").query(({ ctx }) => listOpenInvitations(ctx.db, ctx.clock())),

  revoke: withRole("admin")
    .input(z.object({ invitationId: z.string().uuid() }))
    .mutation(({ ctx, input }) =>
      revokeInvitation(ctx.db, { actor: ctx.member, invitationId: input.invitationId, now: ctx.clock() }),
    ),

  describe: publicProcedure
    .input(secretInput)
    .query(({ ctx, input }) => describeInvitation(ctx.db, input.secret, ctx.clock())),

  beginAccept: publicProcedure
    .input(secretInput)
    .mutation(({ ctx, input }) =>
      beginAcceptInvitation(ctx.db, webauthnConfig(), { secret: input.secret, now: ctx.clock() }),
    ),

  completeAccept: publicProcedure
    .input(secretInput.extend({ tokenName: tokenNicknameSchema, response: registrationResponseSchema }))
    .mutation(({ ctx, input }) =>
      completeAcceptInvitation(ctx.db, webauthnConfig(), { ...input, now: ctx.clock() }),
    ),
});
