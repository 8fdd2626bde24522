// member.invite: once Keyward is live, a new member and their roles need the quorum. The secret of the link
// is the delicate part, and this is the design:
//   - At proposal the server makes the link secret (32 random bytes) and hands the link to the proposing admin
//     once, in the proposal's answer (invitations.propose, server/api/routers/invitations.ts); only its SHA-256
//     is in the payload, so the digest the approvers sign covers exactly which link will work, and nothing stored
//     or shown (payload, audit trail, operation page) lets anyone else rebuild the link.
//   - No invitation exists until the operation is executed: the executor then creates it (insertInvitation) with
//     that hash, the proposer as its creator and its validity counted from the execution. Before that the link
//     answers "not valid"; if the operation is rejected, expires or is cancelled it never works.
//   - The invitation is only as good as its creator (invitations.ts): a proposer suspended or demoted before the
//     execution fails the operation; after it, their invitations are revoked as any admin's.
// Someone invited holds no token yet, so an invitation adds nobody eligible and can make no rule unreachable;
// the check runs anyway with the other membership kinds' (server/members/membership-steps.ts).
// A caller of operations.propose may also send the hash of a secret it made itself (at least 20 characters of
// base64url, as the link format requires); the members page goes through invitations.propose.
import { z } from "zod";
import { groupsSchema, personNameSchema, rolesSchema } from "@/server/auth/schemas";
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

export const MEMBER_INVITE_KIND = "member.invite";

const sha256Hex = z
  .string()
  .regex(/^[0-9a-f]{64}$/, "the SHA-256 of the link secret, 64 lower-case hex digits");
const validHoursSchema = z
  .number()
  .int()
  .min(1)
  .max(24 * 14);

export const memberInviteInputSchema = z
  .object({
    name: personNameSchema,
    roles: rolesSchema,
    groups: groupsSchema,
    validHours: validHoursSchema,
    secretHash: sha256Hex,
  })
  .strict();
export type MemberInviteInput = z.infer<typeof memberInviteInputSchema>;

export const memberInvitePayloadSchema = z
  .object({
    name: payloadNameSchema,
    roles: payloadRolesSchema,
    groups: payloadGroupsSchema,
    validHours: validHoursSchema,
    secretHash: sha256Hex,
  })
  .strict();
export type MemberInvitePayload = z.infer<typeof memberInvitePayloadSchema>;

export const memberInvite: OperationKind<MemberInvitePayload, MemberInviteInput> = {
  kind: MEMBER_INVITE_KIND,
  proposers: ["admin"],
  payload: memberInvitePayloadSchema,
  propose: {
    input: memberInviteInputSchema,
    async prepare(input, read) {
      const payload = {
        name: input.name,
        roles: sortedRoles(input.roles),
        groups: sortedGroups(input.groups),
        validHours: input.validHours,
        secretHash: input.secretHash,
      };
      await read.members.check({ change: "invite", ...payload });
      return payload;
    },
  },
  describe(p) {
    return {
      title: `Invite ${p.name} as ${listInWords(p.roles)}`,
      lines: [
        { label: "Name", value: p.name },
        { label: "Roles", value: listInWords(p.roles) },
        { label: "Groups", value: listInWords(p.groups) },
        {
          label: "Link",
          value: `held by the proposing admin; its secret's SHA-256 is ${p.secretHash}`,
        },
        {
          label: "Effect",
          value: `the invitation is created when this is carried out and works once, for ${p.validHours} hours from then; until then the link does not work`,
        },
      ],
    };
  },
  facts() {
    return { keyTags: [] };
  },
  // Safe to repeat: an invitation with this secret's hash already made counts as done (the hash is unique).
  execute: (ctx, op) =>
    executeMembershipChange(ctx, op, { change: "invite", ...op.payload }, { name: op.payload.name }),
};
