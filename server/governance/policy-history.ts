// Every version of the policy, newest first, for the policy page: number, when, by whom, digest. Read only;
// the documents stay out (the version in force is policy.current; an old one explains old votes elsewhere).
import "server-only";
import { desc, eq } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { members, policyVersions } from "@/db/schema";

export type PolicyHistoryEntry = {
  version: number;
  createdAt: Date;
  /** Who appended it (directly in setup, or as the proposer of the policy.update operation); null for the seed. */
  createdBy: { id: string; name: string } | null;
  digest: string;
};

export async function policyHistory(db: DbOrTx): Promise<PolicyHistoryEntry[]> {
  const rows = await db
    .select({
      version: policyVersions.version,
      createdAt: policyVersions.createdAt,
      digest: policyVersions.digest,
      memberId: members.id,
      memberName: members.name,
    })
    .from(policyVersions)
    .leftJoin(members, eq(members.id, policyVersions.createdBy))
    .orderBy(desc(policyVersions.version));
  return rows.map((r) => ({
    version: r.version,
    createdAt: r.createdAt,
    createdBy: r.memberId !== null && r.memberName !== null ? { id: r.memberId, name: r.memberName } : null,
    digest: r.digest,
  }));
}
