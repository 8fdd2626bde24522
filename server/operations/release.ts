// Waiting operations judged again when their time comes: the one-off `operation.release` job at release_at
// (enqueued by settle.ts in the transaction that set it), and a periodic sweep for holds with no known time (a
// velocity cap waiting on unexecuted amounts) and for any due one whose job was lost. Each release judges the
// operation under its row lock at that moment and acts on the answer (settle.ts): approved (the executor then
// claims it), still held (a new release_at, a new job), rejected, or cancelled with the reason. Never early.
import "server-only";
import { and, asc, eq, isNull, lte, or } from "drizzle-orm";
import type { Db } from "@/db/client";
import { type OperationState, operations } from "@/db/schema";
import { judgeOperation } from "./judgement";
import { settleJudgement } from "./settle";

const BATCH = 100;

/**
 * Judges operation `operationId` again at `now` if it is waiting and due (release_at at or before now, or null),
 * under its row lock; returns its state after, or null when there is no such operation. Two processes releasing
 * it at once: the second waits for the first's lock, then finds it moved on (or re-held) and does nothing.
 */
export async function releaseOperation(
  db: Db,
  input: { operationId: string; now: Date },
): Promise<OperationState | null> {
  return db.transaction(async (tx) => {
    const [op] = await tx.select().from(operations).where(eq(operations.id, input.operationId)).for("update");
    if (op === undefined) return null;
    if (op.state !== "waiting") return op.state;
    if (op.releaseAt !== null && op.releaseAt > input.now) return op.state;
    const evaluation = await judgeOperation(tx, op, input.now);
    return settleJudgement(tx, op, evaluation, { actor: "system", at: input.now });
  });
}

/**
 * The sweep: every waiting operation due now (release_at at or before now) or held with no known time, each
 * judged again in a transaction of its own. Returns how many left waiting.
 */
export async function releaseDue(db: Db, now: Date): Promise<number> {
  const due = await db
    .select({ id: operations.id })
    .from(operations)
    .where(
      and(eq(operations.state, "waiting"), or(isNull(operations.releaseAt), lte(operations.releaseAt, now))),
    )
    .orderBy(asc(operations.releaseAt), asc(operations.id))
    .limit(BATCH);
  let released = 0;
  for (const { id } of due) {
    const state = await releaseOperation(db, { operationId: id, now });
    if (state !== null && state !== "waiting") released++;
  }
  return released;
}

/** The operation id a release job's subject names (operation:<id>), else null. */
export function releaseSubject(subject: string | null): string | null {
  const match = /^operation:([0-9a-f-]{36})$/.exec(subject ?? "");
  return match?.[1] ?? null;
}
