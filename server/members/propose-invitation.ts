// Proposing an invitation once Keyward is live (member.invite, server/operations/kinds/member-invite.ts): the
// server makes the link secret, proposes the operation with only the secret's SHA-256 in its payload, and hands
// the secret back once, in this answer, to the proposing admin. Nothing stores or logs the secret; the
// invitation itself is created only when the quorum's approval is executed.
import "server-only";
import type { Db } from "@/db/client";
import type { Role } from "@/db/schema";
import { newInvitationSecret, sha256Hex } from "@/server/auth/secrets";
import { MEMBER_INVITE_KIND } from "@/server/operations/kinds/member-invite";
import { proposeOperation } from "@/server/operations/propose";
import { type Acting, requireAdmin } from "./guards";

export async function proposeInvitation(
  db: Db,
  input: { actor: Acting; name: string; roles: Role[]; groups: string[]; validHours: number; now: Date },
): Promise<{ operationId: string; secret: string }> {
  requireAdmin(input.actor, "invite members");
  const secret = newInvitationSecret();
  const operation = await proposeOperation(db, {
    actor: input.actor,
    kind: MEMBER_INVITE_KIND,
    payload: {
      name: input.name,
      roles: input.roles,
      groups: input.groups,
      validHours: input.validHours,
      secretHash: sha256Hex(secret),
    },
    now: input.now,
  });
  return { operationId: operation.id, secret };
}
