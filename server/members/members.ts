// Member administration: list, change roles and groups, suspend and reactivate. Suspension ends the
// member's sessions at once. No change may leave the console without an active admin holding a live token.
// Every change runs under the admin lock with the acting admin re-read (admin-lock.ts): two admins acting
// at the same moment see each other's committed result. Suspending a member or taking their admin role
// revokes the invitations they made, in the same transaction.
import "server-only";
import { asc, count, eq, isNull } from "drizzle-orm";
import type { Db } from "@/db/client";
import { tokens, members, type Role } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { endSessionsWhere } from "@/server/auth/sessions";
import { AppError } from "@/server/errors";
import { lockAsAdmin } from "./admin-lock";
import { type Acting, loadMemberForUpdate, otherUsableAdmins, requireAdmin } from "./guards";
import { revokeOpenInvitationsBy } from "./invitations";

export async function listMembers(db: Db) {
  const liveTokens = db
    .select({ memberId: tokens.memberId, n: count().as("n") })
    .from(tokens)
    .where(isNull(tokens.revokedAt))
    .groupBy(tokens.memberId)
    .as("live_tokens");
  const rows = await db
    .select({
      id: members.id,
      name: members.name,
      roles: members.roles,
      groups: members.groups,
      status: members.status,
      createdAt: members.createdAt,
      suspendedAt: members.suspendedAt,
      tokens: liveTokens.n,
    })
    .from(members)
    .leftJoin(liveTokens, eq(liveTokens.memberId, members.id))
    .orderBy(asc(members.name));
  return rows.map((r) => ({ ...r, tokens: r.tokens ?? 0 }));
}

const LAST_ADMIN =
  "This would leave Keyward without an active admin who can sign in. Make someone else admin first.";

export async function updateMember(
  db: Db,
  input: { actor: Acting; memberId: string; roles: Role[]; groups: string[]; now: Date },
) {
  requireAdmin(input.actor, "change roles and groups");
  await db.transaction(async (tx) => {
    await lockAsAdmin(tx, input.actor, "change roles and groups");
    const member = await loadMemberForUpdate(tx, input.memberId);
    const losesAdmin = member.roles.includes("admin") && !input.roles.includes("admin");
    if (losesAdmin && (await otherUsableAdmins(tx, member.id)) === 0) throw new AppError("CONFLICT", LAST_ADMIN);
    const actor = `member:${input.actor.id}` as const;
    await tx
      .update(members)
      .set({ roles: input.roles, groups: input.groups })
      .where(eq(members.id, member.id));
    await appendAudit(tx, {
      action: "member.updated",
      actor,
      subject: `member:${member.id}`,
      at: input.now,
      data: {
        memberId: member.id,
        roles: input.roles,
        groups: input.groups,
        previousRoles: member.roles,
        previousGroups: member.groups,
      },
    });
    if (losesAdmin) {
      await revokeOpenInvitationsBy(tx, { creatorId: member.id, reason: "creator-demoted", actor, now: input.now });
    }
  });
}

export async function suspendMember(db: Db, input: { actor: Acting; memberId: string; now: Date }) {
  requireAdmin(input.actor, "suspend members");
  if (input.actor.id === input.memberId) {
    throw new AppError("CONFLICT", "You cannot suspend yourself. Ask another admin.");
  }
  return db.transaction(async (tx) => {
    await lockAsAdmin(tx, input.actor, "suspend members");
    const member = await loadMemberForUpdate(tx, input.memberId);
    if (member.status === "suspended") throw new AppError("CONFLICT", `${member.name} is already suspended.`);
    if (member.roles.includes("admin") && (await otherUsableAdmins(tx, member.id)) === 0) {
      throw new AppError("CONFLICT", LAST_ADMIN);
    }
    const actor = `member:${input.actor.id}` as const;
    await tx
      .update(members)
      .set({ status: "suspended", suspendedAt: input.now })
      .where(eq(members.id, member.id));
    const sessionsEnded = await endSessionsWhere(tx, {
      memberId: member.id,
      reason: "member-suspended",
      actor,
      now: input.now,
    });
    await appendAudit(tx, {
      action: "member.suspended",
      actor,
      subject: `member:${member.id}`,
      at: input.now,
      data: { memberId: member.id, sessionsEnded },
    });
    await revokeOpenInvitationsBy(tx, { creatorId: member.id, reason: "creator-suspended", actor, now: input.now });
    return { sessionsEnded };
  });
}

export async function reactivateMember(db: Db, input: { actor: Acting; memberId: string; now: Date }) {
  requireAdmin(input.actor, "reactivate members");
  await db.transaction(async (tx) => {
    await lockAsAdmin(tx, input.actor, "reactivate members");
    const member = await loadMemberForUpdate(tx, input.memberId);
    if (member.status === "active") throw new AppError("CONFLICT", `${member.name} is already active.`);
    await tx
      .update(members)
      .set({ status: "active", suspendedAt: null })
      .where(eq(members.id, member.id));
    await appendAudit(tx, {
      action: "member.reactivated",
      actor: `member:${input.actor.id}`,
      subject: `member:${member.id}`,
      at: input.now,
      data: { memberId: member.id },
    });
  });
}
