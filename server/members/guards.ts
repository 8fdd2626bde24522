// Checks shared by member and token changes: who is acting, and that no change leaves the console without
// an active admin who can still sign in.
import "server-only";
import { and, arrayContains, count, eq, exists, isNull, ne } from "drizzle-orm";
import type { Tx } from "@/db/client";
import { tokens, members } from "@/db/schema";
import { AppError } from "@/server/errors";

export type Acting = { id: string; roles: readonly string[] };

export const isAdmin = (who: Acting) => who.roles.includes("admin");

export function requireAdmin(who: Acting, what: string): void {
  if (!isAdmin(who)) throw new AppError("FORBIDDEN", `Only an admin can ${what}.`);
}

/** Number of active admins other than `memberId` who still hold at least one live token. */
export async function otherUsableAdmins(tx: Tx, memberId: string): Promise<number> {
  const [row] = await tx
    .select({ n: count() })
    .from(members)
    .where(
      and(
        arrayContains(members.roles, ["admin"]),
        eq(members.status, "active"),
        ne(members.id, memberId),
        exists(
          tx
            .select({ one: tokens.id })
            .from(tokens)
            .where(and(eq(tokens.memberId, members.id), isNull(tokens.revokedAt))),
        ),
      ),
    );
  return row?.n ?? 0;
}

export async function liveTokenCount(tx: Tx, memberId: string): Promise<number> {
  const [row] = await tx
    .select({ n: count() })
    .from(tokens)
    .where(and(eq(tokens.memberId, memberId), isNull(tokens.revokedAt)));
  return row?.n ?? 0;
}

export async function loadMemberForUpdate(tx: Tx, memberId: string) {
  const [member] = await tx.select().from(members).where(eq(members.id, memberId)).for("update");
  if (!member) throw new AppError("NOT_FOUND", "No such member.");
  return member;
}
