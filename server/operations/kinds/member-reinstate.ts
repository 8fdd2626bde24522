// member.reinstate: a suspended member back to active. Suspending is immediate (restricting is immediate,
// server/members/members.ts suspendMember); once Keyward is live, the reversal loosens who can act and so needs
// the quorum. The proposing transaction reads the member (name, roles, groups) into the payload, so approvers see
// whom they bring back and with which powers; a member who is not suspended is refused before anyone votes.
// Executed: suspended → active with member.reactivated (naming the operation); already active counts as done.
import { z } from "zod";
import { executeMembershipChange } from "./member-context";
import {
  listInWords,
  payloadGroupsSchema,
  payloadNameSchema,
  payloadRolesSchema,
  sortedGroups,
  sortedRoles,
} from "./member-words";
import type { OperationKind } from "./types";

export const MEMBER_REINSTATE_KIND = "member.reinstate";

export const memberReinstateInputSchema = z.object({ memberId: z.string().uuid() }).strict();
export type MemberReinstateInput = z.infer<typeof memberReinstateInputSchema>;

export const memberReinstatePayloadSchema = z
  .object({
    memberId: z.string().uuid(),
    name: payloadNameSchema,
    roles: payloadRolesSchema,
    groups: payloadGroupsSchema,
  })
  .strict();
export type MemberReinstatePayload = z.infer<typeof memberReinstatePayloadSchema>;

export const memberReinstate: OperationKind<MemberReinstatePayload, MemberReinstateInput> = {
  kind: MEMBER_REINSTATE_KIND,
  proposers: ["admin"],
  payload: memberReinstatePayloadSchema,
  propose: {
    input: memberReinstateInputSchema,
    async prepare(input, read) {
      const member = await read.members.member(input.memberId);
      await read.members.check({ change: "reinstate", memberId: member.id });
      return {
        memberId: member.id,
        name: member.name,
        roles: sortedRoles(member.roles),
        groups: sortedGroups(member.groups),
      };
    },
  },
  describe(p) {
    return {
      title: `Reinstate ${p.name}`,
      lines: [
        { label: "Member", value: `${p.name} (${p.memberId})` },
        { label: "Status", value: "suspended → active" },
        { label: "Roles", value: listInWords(p.roles) },
        { label: "Groups", value: listInWords(p.groups) },
        {
          label: "Effect",
          value: "they can sign in again with their live tokens and act with these roles and groups",
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
      { change: "reinstate", memberId: op.payload.memberId },
      { memberId: op.payload.memberId },
    ),
};
