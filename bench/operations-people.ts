// The people of bench/operations.ts, made through the real ceremonies (identity fixtures: setup code and
// invitations with software authenticators), and the one policy rule the 50-voter figure needs.
import type { Db } from "@/db/client";
import { updatePolicy } from "@/server/operations/policy-store";
import { DEFAULT_POLICY } from "@/server/policy/document";
import { firstAdmin, invitedMember, type Person } from "@/server/testing/identity-fixtures";

export type People = { admin: Person; operator: Person; approvers: Person[] };

/** The key tag whose operations need every approver's vote (the "50 voters on one operation" figure). */
export const ALL_VOTERS_TAG = "bench-all-voters";

export async function makePeople(db: Db, approverCount: number): Promise<People> {
  const now = new Date();
  const admin = await firstAdmin(db, { now });
  const operator = await invitedMember(db, admin.acting, { now, roles: ["operator"] });
  const approvers: Person[] = [];
  for (let i = 0; i < approverCount; i++) {
    approvers.push(
      await invitedMember(db, admin.acting, { now, roles: ["approver"], name: `Approver ${i + 1}` }),
    );
  }
  // The default rule (two approvals) judges everything else; operations tagged ALL_VOTERS_TAG need them all.
  await updatePolicy(db, {
    actor: admin.acting,
    now,
    document: {
      ...DEFAULT_POLICY,
      rules: [
        {
          id: "bench-all-voters",
          description: "Every approver (benchmark: many votes on one operation)",
          match: { keyTags: [ALL_VOTERS_TAG] },
          require: [{ group: "approvers", approvals: approverCount }],
        },
      ],
    },
  });
  return { admin, operator, approvers };
}
