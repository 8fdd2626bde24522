// The execution of a policy.update (server/operations/kinds/policy-update.ts), in the transaction that marks it
// executed: under the admin lock (every membership and token change takes it, so the members read here stay as
// they are until this commits) and the policy lock, the version in force must still be the one the change was
// made against, and every rule of the new document must still be reachable with the members as they are now;
// then the version is appended (policy.updated naming the operation) and open operations are judged again under
// it. Either check failing throws StepRefusedError: the executor rolls everything back and fails the operation
// with the reason, so nothing changes.
import "server-only";
import type { Tx } from "@/db/client";
import { takeAdminLock } from "@/server/members/admin-lock";
import { StepRefusedError } from "@/server/operations/executor/step-refused";
import { unreachableInWords } from "@/server/operations/kinds/policy-update";
import { appendPolicyVersion, lockPolicies, policyInForce } from "@/server/operations/policy-store";
import type { PolicyDocument } from "@/server/policy/document";
import { unreachableRules } from "@/server/policy/reachability";
import { eligibleMembers } from "./members-snapshot";
import { rejudgeOpenOperations } from "./rejudge";

/** The locks a policy.update's completion takes first, in the lock order: the admin lock, then the policy lock. */
export async function lockForPolicyUpdate(tx: Tx): Promise<void> {
  await takeAdminLock(tx);
  await lockPolicies(tx);
}

export async function applyPolicyUpdate(
  tx: Tx,
  input: { operationId: string; baseVersion: number; document: PolicyDocument; createdBy: string | null },
  at: Date,
): Promise<{ version: number; digest: string }> {
  // Already held when called through the executor (ExecuteResult.lock); advisory locks are re-entrant.
  await lockForPolicyUpdate(tx);
  const current = await policyInForce(tx);
  if (current === null || current.version !== input.baseVersion) {
    throw new StepRefusedError(
      `the policy changed after this change was proposed: version ${current?.version ?? "none"} is in force, and this change was made against version ${input.baseVersion}`,
    );
  }
  const unreachable = unreachableRules(input.document, await eligibleMembers(tx));
  if (unreachable.length > 0) {
    throw new StepRefusedError(
      `the new policy would leave ${unreachable.length === 1 ? "a rule" : "rules"} that nobody could meet with the members as they are now: ${unreachableInWords(unreachable)}`,
    );
  }
  const applied = await appendPolicyVersion(tx, {
    current,
    document: input.document,
    createdBy: input.createdBy,
    actor: "system",
    now: at,
    operationId: input.operationId,
  });
  await rejudgeOpenOperations(tx, { newVersion: applied.version, now: at, cause: "policy" });
  return { version: applied.version, digest: applied.digest };
}
