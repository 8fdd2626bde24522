// The keys rows the lifecycle kinds leave, each written in the transaction that marks the operation executed,
// with its audit event: key.create (the row, key.created), key.activate, key.resume, key.revoke, key.destroy (the schedule and
// its job), key.rotate (the successor and the deactivated predecessor). keys.operation_id and keys.hsm_ref are
// unique, so no operation can record two keys; keys.predecessor_id is unique, so no key gets two successors.
import "server-only";
import { and, eq, inArray } from "drizzle-orm";
import type { DbOrTx, Tx } from "@/db/client";
import { type KeyState, keys } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { enqueueJob } from "../scheduler/jobs";
import { StepRefusedError } from "./step-refused";
import type { CreatedKeyRecord } from "./types";
import { enqueueRotationSweep } from "@/server/withdrawals/rotation-sweep-job";

/** The keys row and key.created: state active, or pre-activation when the key.create asked for it. */
export async function recordCreatedKey(tx: Tx, key: CreatedKeyRecord, at: Date): Promise<{ keyId: string }> {
  const [row] = await tx
    .insert(keys)
    .values({ ...key, state: key.state ?? "active", createdAt: at, stateChangedAt: at })
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
 * A loosening's record, in the transaction that marks the operation executed: `from` → active (a conditional
 * update, so a repeat or a racing restriction is seen) with its audit event. Already active counts as done and
 * writes nothing more; a key that moved on (compromised, deactivated by a scheduled destruction, destroyed…)
 * since the step checked it throws StepRefusedError, the transaction rolls back, and the repeated step fails the
 * operation.
 */
async function makeActive(
  tx: Tx,
  input: { keyId: string; operationId: string },
  at: Date,
  how: { from: KeyState; action: "key.resumed" | "key.activated"; refusal: string },
): Promise<"done" | "already-active"> {
  const [row] = await tx
    .update(keys)
    .set({ state: "active", stateChangedAt: at })
    .where(and(eq(keys.id, input.keyId), eq(keys.state, how.from)))
    .returning({ id: keys.id });
  if (row === undefined) {
    const state = await keyStateOf(tx, input.keyId);
    if (state === "active") return "already-active";
    throw new StepRefusedError(`the key is ${state ?? "gone"}: ${how.refusal}`);
  }
  await appendAudit(tx, {
    action: how.action,
    data: { keyId: input.keyId, operationId: input.operationId },
    actor: "system",
    subject: `key:${input.keyId}`,
    at,
  });
  return "done";
}

/** key.resume's record: suspended → active with key.resumed (makeActive). */
export async function resumeKey(
  tx: Tx,
  input: { keyId: string; operationId: string },
  at: Date,
): Promise<"resumed" | "already-active"> {
  const how = { from: "suspended", action: "key.resumed", refusal: "it cannot be resumed" } as const;
  return (await makeActive(tx, input, at, how)) === "done" ? "resumed" : "already-active";
}

/** key.activate's record: pre-activation → active with key.activated (makeActive). */
export async function activateKey(
  tx: Tx,
  input: { keyId: string; operationId: string },
  at: Date,
): Promise<"activated" | "already-active"> {
  const how = {
    from: "pre-activation",
    action: "key.activated",
    refusal: "only a key in pre-activation can be activated",
  } as const;
  return (await makeActive(tx, input, at, how)) === "done" ? "activated" : "already-active";
}

/** The key as an execute step reads it (outside any transaction), or null when there is no such key. */
export async function keyOf(db: DbOrTx, keyId: string): Promise<KeyRow | null> {
  const [row] = await db.select().from(keys).where(eq(keys.id, keyId));
  return row ?? null;
}

export type KeyRow = typeof keys.$inferSelect;

/**
 * The states a key may be revoked from: any in which it exists and is not already final. Pre-activation too:
 * NIST SP 800-57 lets a key that was never activated become compromised (it must then never be activated).
 */
export const REVOCABLE_STATES = [
  "pre-activation",
  "active",
  "suspended",
  "deactivated",
] as const satisfies readonly KeyState[];

