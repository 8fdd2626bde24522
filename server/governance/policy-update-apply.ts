// The execution of a policy.update (server/operations/kinds/policy-update.ts), in the transaction that marks it
// executed: under the admin lock (every membership and token change takes it, so the members read here stay as
// they are until this commits) and the policy lock, the version in force must still be the one the change was
// made against, and every rule of the new document must still be reachable with the members as they are now;
// then the version is appended (policy.updated naming the operation) and open operations are judged again under
// it. Either check failing throws StepRefusedError: the transaction rolls back (nothing changes), and the
// executor's repeated step meets the same check outside (policyUpdateRefusal) and fails the operation with it.
import "server-only";
import type { DbOrTx, Tx } from "@/db/client";
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

/**
 * Why `document` cannot replace version `baseVersion` now, or null: the version in force moved on, or a rule
 * would be unreachable with the members as `db` shows them. The same check, in words, outside (the step) and
 * inside (the completing transaction, under the locks).
 */
export async function policyUpdateRefusal(
  db: DbOrTx,
  input: { baseVersion: number; document: PolicyDocument },
): Promise<string | null> {
  const current = await policyInForce(db);
  if (current === null || current.version !== input.baseVersion) {
    return `the policy changed after this change was proposed: version ${current?.version ?? "none"} is in force, and this change was made against version ${input.baseVersion}`;
  }
  const unreachable = unreachableRules(input.document, await eligibleMembers(db));
  if (unreachable.length > 0) {
    return `the new policy would leave ${unreachable.length === 1 ? "a rule" : "rules"} that nobody could meet with the members as they are now: ${unreachableInWords(unreachable)}`;
  }
  return null;
}

export async function applyPolicyUpdate(
  tx: Tx,
  input: { operationId: string; baseVersion: number; document: PolicyDocument; createdBy: string | null },
  at: Date,
): Promise<{ version: number; digest: string }> {
  // Already held when called through the executor (ExecuteResult.lock); advisory locks are re-entrant.
  await lockForPolicyUpdate(tx);
  const refusal = await policyUpdateRefusal(tx, input);
  if (refusal !== null) throw new StepRefusedError(refusal);
  const current = await policyInForce(tx);
  if (current === null) throw new StepRefusedError("no policy is in force");
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
