// What an admin does about another member's access from the members page: see their open sessions, end them
// all, and revoke one of their tokens. The acting admin is re-read inside the transaction, never trusted
// from the request's snapshot; a non-admin learns nothing about anyone.
import "server-only";
import { and, asc, eq, gt, isNull } from "drizzle-orm";
import type { Db, Tx } from "@/db/client";
import { members, sessions, tokens } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { endSessionsWhere } from "@/server/auth/sessions";
import { AppError } from "@/server/errors";
import { type Acting, requireAdmin } from "./guards";
import { revokeToken } from "./tokens";

/** Refuses unless `actor` is, in this transaction, an active admin. */
async function requireActiveAdmin(tx: Db | Tx, actor: Acting, what: string): Promise<void> {
  requireAdmin(actor, what);
  const [row] = await tx
    .select({ roles: members.roles, status: members.status })
    .from(members)
    .where(eq(members.id, actor.id));
  if (row?.status !== "active" || !row.roles.includes("admin")) {
    throw new AppError("FORBIDDEN", `Only an admin can ${what}.`);
  }
}

async function requireMember(tx: Db | Tx, memberId: string): Promise<void> {
  const [row] = await tx.select({ id: members.id }).from(members).where(eq(members.id, memberId));
  if (!row) throw new AppError("NOT_FOUND", "No such member.");
}

/** A member's sessions that are still open and not past their absolute expiry, newest first; no session ids. */
export async function listOpenSessions(db: Db, input: { actor: Acting; memberId: string; now: Date }) {
  await requireActiveAdmin(db, input.actor, "see another member's sessions");
  await requireMember(db, input.memberId);
  const rows = await db
    .select({
      createdAt: sessions.createdAt,
      lastSeenAt: sessions.lastSeenAt,
      expiresAt: sessions.expiresAt,
      tokenNickname: tokens.nickname,
    })
    .from(sessions)
    .innerJoin(tokens, eq(tokens.id, sessions.tokenId))
    .where(
      and(eq(sessions.memberId, input.memberId), isNull(sessions.endedAt), gt(sessions.expiresAt, input.now)),
    )
    .orderBy(asc(sessions.createdAt));
  return rows.reverse();
}

/** Ends every open session of a member; each is recorded as `session.ended`, the whole as `session.ended_by_admin`. */
export async function endMemberSessions(db: Db, input: { actor: Acting; memberId: string; now: Date }) {
  return db.transaction(async (tx) => {
    await requireActiveAdmin(tx, input.actor, "end another member's sessions");
    await requireMember(tx, input.memberId);
    const actor = `member:${input.actor.id}` as const;
    const sessionsEnded = await endSessionsWhere(tx, {
      memberId: input.memberId,
      reason: "revoked",
      actor,
      now: input.now,
    });
    await appendAudit(tx, {
      action: "session.ended_by_admin",
      actor,
      subject: `member:${input.memberId}`,
      at: input.now,
      data: { memberId: input.memberId, sessionsEnded },
    });
    return { sessionsEnded };
  });
}

/**
 * Revokes one of `memberId`'s tokens as an admin, under revokeToken's rules (the last admin's last token stays).
 * A token that is not this member's is "no such token", as for one that does not exist.
 */
export async function revokeMemberToken(
  db: Db,
  input: { actor: Acting; memberId: string; credentialId: string; now: Date },
) {
  await requireActiveAdmin(db, input.actor, "revoke another member's token");
  // A token never changes owner, so this read needs no lock; revokeToken re-reads it under its own.
  const [token] = await db
    .select({ memberId: tokens.memberId })
    .from(tokens)
    .where(eq(tokens.id, input.credentialId));
  if (!token || token.memberId !== input.memberId) throw new AppError("NOT_FOUND", "No such token.");
  return revokeToken(db, { actor: input.actor, credentialId: input.credentialId, now: input.now });
}
