// A key.create batch's progress for its live subscription (operations.onBatchProgress): how many of its keys are
// recorded, of how many, and the operation's state. The executor records each chunk of keys in one transaction
// with one key.created per key, on the key's subject (not the operation's), and moves operations.progress in
// that same transaction; so a change to any key, or to the operation itself, is what may move it. One row read;
// nothing about a single key.create (null), nothing beyond what operations.get shows.
import "server-only";
import { eq } from "drizzle-orm";
import type { Db } from "@/db/client";
import { type OperationState, operations } from "@/db/schema";
import { AppError } from "@/server/errors";
import { keyCreatePayloadSchema } from "@/server/operations/kinds/key-create";
import { type Change, touches } from "./audit-head";

export type BatchProgress = { state: OperationState; done: number; total: number };

/** The batch's progress now, or null when the operation is not a key.create batch. */
export async function batchProgress(db: Db, operationId: string): Promise<BatchProgress | null> {
  const [op] = await db
    .select({
      kind: operations.kind,
      state: operations.state,
      payload: operations.payload,
      progress: operations.progress,
    })
    .from(operations)
    .where(eq(operations.id, operationId));
  if (op === undefined) throw new AppError("NOT_FOUND", "No such operation.");
  if (op.kind !== "key.create") return null;
  const payload = keyCreatePayloadSchema.safeParse(op.payload);
  const total = op.progress?.total ?? (payload.success ? payload.data.batch?.count : undefined);
  if (total === undefined) return null;
  return { state: op.state, done: op.progress?.done ?? 0, total };
}

/** The operation's own events (claimed, executed, failed) and any key's (a chunk's key.created). */
export function touchesBatch(operationId: string): (change: Change) => boolean {
  return (change) => touches(change, { subjects: [`operation:${operationId}`], kinds: ["key"] });
}
