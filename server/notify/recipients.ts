// Who is told about each event, read from the database as it is when the event is derived: approvers who may
// vote on a proposal; the initiator (admins when Keyward proposed it) on an outcome; everyone who voted and the
// veto group when a delay starts. Members' own choices and addresses filter this list in derive.ts.
import "server-only";
import { and, arrayContains, eq, inArray } from "drizzle-orm";
import type { Tx } from "@/db/client";
import { members, votes } from "@/db/schema";
import type { NotifyEvent } from "@/db/schema/notifications";
import { policyVersion } from "@/server/operations/policy-store";
import { APPROVER_ROLE, DEFAULT_RULE_ID } from "@/server/policy/constants";
import { approvingMembership, inGroup } from "@/server/policy/quorum";
import { approvalSets } from "@/server/policy/schema";

type MemberRow = { id: string; roles: string[]; groups: string[] };

const asPerson = (m: Pick<MemberRow, "roles" | "groups">) => ({
  roles: new Set(m.roles),
  groups: new Set(m.groups),
});

async function activeMembers(tx: Tx): Promise<MemberRow[]> {
  return tx
    .select({ id: members.id, roles: members.roles, groups: members.groups })
    .from(members)
    .where(eq(members.status, "active"));
}

/**
 * The groups whose approvals the rule counts (its requirements and alternatives), or null when the rule cannot
 * be read (a deny rule never has pending operations; a missing version is reported elsewhere): then every
 * approver is asked, which errs on the side of telling someone.
 */
async function ruleGroups(tx: Tx, version: number, ruleId: string): Promise<string[] | null> {
  try {
    const { document } = await policyVersion(tx, version);
    const rule =
      document.rules.find((r) => r.id === ruleId) ??
      ((document.default.id ?? DEFAULT_RULE_ID) === ruleId ? document.default : undefined);
    if (!rule || rule.deny) return null;
    return approvalSets(rule)
      .flat()
      .map((r) => r.group);
  } catch {
    return null;
  }
}

/**
 * Active members other than the initiator whose approval counts under the operation's rule: approvers in its
 * groups, and admins where it names the admins (quorum.ts approvingMembership).
 */
export async function votersToAsk(
  tx: Tx,
  op: { initiatorId: string | null; policyVersion: number; ruleId: string },
): Promise<string[]> {
  const groups = await ruleGroups(tx, op.policyVersion, op.ruleId);
  return (await activeMembers(tx))
    .filter((m) => m.id !== op.initiatorId)
    .filter((m) => {
      const counts = approvingMembership(m);
      if (counts === null) return false;
      return groups === null
        ? m.roles.includes(APPROVER_ROLE)
        : groups.some((g) => inGroup(asPerson(counts), g));
    })
    .map((m) => m.id);
}

/** The initiator if still active, or every active admin when Keyward proposed the operation itself. */
export async function initiatorOrAdmins(tx: Tx, op: { initiatorId: string | null }): Promise<string[]> {
  if (op.initiatorId !== null) {
    const rows = await tx
      .select({ id: members.id })
      .from(members)
      .where(and(eq(members.id, op.initiatorId), eq(members.status, "active")));
    return rows.map((r) => r.id);
  }
  const admins = await tx
    .select({ id: members.id })
    .from(members)
    .where(and(arrayContains(members.roles, ["admin"]), eq(members.status, "active")));
  return admins.map((r) => r.id);
}

/**
 * Everyone who voted on the operation (still active), and the active members of the veto group other than the
 * initiator (who may not veto their own operation, server/operations/vote.ts).
 */
export async function votersAndVetoGroup(
  tx: Tx,
  op: { id: string; initiatorId: string | null },
  vetoGroup: string | null,
): Promise<string[]> {
  const voted = await tx.select({ id: votes.voterId }).from(votes).where(eq(votes.operationId, op.id));
  const ids = new Set<string>();
  if (voted.length > 0) {
    const active = await tx
      .select({ id: members.id })
      .from(members)
      .where(
        and(
          inArray(
            members.id,
            voted.map((v) => v.id),
          ),
          eq(members.status, "active"),
        ),
      );
    for (const m of active) ids.add(m.id);
  }
  if (vetoGroup !== null) {
    for (const m of await activeMembers(tx))
      if (m.id !== op.initiatorId && inGroup(asPerson(m), vetoGroup)) ids.add(m.id);
  }
  return [...ids].sort();
}

/** The member ids an event concerns, before their own choices are applied. */
export async function recipientsOf(
  tx: Tx,
  event: NotifyEvent,
  op: { id: string; initiatorId: string | null; policyVersion: number; ruleId: string },
  vetoGroup: string | null,
): Promise<string[]> {
  if (event === "operation.proposed") return votersToAsk(tx, op);
  if (event === "operation.waiting") return votersAndVetoGroup(tx, op, vetoGroup);
  return initiatorOrAdmins(tx, op);
}
