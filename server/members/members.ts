// Member administration: list, change roles and groups, suspend and reactivate. Suspension ends the
// member's sessions at once, in setup and live mode alike. Once Keyward is live, changing roles or groups and
// reactivating need the quorum (member.update, member.reinstate operations: the direct calls are refused and
// the operations reuse the write* cores below in their completing transaction). No change may leave the
// console without an active admin holding a live token.
// Every change runs under the admin lock with the acting admin re-read (admin-lock.ts): two admins acting
// at the same moment see each other's committed result. Suspending a member or taking their admin role
// revokes the invitations they made, in the same transaction.
import "server-only";
import { asc, count, eq, isNull } from "drizzle-orm";
import type { Db, Tx } from "@/db/client";
import { tokens, members, type Role } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import type { Actor } from "@/server/audit/events";
import { endSessionsWhere } from "@/server/auth/sessions";
import { AppError } from "@/server/errors";
import { requireSetupMode } from "@/server/governance/mode";
import { lockAsAdmin } from "./admin-lock";
import { type Acting, loadMemberForUpdate, otherUsableAdmins, requireAdmin } from "./guards";
import { revokeOpenInvitationsBy } from "./invitations";
import { reachabilityAfter } from "./membership-check";

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

type Member = Awaited<ReturnType<typeof loadMemberForUpdate>>;

const LAST_ADMIN =
  "This would leave Keyward without an active admin who can sign in. Make someone else admin first.";

export async function updateMember(
  db: Db,
  input: { actor: Acting; memberId: string; roles: Role[]; groups: string[]; now: Date },
) {
  requireAdmin(input.actor, "change roles and groups");
  await db.transaction(async (tx) => {
    await lockAsAdmin(tx, input.actor, "change roles and groups");
    // Once live, adding a role or a group loosens who can approve: only a member.update operation may.
    await requireSetupMode(tx, "changing a member's roles or groups");
    const member = await loadMemberForUpdate(tx, input.memberId);
    await writeMemberUpdate(tx, member, {
      roles: input.roles,
      groups: input.groups,
      actor: `member:${input.actor.id}`,
      now: input.now,
    });
  });
}

/**
 * The change of roles and groups itself, in the caller's transaction under the admin lock with the member's row
 * locked (loadMemberForUpdate): refuses to take the last usable admin's role, writes member.updated (naming the
 * operation when one made it) and revokes the invitations of a member who loses the admin role.
 */
export async function writeMemberUpdate(
  tx: Tx,
  member: Member,
  input: { roles: Role[]; groups: string[]; actor: Actor; operationId?: string; now: Date },
): Promise<void> {
  const losesAdmin = member.roles.includes("admin") && !input.roles.includes("admin");
  if (losesAdmin && (await otherUsableAdmins(tx, member.id)) === 0)
    throw new AppError("CONFLICT", LAST_ADMIN);
  await tx.update(members).set({ roles: input.roles, groups: input.groups }).where(eq(members.id, member.id));
  await appendAudit(tx, {
    action: "member.updated",
    actor: input.actor,
    subject: `member:${member.id}`,
    at: input.now,
    data: {
      memberId: member.id,
      roles: input.roles,
      groups: input.groups,
      previousRoles: member.roles,
      previousGroups: member.groups,
      ...(input.operationId !== undefined ? { operationId: input.operationId } : {}),
    },
  });
  if (losesAdmin) {
    await revokeOpenInvitationsBy(tx, {
      creatorId: member.id,
      reason: "creator-demoted",
      actor: input.actor,
      now: input.now,
    });
  }
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
    await revokeOpenInvitationsBy(tx, {
      creatorId: member.id,
      reason: "creator-suspended",
      actor,
      now: input.now,
    });
    // Restricting is immediate in setup and live mode alike, even when it leaves a rule unreachable (a thief must
    // be stoppable); the page shows what the policy can no longer reach, so admins know what to repair.
    const { unreachable } = await reachabilityAfter(tx, null);
    return { sessionsEnded, unreachable };
  });
}

export async function reactivateMember(db: Db, input: { actor: Acting; memberId: string; now: Date }) {
  requireAdmin(input.actor, "reactivate members");
  await db.transaction(async (tx) => {
    await lockAsAdmin(tx, input.actor, "reactivate members");
    // Restricting is immediate, loosening needs the quorum: once live, only a member.reinstate operation may.
    await requireSetupMode(tx, "reactivating a suspended member");
    const member = await loadMemberForUpdate(tx, input.memberId);
    if (member.status === "active") throw new AppError("CONFLICT", `${member.name} is already active.`);
    await writeReactivation(tx, member, { actor: `member:${input.actor.id}`, now: input.now });
  });
}

/** suspended → active with member.reactivated, in the caller's transaction (admin lock held, row locked). */
export async function writeReactivation(
  tx: Tx,
  member: Member,
  input: { actor: Actor; operationId?: string; now: Date },
): Promise<void> {
  await tx.update(members).set({ status: "active", suspendedAt: null }).where(eq(members.id, member.id));
  await appendAudit(tx, {
    action: "member.reactivated",
    actor: input.actor,
    subject: `member:${member.id}`,
    at: input.now,
    data: {
      memberId: member.id,
      ...(input.operationId !== undefined ? { operationId: input.operationId } : {}),
    },
  });
}
