// The keys row a key.create leaves: written in the transaction that marks the operation executed, with its
// key.created event. keys.operation_id and keys.hsm_ref are unique, so no operation can record two keys.
import "server-only";
import { and, eq } from "drizzle-orm";
import type { DbOrTx, Tx } from "@/db/client";
import { type KeyState, keys } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { StepRefusedError } from "./step-refused";
import type { CreatedKeyRecord } from "./types";

export async function recordCreatedKey(tx: Tx, key: CreatedKeyRecord, at: Date): Promise<{ keyId: string }> {
  const [row] = await tx
    .insert(keys)
    .values({ ...key, state: "active", createdAt: at, stateChangedAt: at })
    .returning({ id: keys.id });
  if (row === undefined) throw new Error("insert into keys returned no row");
  await appendAudit(tx, {
    action: "key.created",
    data: { keyId: row.id, ...key },
    actor: "system",
    subject: `key:${row.id}`,
    at,
  });
  return { keyId: row.id };
}

export async function keyStateOf(db: DbOrTx, keyId: string): Promise<KeyState | null> {
  const [row] = await db.select({ state: keys.state }).from(keys).where(eq(keys.id, keyId));
  return row?.state ?? null;
}

/**
 * key.resume's record, in the transaction that marks the operation executed: suspended → active (a
 * conditional update, so a repeat or a racing suspension is seen) with key.resumed. Already active counts as
 * done and writes nothing more; a key that moved on (compromised, destroyed…) since the step checked it
 * throws StepRefusedError, the transaction rolls back, and the repeated step fails the operation.
 */
export async function resumeKey(
  tx: Tx,
  input: { keyId: string; operationId: string },
  at: Date,
): Promise<"resumed" | "already-active"> {
  const [row] = await tx
    .update(keys)
    .set({ state: "active", stateChangedAt: at })
    .where(and(eq(keys.id, input.keyId), eq(keys.state, "suspended")))
    .returning({ id: keys.id });
  if (row === undefined) {
    const state = await keyStateOf(tx, input.keyId);
    if (state === "active") return "already-active";
    throw new StepRefusedError(`the key is ${state ?? "gone"}: it cannot be resumed`);
  }
  await appendAudit(tx, {
    action: "key.resumed",
    data: { keyId: input.keyId, operationId: input.operationId },
    actor: "system",
    subject: `key:${input.keyId}`,
    at,
  });
  return "resumed";
}
