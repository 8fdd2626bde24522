// The members as the reachability check sees them (server/policy/reachability.ts): every member with status,
// roles, groups and how many live (not revoked) tokens they hold, read in one query so the snapshot is one
// instant of the caller's transaction. It only reads; deciding who counts is the pure check's job.
import "server-only";
import { asc, eq, sql } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { members, tokens } from "@/db/schema";
import type { EligibleMember } from "@/server/policy/reachability";

/** Every member (suspended ones too, `active: false`), sorted by id, with their live token count. */
export async function eligibleMembers(db: DbOrTx): Promise<EligibleMember[]> {
  const rows = await db
    .select({
      id: members.id,
      name: members.name,
      roles: members.roles,
      groups: members.groups,
      status: members.status,
      // A member without tokens joins one all-null row: count() of a null id is 0.
      liveTokens: sql<number>`count(${tokens.id}) filter (where ${tokens.revokedAt} is null)`.mapWith(Number),
    })
    .from(members)
    .leftJoin(tokens, eq(tokens.memberId, members.id))
    .groupBy(members.id)
    .orderBy(asc(members.id));
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    roles: [...r.roles],
    groups: [...r.groups],
    active: r.status === "active",
    liveTokens: r.liveTokens,
  }));
}

/** What a membership change would alter on one member (member.update, reinstatement, a token revoked). */
export type MemberChange = Partial<Pick<EligibleMember, "roles" | "groups" | "active" | "liveTokens">>;

/**
 * The snapshot as it would be after `change` to member `memberId` (pure; the input is not modified), so a
 * membership proposal can be checked for reachability before anyone votes. A member not in the snapshot
 * leaves it unchanged: someone invited holds no token yet, so they add nobody eligible.
 */
export function membershipAfter(
  snapshot: readonly EligibleMember[],
  memberId: string,
  change: MemberChange,
): EligibleMember[] {
  return snapshot.map((m) =>
    m.id === memberId
      ? {
          ...m,
          roles: [...(change.roles ?? m.roles)],
          groups: [...(change.groups ?? m.groups)],
          active: change.active ?? m.active,
          liveTokens: Math.max(0, change.liveTokens ?? m.liveTokens),
        }
      : { ...m, roles: [...m.roles], groups: [...m.groups] },
  );
}
