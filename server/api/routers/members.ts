// Member administration. Auditors may read the list; only admins change it.
import "server-only";
import { z } from "zod";
import { groupsSchema, rolesSchema } from "@/server/auth/schemas";
import { endMemberSessions, listOpenSessions, revokeMemberToken } from "@/server/members/member-sessions";
import { listMembers, reactivateMember, suspendMember, updateMember } from "@/server/members/members";
import { createTRPCRouter, withRole } from "../trpc";

const memberInput = z.object({ memberId: z.string().uuid() });

export const membersRouter = createTRPCRouter({
  list: withRole("admin", "auditor").query(({ ctx }) => listMembers(ctx.db)),

  update: withRole("admin")
    .input(memberInput.extend({ roles: rolesSchema, groups: groupsSchema }))
    .mutation(({ ctx, input }) => updateMember(ctx.db, { actor: ctx.member, ...input, now: ctx.clock() })),

  suspend: withRole("admin")
    .input(memberInput)
    .mutation(({ ctx, input }) => suspendMember(ctx.db, { actor: ctx.member, memberId: input.memberId, now: ctx.clock() })),

  reactivate: withRole("admin")
    .input(memberInput)
    .mutation(({ ctx, input }) =>
      reactivateMember(ctx.db, { actor: ctx.member, memberId: input.memberId, now: ctx.clock() }),
    ),

  // The "Tokens and sessions" panel (tokens.ofMember lists the tokens).
  sessions: withRole("admin")
    .input(memberInput)
    .query(({ ctx, input }) =>
      listOpenSessions(ctx.db, { actor: ctx.member, memberId: input.memberId, now: ctx.clock() }),
    ),

  revokeToken: withRole("admin")
    .input(memberInput.extend({ credentialId: z.string().min(1).max(1024) }))
    .mutation(({ ctx, input }) => revokeMemberToken(ctx.db, { actor: ctx.member, ...input, now: ctx.clock() })),

  endSessions: withRole("admin")
    .input(memberInput)
    .mutation(({ ctx, input }) =>
      endMemberSessions(ctx.db, { actor: ctx.member, memberId: input.memberId, now: ctx.clock() }),
    ),
});
