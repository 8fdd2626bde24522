// What a judgement does to a pending or waiting operation, in the caller's transaction and under its row lock:
// approved, rejected, waiting (its votes met the rule, but a delay runs, its window is closed or a velocity cap
// is full: quorum_at, release_at, hold, operation.waiting, and a release job at release_at enqueued in the same
// transaction), or cancelled with the reason when the policy now denies it. Never approves anything early: only
// an `approved` judgement makes an operation approved, and the executor claims nothing else.
import "server-only";
import { and, eq } from "drizzle-orm";
import type { Tx } from "@/db/client";
import { type OperationHold, type OperationState, operations } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import type { Actor } from "@/server/audit/events";
import type { PolicyEvaluation } from "@/server/policy/evaluate";
import type { CancellationRecord } from "./cancel";
import { enqueueJob } from "./scheduler/jobs";
import { type OperationRow, operationSubject, transition } from "./transitions";

/** The one-off job that judges a waiting operation again at its release_at (release.ts runs it). */
export const OPERATION_RELEASE_JOB = "operation.release";

export type SettleContext = { actor: Actor; at: Date };

type Held = { hold: OperationHold; until: Date | null; vetoGroup: string | null };

/** What holds an operation its votes approve: the delay (veto group), the window or a velocity cap. */
export function heldBy(e: PolicyEvaluation): Held | null {
  if (e.decision === "waiting") return { hold: "delay", until: e.until, vetoGroup: e.vetoGroup };
  if (e.decision === "deferred") return { hold: e.hold, until: e.until, vetoGroup: null };
  return null;
}

function decided(e: PolicyEvaluation) {
  return {
    ruleId: e.ruleId,
    tally: e.tally.map((t) => ({ group: t.group, needed: t.needed, approvals: t.approvals })),
    votesCounted: new Set([
      ...e.tally.flatMap((t) => t.voterIds),
      ...e.rejections.voterIds,
      ...(e.vetoes?.voterIds ?? []),
    ]).size,
  };
}

const MAX_REASON = 500;
const bounded = (s: string) => (s.length <= MAX_REASON ? s : `${s.slice(0, MAX_REASON - 1)}…`);

function waitingEvent(op: OperationRow, e: PolicyEvaluation, held: Held) {
  return {
    action: "operation.waiting" as const,
    data: {
      operationId: op.id,
      ruleId: e.ruleId,
      until: held.until?.toISOString() ?? null,
      hold: held.hold,
      vetoGroup: held.vetoGroup,
      reasons: e.reasons.slice(0, 16).map(bounded),
    },
  };
}

/** The release job for `op` at `until` (subject operation:<id>), in the caller's transaction. */
async function enqueueRelease(tx: Tx, op: OperationRow, until: Date, now: Date) {
  await enqueueJob(tx, { kind: OPERATION_RELEASE_JOB, runAt: until, subject: operationSubject(op.id), now });
}

async function cancel(tx: Tx, op: OperationRow, reason: string, ctx: SettleContext) {
  const record: CancellationRecord = { cancellation: { by: "system", reason: bounded(reason) } };
  return transition(tx, {
    id: op.id,
    from: op.state,
    to: "cancelled",
    actor: ctx.actor,
    at: ctx.at,
    set: { result: record },
    event: { action: "operation.cancelled", data: { operationId: op.id, reason: bounded(reason) } },
  });
}

/**
 * Acts on `e`, the judgement of `op` (read under its row lock in `tx`) at `ctx.at`; returns the state it is in
 * after. From pending: approved, rejected, waiting, or cancelled when denied (a window that denies has closed, a
 * cap that denies is full); pending stays pending. From waiting: approved, rejected (a veto), waiting again with
 * the new release time (the delay ended but the window is closed), or cancelled when denied or when its votes no
 * longer meet the rule (a voter suspended since). Any other state is left as it is.
 */
export async function settleJudgement(
  tx: Tx,
  op: OperationRow,
  e: PolicyEvaluation,
  ctx: SettleContext,
): Promise<OperationState> {
  return (await settledRow(tx, op, e, ctx)).state;
}

/**
 * settleJudgement, answering with the operation's row as it is after (as the statement that moved it returned
 * it; `op` itself when nothing moved), so a caller needs no second read.
 */
export async function settledRow(
  tx: Tx,
  op: OperationRow,
  e: PolicyEvaluation,
  ctx: SettleContext,
): Promise<OperationRow> {
  if (op.state !== "pending" && op.state !== "waiting") return op;
  const base = { id: op.id, from: op.state, actor: ctx.actor, at: ctx.at } as const;
  if (e.decision === "approved") {
    return transition(tx, {
      ...base,
      to: "approved",
      // From pending, its votes met the rule now; from waiting, quorum_at, release_at and hold stay as the record.
      ...(op.state === "pending" ? { set: { quorumAt: ctx.at } } : {}),
      event: { action: "operation.approved", data: { operationId: op.id, ...decided(e) } },
    });
  }
  if (e.decision === "rejected") {
    return transition(tx, {
      ...base,
      to: "rejected",
      event: { action: "operation.rejected", data: { operationId: op.id, ...decided(e) } },
    });
  }
  if (e.decision === "denied")
    return cancel(tx, op, `the policy now denies it: ${e.reasons.join("; ")}`, ctx);
  if (e.decision === "pending") {
    if (op.state === "pending") return op;
    return cancel(tx, op, `its votes no longer meet the rule: ${e.reasons.join("; ")}`, ctx);
  }
  const held = heldBy(e);
  if (held === null) return op;
  if (op.state === "pending") {
    const waiting = await transition(tx, {
      ...base,
      to: "waiting",
      set: { quorumAt: ctx.at, releaseAt: held.until, hold: held.hold },
      event: waitingEvent(op, e, held),
    });
    if (held.until !== null) await enqueueRelease(tx, op, held.until, ctx.at);
    return waiting;
  }
  // Still held: a new release time or hold is recorded (and its job enqueued); the same one changes nothing.
  if (op.hold === held.hold && op.releaseAt?.getTime() === held.until?.getTime()) return op;
  const [moved] = await tx
    .update(operations)
    .set({ releaseAt: held.until, hold: held.hold })
    .where(and(eq(operations.id, op.id), eq(operations.state, "waiting")))
    .returning();
  if (moved === undefined) return op;
  await appendAudit(tx, {
    ...waitingEvent(op, e, held),
    actor: ctx.actor,
    subject: operationSubject(op.id),
    at: ctx.at,
  });
  if (held.until !== null) await enqueueRelease(tx, op, held.until, ctx.at);
  return moved;
}
