// Server-side sessions behind next-auth's JWT: the JWT only carries a session id, and every request checks
// that the row is live. Suspending a member or revoking their token ends the session at the next request.
import "server-only";
import { and, eq, isNull } from "drizzle-orm";
import type { Db, Tx } from "@/db/client";
import { tokens, members, type SessionEndReason, sessions } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import type { Actor } from "@/server/audit/events";

export type SessionPolicy = { idleMs: number; maxMs: number };

export type SessionMember = {
  sessionId: string;
  tokenId: string;
  member: { id: string; name: string; roles: string[]; groups: string[] };
};

export async function createSession(
  tx: Tx,
  input: { memberId: string; tokenId: string; now: Date; policy: SessionPolicy },
): Promise<string> {
  const [row] = await tx
    .insert(sessions)
    .values({
      memberId: input.memberId,
      tokenId: input.tokenId,
      createdAt: input.now,
      lastSeenAt: input.now,
      expiresAt: new Date(input.now.getTime() + input.policy.maxMs),
    })
    .returning({ id: sessions.id });
  if (!row) throw new Error("session insert returned nothing");
  return row.id;
}

/** Ends one session (if still open) and records why. Returns whether it was open. */
export async function endSession(
  tx: Tx,
  input: { sessionId: string; reason: SessionEndReason; actor: Actor; now: Date },
): Promise<boolean> {
  const ended = await tx
    .update(sessions)
    .set({ endedAt: input.now, endReason: input.reason })
    .where(and(eq(sessions.id, input.sessionId), isNull(sessions.endedAt)))
    .returning({ id: sessions.id });
  if (ended.length === 0) return false;
  await appendAudit(tx, {
    action: "session.ended",
    actor: input.actor,
    subject: `session:${input.sessionId}`,
    at: input.now,
    data: { sessionId: input.sessionId, reason: input.reason },
  });
  return true;
}

/** Ends every open session matching a member or a token; used by suspension and token revocation. */
export async function endSessionsWhere(
  tx: Tx,
  input: { memberId?: string; tokenId?: string; reason: SessionEndReason; actor: Actor; now: Date },
): Promise<number> {
  const open = await tx
    .select({ id: sessions.id })
    .from(sessions)
    .where(
      and(
        isNull(sessions.endedAt),
        input.memberId ? eq(sessions.memberId, input.memberId) : undefined,
        input.tokenId ? eq(sessions.tokenId, input.tokenId) : undefined,
      ),
    );
  let count = 0;
  for (const s of open) {
    if (await endSession(tx, { sessionId: s.id, reason: input.reason, actor: input.actor, now: input.now })) count++;
  }
  return count;
}

function deadReason(
  row: { endedAt: Date | null; lastSeenAt: Date; expiresAt: Date; status: string; revokedAt: Date | null },
  now: Date,
  policy: SessionPolicy,
): SessionEndReason | "already-ended" | null {
  if (row.endedAt) return "already-ended";
  if (row.status !== "active") return "member-suspended";
  if (row.revokedAt) return "token-revoked";
  if (now.getTime() >= row.expiresAt.getTime()) return "expired";
  if (now.getTime() - row.lastSeenAt.getTime() >= policy.idleMs) return "idle";
  return null;
}

/**
 * The per-request check: returns the signed-in member when the session is live and touches last_seen;
 * otherwise ends it (recording why) and returns null.
 */
export async function resumeSession(
  db: Db,
  input: { sessionId: string; now: Date; policy: SessionPolicy },
): Promise<SessionMember | null> {
  const [row] = await db
    .select({
      sessionId: sessions.id,
      tokenId: sessions.tokenId,
      endedAt: sessions.endedAt,
      lastSeenAt: sessions.lastSeenAt,
      expiresAt: sessions.expiresAt,
      memberId: members.id,
      name: members.name,
      roles: members.roles,
      groups: members.groups,
      status: members.status,
      revokedAt: tokens.revokedAt,
    })
    .from(sessions)
    .innerJoin(members, eq(members.id, sessions.memberId))
    .innerJoin(tokens, eq(tokens.id, sessions.tokenId))
    .where(eq(sessions.id, input.sessionId));
  if (!row) return null;
  const reason = deadReason(row, input.now, input.policy);
  if (reason === "already-ended") return null;
  if (reason) {
    await db.transaction((tx) =>
      endSession(tx, { sessionId: row.sessionId, reason, actor: "system", now: input.now }),
    );
    return null;
  }
  await db.update(sessions).set({ lastSeenAt: input.now }).where(eq(sessions.id, row.sessionId));
  return {
    sessionId: row.sessionId,
    tokenId: row.tokenId,
    member: { id: row.memberId, name: row.name, roles: row.roles, groups: row.groups },
  };
}