/**
 * key.revoke's record, in the transaction that marks the operation executed: pre-activation, active, suspended
 * or deactivated → compromised (a conditional update), with key.revoked and the reason. Compromised is final except for
 * destruction: nothing moves a key out of it but a destroy. Already compromised counts as done and writes
 * nothing more; a key destroyed since the step checked it throws StepRefusedError.
 */
export async function revokeKey(
  tx: Tx,
  input: { keyId: string; operationId: string; reason: string },
  at: Date,
): Promise<"revoked" | "already-compromised"> {
  const [before] = await tx
    .select({ state: keys.state })
    .from(keys)
    .where(eq(keys.id, input.keyId))
    .for("update");
  if (before?.state === "compromised") return "already-compromised";
  const [row] = await tx
    .update(keys)
    .set({ state: "compromised", stateChangedAt: at })
    .where(and(eq(keys.id, input.keyId), inArray(keys.state, [...REVOCABLE_STATES])))
    .returning({ id: keys.id });
  if (row === undefined || before === undefined)
    throw new StepRefusedError(`the key is ${before?.state ?? "gone"}: it cannot be revoked`);
  await appendAudit(tx, {
    action: "key.revoked",
    data: {
      keyId: input.keyId,
      operationId: input.operationId,
      reason: input.reason,
      previousState: before.state,
    },
    actor: "system",
    subject: `key:${input.keyId}`,
    at,
  });
  return "revoked";
}

/**
 * The states from which a destruction may be scheduled: every state but destroyed. Pre-activation too (NIST SP
 * 800-57 lets a key never activated be destroyed): during the waiting period it is deactivated like an active or
 * suspended key, so it cannot be activated; a cancelled destruction returns it to pre-activation.
 */
export const DESTROYABLE_STATES = [
  "pre-activation",
  "active",
  "suspended",
  "deactivated",
  "compromised",
] as const satisfies readonly KeyState[];

/** The one-off scheduler job that destroys a key at its destroy_after (server/operations/key-destruction.ts). */
export const KEY_DESTROY_JOB = "key.destroy";

/** What a key.destroy job carries: the operation that scheduled it, and the state the key was in before. */
export type KeyDestroyJobPayload = { operationId: string; previousState: KeyState };

/**
 * key.destroy's record, in the transaction that marks the operation executed: the destruction is scheduled,
 * not done. The key stops signing now (pre-activation, active or suspended → deactivated; deactivated and compromised keep
 * their state), destroy_after = at + waitingDays, the one-off key.destroy job is enqueued for that instant in
 * this same transaction (it exists exactly when the schedule does), and key.destruction_scheduled is written.
 * A key already scheduled for destruction, destroyed, or gone throws StepRefusedError (destroying twice is
 * refused; the transaction rolls back and the repeated step fails the operation).
 */
export async function scheduleKeyDestruction(
  tx: Tx,
  input: { keyId: string; operationId: string; waitingDays: number },
  at: Date,
): Promise<{ destroyAfter: Date }> {
  const [key] = await tx.select().from(keys).where(eq(keys.id, input.keyId)).for("update");
  if (key === undefined) throw new StepRefusedError(`the key ${input.keyId} does not exist`);
  if (key.destroyAfter !== null)
    throw new StepRefusedError(
      `the key's destruction is already scheduled for ${key.destroyAfter.toISOString()}`,
    );
  if (!DESTROYABLE_STATES.some((s) => s === key.state))
    throw new StepRefusedError(`the key is ${key.state}: it cannot be destroyed`);
  const destroyAfter = new Date(at.getTime() + input.waitingDays * 86_400_000);
  const nextState: KeyState = key.state === "compromised" ? "compromised" : "deactivated";
  await tx
    .update(keys)
    .set({
      state: nextState,
      destroyAfter,
      ...(nextState !== key.state ? { stateChangedAt: at } : {}),
    })
    .where(eq(keys.id, input.keyId));
  const payload: KeyDestroyJobPayload = { operationId: input.operationId, previousState: key.state };
  const job = await enqueueJob(tx, {
    kind: KEY_DESTROY_JOB,
    runAt: destroyAfter,
    subject: `key:${input.keyId}`,
    payload,
    now: at,
  });
  await appendAudit(tx, {
    action: "key.destruction_scheduled",
    data: {
      keyId: input.keyId,
      operationId: input.operationId,
      waitingDays: input.waitingDays,
      destroyAfter: destroyAfter.toISOString(),
      previousState: key.state,
      jobId: job.id,
    },
    actor: "system",
    subject: `key:${input.keyId}`,
    at,
  });
  return { destroyAfter };
}

