// The operation state machine. Every change of state goes through transition(): the row is updated only if it is
// still in the state the caller saw, and the audit event operation.<state> is appended in the same transaction,
// so no operation moves without its record, and two racing movers cannot both move it.
import "server-only";
import { and, eq } from "drizzle-orm";
import type { PgUpdateSetSource } from "drizzle-orm/pg-core";
import type { Tx } from "@/db/client";
import { type OperationState, operations } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import type { Actor, AuditEvent } from "@/server/audit/events";
import { AppError } from "@/server/errors";

export type OperationRow = typeof operations.$inferSelect;

/**
 * Where each state may go. pending is only ever a starting point; executed, failed and the rest are final.
 * waiting: the votes met the rule, but a delay, a closed window or a velocity cap holds it (settle.ts); judged
 * again at its release time it is approved, or cancelled when the policy now denies it; a veto rejects it.
 */
export const TRANSITIONS: Readonly<Record<OperationState, readonly OperationState[]>> = {
  pending: ["waiting", "approved", "rejected", "expired", "cancelled"],
  waiting: ["approved", "rejected", "cancelled"],
  // cancelled: re-judged under a new policy version that denies it before the executor claimed it (governance/rejudge.ts).
  approved: ["executing", "cancelled"],
  executing: ["executed", "failed"],
  executed: [],
  failed: [],
  rejected: [],
  expired: [],
  cancelled: [],
};

export const FINAL_STATES: readonly OperationState[] = [
  "executed",
  "failed",
  "rejected",
  "expired",
  "cancelled",
];

export function canTransition(from: OperationState, to: OperationState): boolean {
  return TRANSITIONS[from].includes(to);
}

export type TargetState = Exclude<OperationState, "pending">;
/** The audit event recording a move to `S`: operation.approved for approved, and so on. */
export type TransitionEvent<S extends TargetState> = Extract<AuditEvent, { action: `operation.${S}` }>;

/** The moves that decide an operation: they stamp decided_at (waiting is not one; it stamps quorum_at). */
const DECISIONS: readonly OperationState[] = ["approved", "rejected", "expired", "cancelled"];

/**
 * Moves operation `id` from `from` to `to` if it is still in `from`, with `set` (extra columns: executing_since,
 * attempts, result, failure…), and appends `event` in the same transaction. A decision (approved, rejected,
 * expired, cancelled, from pending or waiting) stamps decided_at. Throws CONFLICT when the move is not allowed
 * or the row has moved on.
 */
export async function transition<S extends TargetState>(
  tx: Tx,
  input: {
    id: string;
    from: OperationState;
    to: S;
    actor: Actor;
    at: Date;
    event: TransitionEvent<S>;
    set?: PgUpdateSetSource<typeof operations>;
  },
): Promise<OperationRow> {
  if (!canTransition(input.from, input.to)) {
    throw new AppError("CONFLICT", `An operation that is ${input.from} cannot become ${input.to}.`);
  }
  if (input.event.action !== `operation.${input.to}`) {
    throw new AppError("INTERNAL", `transition to ${input.to} recorded as ${input.event.action}`);
  }
  const decided = (input.from === "pending" || input.from === "waiting") && DECISIONS.includes(input.to);
  const [row] = await tx
    .update(operations)
    .set({ ...input.set, state: input.to, ...(decided ? { decidedAt: input.at } : {}) })
    .where(and(eq(operations.id, input.id), eq(operations.state, input.from)))
    .returning();
  if (!row) {
    throw new AppError(
      "CONFLICT",
      `This operation is no longer ${input.from}. Reload to see where it stands.`,
    );
  }
  await appendAudit(tx, {
    ...input.event,
    actor: input.actor,
    subject: operationSubject(input.id),
    at: input.at,
  });
  return row;
}

/** The audit subject of an operation: its whole story is read by it. */
export function operationSubject(id: string): string {
  return `operation:${id}`;
}
