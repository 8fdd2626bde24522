// The safety check behind every membership change once Keyward is live (issue 13 item 4): the members as they
// would be after the change are judged by the pure reachability check against the policy in force, and a change
// that would make a reachable rule unreachable is refused — at proposal (nothing written) and again at execution
// (another change may have landed in between). Suspensions are never refused (a thief must be stoppable); their
// verdict is only reported. It reads in the caller's transaction and never writes.
//
// Only rules made unreachable BY the change count: a rule already unreachable before it (after a suspension, say)
// does not block changes that leave it so, or the invitation and the reinstatement that repair it could never pass.
import "server-only";
import type { DbOrTx } from "@/db/client";
import { eligibleMembers, type MemberChange, membershipAfter } from "@/server/governance/members-snapshot";
import { policyInForce } from "@/server/operations/policy-store";
import { type EligibleMember, type Unreachable, unreachableRules } from "@/server/policy/reachability";

/** What one membership change does to who may approve. An invitation adds nobody eligible until accepted. */
export type EligibilityChange = { memberId: string; change: MemberChange } | null;

export type ReachabilityVerdict = {
  /** Rules unreachable after the change that were reachable before it: what makes a change refused. */
  newlyUnreachable: Unreachable[];
  /** Every rule unreachable after the change (the warning shown after a suspension). */
  unreachable: Unreachable[];
};

/** Judges the change against the policy in force, in the caller's transaction (no policy yet: nothing to break). */
export async function reachabilityAfter(db: DbOrTx, change: EligibilityChange): Promise<ReachabilityVerdict> {
  const policy = await policyInForce(db);
  if (policy === null) return { newlyUnreachable: [], unreachable: [] };
  const before = await eligibleMembers(db);
  const after: EligibleMember[] =
    change === null ? before : membershipAfter(before, change.memberId, change.change);
  const was = new Set(unreachableRules(policy.document, before).map((u) => u.ruleId));
  const unreachable = unreachableRules(policy.document, after);
  return { newlyUnreachable: unreachable.filter((u) => !was.has(u.ruleId)), unreachable };
}

/** The refusal of a change in words, or null when it leaves every reachable rule reachable. */
export function refusalOf(verdict: ReachabilityVerdict): string | null {
  if (verdict.newlyUnreachable.length === 0) return null;
  return `this change would leave a rule unreachable: ${verdict.newlyUnreachable.map((u) => u.reason).join("; ")}`;
}
