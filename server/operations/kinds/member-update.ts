// member.update: once Keyward is live, a member's roles and groups change only by the quorum (adding one loosens
// who can approve; taking one away can leave a rule unreachable). The proposer names the member and the roles and
// groups they should have; the proposing transaction reads the member as they are now into the payload, so
// approvers read the change as before → after in words and the digest covers both. Refused before anyone votes
// when nothing changes, when it takes the last usable admin's role, or when it would leave a reachable rule of
// the policy in force unreachable (server/members/membership-steps.ts); checked again when executed, where a
// member changed by someone else since the proposal (not as the approvers saw them) fails the operation.
import { z } from "zod";
import { groupsSchema, rolesSchema } from "@/server/auth/schemas";
import { executeMembershipChange } from "./member-context";
import {
  beforeAfter,
  changeInWords,
  payloadGroupsSchema,
  payloadNameSchema,
  payloadRolesSchema,
  sortedGroups,
  sortedRoles,
} from "./member-words";
import type { OperationKind } from "./types";

export const MEMBER_UPDATE_KIND = "member.update";

export const memberUpdateInputSchema = z
  .object({ memberId: z.string().uuid(), roles: rolesSchema, groups: groupsSchema })
  .strict();
export type MemberUpdateInput = z.infer<typeof memberUpdateInputSchema>;

const rolesAndGroups = z.object({ roles: payloadRolesSchema, groups: payloadGroupsSchema }).strict();

export const memberUpdatePayloadSchema = z
  .object({
    memberId: z.string().uuid(),
    name: payloadNameSchema,
    before: rolesAndGroups,
    after: rolesAndGroups,
  })
  .strict();
export type MemberUpdatePayload = z.infer<typeof memberUpdatePayloadSchema>;

export const memberUpdate: OperationKind<MemberUpdatePayload, MemberUpdateInput> = {
  kind: MEMBER_UPDATE_KIND,
  proposers: ["admin"],
  payload: memberUpdatePayloadSchema,
  propose: {
    input: memberUpdateInputSchema,
    async prepare(input, read) {
      const member = await read.members.member(input.memberId);
      const before = { roles: sortedRoles(member.roles), groups: sortedGroups(member.groups) };
      const after = { roles: sortedRoles(input.roles), groups: sortedGroups(input.groups) };
      await read.members.check({ change: "update", memberId: member.id, before, ...after });
      return { memberId: member.id, name: member.name, before, after };
    },
  },
  describe(p) {
    return {
      title: `Change the roles and groups of ${p.name}`,
      lines: [
        { label: "Member", value: `${p.name} (${p.memberId})` },
        { label: "Roles", value: beforeAfter(p.before.roles, p.after.roles) },
        { label: "Groups", value: beforeAfter(p.before.groups, p.after.groups) },
        { label: "Effect", value: changeInWords(p.before, p.after) || "nothing changes" },
      ],
    };
  },
  facts() {
    return { keyTags: [] };
  },
  // Safe to repeat: a member who has these roles and groups already counts as done.
  execute: (ctx, op) =>
    executeMembershipChange(
      ctx,
      op,
      { change: "update", memberId: op.payload.memberId, before: op.payload.before, ...op.payload.after },
      { memberId: op.payload.memberId },
    ),
};
