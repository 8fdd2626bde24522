// Open operations judged again after the policy or the membership changed, by one fixed rule (ARCHITECTURE.md,
// "Operations"; server/operations/README.md, invariant 12), in the caller's transaction — the one that made the
// change, under the policy lock, so no operation is judged under a version that is not yet (or no longer) the
// one in force:
// - every open operation (pending before its expiry, waiting, approved and not yet claimed) is matched again
//   under the new version, and its votes counted again with each voter as they are now: votes of people who
//   lost eligibility (suspended, no longer approvers, out of the group) stop counting, the rest keep counting;
// - one the new version denies is cancelled, with the reason in words (operation.cancelled with `reason`);
// - otherwise it records the version and rule it is now judged under (judged_version, judged_rule_id) and moves
//   on if its votes now meet the new rule (approved, or waiting for a delay or window: settle.ts), or ends
//   rejected if its rejections now do; a waiting one whose votes no longer meet the rule is cancelled (settle.ts);
//   an approved (unclaimed) one is cancelled only when denied: it was decided, it cannot return to pending, and
//   votes that stop counting after an approval never stopped it (a voter suspended after it, say);
// - its digest and its recorded policy_version / rule_id never change, so every vote stays bound to what the
//   voter saw; one operation.rejudged per operation records the rule before and after and the outcome.
// Only an `approved` judgement under the new version makes an operation approved; one being executed is never touched.
import "server-only";
import { and, asc, eq, gt, inArray, or } from "drizzle-orm";
import type { Tx } from "@/db/client";
import { type OperationState, operations } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import type { Actor } from "@/server/audit/events";
import type { CancellationRecord } from "@/server/operations/cancel";
import { castVotes, judgedVersionOf, judgeWith } from "@/server/operations/judgement";
import { lockPolicies, policyInForce, policyVersion } from "@/server/operations/policy-store";
import { settleJudgement } from "@/server/operations/settle";
import { type OperationRow, operationSubject, transition } from "@/server/operations/transitions";

export type RejudgeCause = "policy" | "membership";
export type RejudgeOutcome = "kept" | "approved" | "waiting" | "rejected" | "cancelled";

export type Rejudged = {
  operationId: string;
  fromVersion: number;
  toVersion: number;
  fromRule: string;
  toRule: string;
  outcome: RejudgeOutcome;
  reasons: string[];
};

const MAX_REASON = 500;
const bounded = (s: string) => (s.length <= MAX_REASON ? s : `${s.slice(0, MAX_REASON - 1)}…`);

/**
 * Judges every open operation again under policy version `newVersion` at `now` (see the file comment), in `tx`,
 * each under its row lock (taken for all of them at once, in id order). `cause` says why (a policy.update, a
 * membership change); `actor` is who the moves are recorded by (Keyward itself unless told).
 */
export async function rejudgeOpenOperations(
  tx: Tx,
  input: { newVersion: number; now: Date; cause: RejudgeCause; actor?: Actor },
): Promise<Rejudged[]> {
  const actor = input.actor ?? "system";
  const policy = await policyVersion(tx, input.newVersion);
  // Pending ones past their expiry are the expiry sweep's: re-judging must not approve what can no longer be voted on.
  const open = await tx
    .select()
    .from(operations)
    .where(
      or(
        and(eq(operations.state, "pending"), gt(operations.expiresAt, input.now)),
        inArray(operations.state, ["waiting", "approved"] satisfies OperationState[]),
      ),
    )
    .orderBy(asc(operations.id))
    .for("update");
  if (open.length === 0) return [];
  const allVotes = await castVotes(
    tx,
    open.map((op) => op.id),
  );
  const done: Rejudged[] = [];
  for (const op of open) {
    const cast = allVotes.filter((v) => v.operationId === op.id);
    const evaluation = await judgeWith(tx, { op, cast, policy: policy.document, now: input.now });
    const fromVersion = judgedVersionOf(op);
    const fromRule = op.judgedRuleId ?? op.ruleId;
    const [judged] = await tx
      .update(operations)
      .set({ judgedVersion: input.newVersion, judgedRuleId: evaluation.ruleId })
      .where(and(eq(operations.id, op.id), eq(operations.state, op.state)))
      .returning();
    // Locked above, so it cannot have moved; if it somehow did, the mover recorded it and there is nothing to do.
    if (judged === undefined) continue;
    const outcome = await settle(tx, judged, evaluation, { actor, at: input.now });
    const reasons = evaluation.reasons.slice(0, 16).map(bounded);
    await appendAudit(tx, {
      action: "operation.rejudged",
      actor,
      subject: operationSubject(op.id),
      at: input.now,
      data: {
        operationId: op.id,
        fromVersion,
        toVersion: input.newVersion,
        fromRule,
        toRule: evaluation.ruleId,
        outcome,
        cause: input.cause,
        reasons,
      },
    });
    done.push({
      operationId: op.id,
      fromVersion,
      toVersion: input.newVersion,
      fromRule,
      toRule: evaluation.ruleId,
      outcome,
      reasons,
    });
  }
  return done;
}

/**
 * For a change that appends no version (a membership operation's execution): takes the policy lock, so no
 * policy.update appends a version while this judges, and re-judges every open operation under the version in
 * force. In the change's transaction, after its own locks (the admin lock comes before the policy lock).
 */
export async function rejudgeUnderPolicyInForce(
  tx: Tx,
  input: { now: Date; cause: RejudgeCause; actor?: Actor },
): Promise<Rejudged[]> {
  await lockPolicies(tx);
  const current = await policyInForce(tx);
  if (current === null) return [];
  return rejudgeOpenOperations(tx, { ...input, newVersion: current.version });
}

type Judgement = Awaited<ReturnType<typeof judgeWith>>;

/** What the judgement does to the operation: settle.ts for pending and waiting; approved ones end only if denied. */
async function settle(
  tx: Tx,
  op: OperationRow,
  e: Judgement,
  ctx: { actor: Actor; at: Date },
): Promise<RejudgeOutcome> {
  if (op.state === "approved") {
    // Decided already: only a denial by the new version stops it. Votes that stopped counting since do not send it
    // back (it cannot return to pending), as a voter suspended after an approval never did.
    if (e.decision !== "denied") return "kept";
    const reason = bounded(`the policy now denies it: ${e.reasons.join("; ")}`);
    const record: CancellationRecord = { cancellation: { by: "system", reason } };
    await transition(tx, {
      id: op.id,
      from: "approved",
      to: "cancelled",
      actor: ctx.actor,
      at: ctx.at,
      set: { result: record },
      event: { action: "operation.cancelled", data: { operationId: op.id, reason } },
    });
    return "cancelled";
  }
  const after = await settleJudgement(tx, op, e, ctx);
  if (after === op.state) return "kept";
  if (after === "approved" || after === "waiting" || after === "rejected" || after === "cancelled")
    return after;
  return "kept";
}
