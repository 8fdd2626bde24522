// The velocity recheck at execution: before a withdrawal is signed, its caps are judged once more under the
// velocity locks (velocity-lock.ts), with the history as committed now and its own amount counted once. Its
// approval already counted it (approved-but-unexecuted amounts always count), so this refuses only what changed
// since — a cap lowered by a new policy version, amounts recorded by a path that skipped the lock — and says by
// how much. The withdrawal's execute step (H4, server/withdrawals/execute.ts) calls it in a transaction and does
// not sign when it answers a refusal.
import "server-only";
import type { Tx } from "@/db/client";
import { chainConfig } from "@/server/chains/current";
import { allowListsFor, judgedVersionOf, policyOperation } from "@/server/operations/judgement";
import { policyVersion } from "@/server/operations/policy-store";
import type { OperationRow } from "@/server/operations/transitions";
import { matchRule } from "@/server/policy/evaluate";
import { checkVelocity, type VelocityResult } from "@/server/policy/velocity";
import { capBreachInWords, locksFor, takeVelocityLocks } from "./velocity-lock";
import { velocityFor } from "./velocity-sums";

export type VelocityRecheck = {
  /** Every cap of the operation's rule that applies to it, as judged now. */
  results: VelocityResult[];
  /** Null when every cap holds; else each breach in words ("over the 24 h limit of 10 ETH by 0.5 ETH"), joined. */
  refusal: string | null;
};

/**
 * Takes the velocity locks of `op` in `tx` (held until it commits), sums the history under them (velocityTotals) and judges
 * every cap of the rule `op` is judged under at `now`. An operation without an amount, or whose rule has no
 * cap, answers at once with no refusal and takes no lock.
 */
export async function recheckVelocity(tx: Tx, op: OperationRow, now: Date): Promise<VelocityRecheck> {
  const policy = (await policyVersion(tx, judgedVersionOf(op))).document;
  const operation = policyOperation(op);
  const allowLists = await allowListsFor(tx, policy, operation);
  const chains = locksFor(policy, operation, allowLists);
  if (chains.length === 0) return { results: [], refusal: null };
  await takeVelocityLocks(tx, chains);
  // Summed from the velocity ledger under the locks (velocity-sums.ts), its own amount counted once.
  const velocity = await velocityFor(tx, { policy, op: operation, allowLists, now, locked: chains });
  const { rule } = matchRule(policy, operation, allowLists);
  if (rule.deny) return { results: [], refusal: null };
  const assets = chainConfig().assets;
  const results = (rule.velocity ?? []).flatMap(
    (cap) => checkVelocity(cap, operation, velocity, now, assets) ?? [],
  );
  const breaches = results.flatMap((v) =>
    v.status === "within" ? [] : [capBreachInWords(v, operation.amount ?? 0n, assets)],
  );
  return { results, refusal: breaches.length > 0 ? breaches.join("; ") : null };
}