/**
 * key.rotate's record, in the transaction that marks the operation executed: the successor (made on the HSM by
 * the step, under the operation's reference) is recorded active with predecessor_id = the old key, and the old
 * key moves active → deactivated: it stops receiving and remains for sweeping its funds to the successor
 * (the withdrawals issue lets a deactivated key sign only that sweep). key.rotated is written on both keys'
 * subjects. The old key's row is locked first; if it is no longer active (suspended or revoked since the step
 * read it) StepRefusedError rolls everything back and the repeated step fails the operation.
 */
export async function recordRotatedKey(
  tx: Tx,
  input: { predecessorId: string; successor: CreatedKeyRecord },
  at: Date,
): Promise<{ keyId: string }> {
  const [old] = await tx
    .update(keys)
    .set({ state: "deactivated", stateChangedAt: at })
    .where(and(eq(keys.id, input.predecessorId), eq(keys.state, "active")))
    .returning({ id: keys.id });
  if (old === undefined) {
    const state = await keyStateOf(tx, input.predecessorId);
    throw new StepRefusedError(`the key is ${state ?? "gone"}: only an active key is rotated`);
  }
  const [row] = await tx
    .insert(keys)
    .values({
      ...input.successor,
      state: "active",
      predecessorId: input.predecessorId,
      createdAt: at,
      stateChangedAt: at,
    })
    .returning({ id: keys.id });
  if (row === undefined) throw new Error("insert into keys returned no row");
  const data = {
    keyId: row.id,
    predecessorId: input.predecessorId,
    ...input.successor,
  };
  for (const subject of [`key:${input.predecessorId}`, `key:${row.id}`]) {
    await appendAudit(tx, { action: "key.rotated", data, actor: "system", subject, at });
  }
  // The old key's funds follow: a job proposes a sweep withdrawal to the successor per asset it holds.
  await enqueueRotationSweep(tx, { predecessorId: input.predecessorId, successorId: row.id, at });
  return { keyId: row.id };
}

/**
 * key.rotate when the old key left active (suspended, revoked, scheduled for destruction) after the step made the
 * successor on the HSM but before its record: the successor is recorded, so no key pair is left on the HSM
 * without a row, in state suspended (it cannot sign or receive until key.resume's quorum resumes it: a key
 * someone restricted mid-rotation is not replaced by an active one without the quorum deciding again), without
 * predecessor_id (nothing was rotated; operation_id names the rotation), with key.created. The old key keeps the
 * state it was restricted to: never deactivated, never reactivated. Its row is locked and its state must still be
 * the one the step read (the step's failure reason names it); otherwise this throws and the step is repeated.
 */
export async function recordSuccessorOfRestrictedKey(
  tx: Tx,
  input: { predecessorId: string; predecessorState: KeyState; successor: CreatedKeyRecord },
  at: Date,
): Promise<{ keyId: string }> {
  const [old] = await tx
    .select({ state: keys.state })
    .from(keys)
    .where(eq(keys.id, input.predecessorId))
    .for("update");
  if (old?.state !== input.predecessorState)
    throw new Error(
      `the key is ${old?.state ?? "gone"}, no longer ${input.predecessorState} as the step read it: the step is repeated`,
    );
  const [row] = await tx
    .insert(keys)
    .values({ ...input.successor, state: "suspended", createdAt: at, stateChangedAt: at })
    .returning({ id: keys.id });
  if (row === undefined) throw new Error("insert into keys returned no row");
  await appendAudit(tx, {
    action: "key.created",
    data: { keyId: row.id, ...input.successor },
    actor: "system",
    subject: `key:${row.id}`,
    at,
  });
  return { keyId: row.id };
}
