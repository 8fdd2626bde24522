// Who is acting, as the database has them now: the session's copy of a member may predate a suspension or a
// change of roles that committed while the request was on its way. Every operation function re-reads it here.
import "server-only";
import { eq } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { members, type Role } from "@/db/schema";
import { AppError } from "@/server/errors";

export type CurrentMember = { id: string; name: string; roles: Role[]; groups: string[] };

/** The member `id` if active now; FORBIDDEN (with what they tried, in words) otherwise. */
export async function activeMember(db: DbOrTx, id: string, what: string): Promise<CurrentMember> {
  const [row] = await db
    .select({
      id: members.id,
      name: members.name,
      roles: members.roles,
      groups: members.groups,
      status: members.status,
    })
    .from(members)
    .where(eq(members.id, id));
  if (row?.status !== "active") {
    throw new AppError("FORBIDDEN", `You cannot ${what}: your membership is suspended.`);
  }
  return { id: row.id, name: row.name, roles: row.roles, groups: row.groups };
}

/** As activeMember, and they must hold one of `roles` now. */
export async function memberWithRole(
  db: DbOrTx,
  id: string,
  roles: readonly Role[],
  what: string,
): Promise<CurrentMember> {
  const member = await activeMember(db, id, what);
  if (!member.roles.some((r) => roles.includes(r))) {
    throw new AppError("FORBIDDEN", `You cannot ${what}: this needs the ${roles.join(" or ")} role.`);
  }
  return member;
}
