// A key.create batch (up to 10,000 keys), carried out in chunks so it shows progress and resumes after a crash.
// Per chunk: the HSM calls outside any transaction (a few in flight through the pool), each key under its own
// reference batchKeyRef(operation id, index), so a repeat finds what an earlier attempt made; then one
// transaction records the chunk's keys rows (state active, or pre-activation if asked) with one key.created each and moves
// operations.progress on, fenced by the claim (attempts) and by the progress it started from. The claim's
// lease is renewed with every chunk and by a timer in between, so no other process takes over a live batch;
// a batch whose process died is taken back after its lease (claimStale, boot recovery) and resumes at
// progress.done. The last step marks the operation executed. Never: a key recorded twice (unique
// (operation_id, batch_index) behind the fence), a key made twice (the reference), HSM calls inside a
// transaction.
import "server-only";
import { and, eq, sql } from "drizzle-orm";
import { keys, operations } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import * as signerFacade from "@/server/hsm/signer";
import {
  type KeyBatch,
  type KeyCreatePayload,
  initialStateOf,
  keyBatchOf,
  keyCreatePayloadSchema,
} from "../kinds/key-create";
import { operationSubject } from "../transitions";
import { DEFAULT_LEASE } from "./claim";
import {
  DEFAULT_RETRY,
  type ExecuteOutcome,
  type ExecutorDeps,
  errorText,
  fail,
  permanentReason,
} from "./execute";
import type { OperationRow } from "./types";

export type BatchOptions = {
  /** Keys per chunk: per recording transaction, and per progress step. */
  chunk: number;
  /** HSM calls in flight at once within a chunk. */
  inFlight: number;
  /** How often the claim's lease is renewed between chunks (a chunk may take longer than a lease). */
  renewEveryMs: number;
};

/**
 * 100 keys per chunk: one transaction of ~300 statements, a progress step a person can see move. 2 in flight:
 * measured on SoftHSM with a 2-thread pool (scripts/soak-batch.mjs --compare 200, 2026-12-02, shared 2-core
 * machine): 1 in flight 28.0 keys/s, 2: 28.3, 4: 19.1 — SoftHSM makes one key at a time, so more only queue;
 * a network HSM answering slowly per call would want more. The lease (60 s) is renewed four times within it.
 */
export const BATCH_DEFAULTS: BatchOptions = { chunk: 100, inFlight: 2, renewEveryMs: DEFAULT_LEASE.ms / 4 };

export type KeyBatchPlan = { payload: KeyCreatePayload; batch: KeyBatch };

/** The batch a claimed operation is, or null when it is not a key.create batch (its kind's own step runs). */
export function keyBatchOfOperation(op: OperationRow): KeyBatchPlan | null {
  if (op.kind !== "key.create") return null;
  const parsed = keyCreatePayloadSchema.safeParse(op.payload);
  // An invalid payload goes the kind's own way, which fails the operation naming the field.
  if (!parsed.success) return null;
  const batch = keyBatchOf(parsed.data);
  return batch === null ? null : { payload: parsed.data, batch };
}

/** A key the HSM holds for the batch, not yet recorded. */
export type MadeKey = { index: number; label: string; hsmRef: string; publicKey: string };

/** The claim still holds when the row is executing with the claim's attempt number. */
function stillClaimed(op: OperationRow) {
  return and(
    eq(operations.id, op.id),
    eq(operations.state, "executing"),
    eq(operations.attempts, op.attempts),
  );
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Makes (or finds, after an earlier attempt) keys start … end-1 on the HSM, `inFlight` at a time. `fresh`: no
 * attempt can have touched these indices before (the first try of a chunk in the operation's first claim:
 * chunks never overlap), so the HSM skips its search for each reference (a token-wide scan on SoftHSM).
 */
async function makeKeys(
  deps: ExecutorDeps,
  op: OperationRow,
  plan: KeyBatchPlan,
  range: { start: number; end: number },
  inFlight: number,
  fresh: boolean,
): Promise<MadeKey[]> {
  const createKey = deps.signer?.createKey ?? signerFacade.createKey;
  const made: MadeKey[] = [];
  const failures: unknown[] = [];
  let next = range.start;
  const worker = async () => {
    while (failures.length === 0 && next < range.end) {
      const index = next++;
      const label = plan.batch.labelOf(index);
      try {
        const key = await createKey({
          curve: plan.payload.curve,
          label,
          exportable: plan.payload.exportable === "wrapped" ? "wrapped-only" : "never",
          ref: signerFacade.batchKeyRef(op.id, index),
          fresh,
        });
        made.push({ index, label, hsmRef: key.ref, publicKey: key.publicKey.toString("hex") });
      } catch (error) {
        // The calls already in flight finish (each is safe to repeat); no new one starts.
        failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, inFlight) }, worker));
  if (failures.length > 0) throw failures[0];
  return made.sort((a, b) => a.index - b.index);
}

/**
 * Records a chunk of made keys, in one transaction: progress moved from `start` to start + made.length (and
 * the lease renewed), fenced by the claim and that progress; the keys rows, state active (or pre-activation); one key.created per
 * key. Returns false, writing nothing, when the claim or the progress is no longer this caller's. Exported for
 * the soak script's measurement of recording alone.
 */
export async function recordKeys(
  deps: Pick<ExecutorDeps, "db" | "clock">,
  op: OperationRow,
  plan: KeyBatchPlan,
  start: number,
  made: readonly MadeKey[],
): Promise<boolean> {
  const at = deps.clock();
  const total = plan.batch.count;
  return deps.db.transaction(async (tx) => {
    // The operation row first (lock order: operation row → key rows → audit append lock).
    const [moved] = await tx
      .update(operations)
      .set({ progress: { done: start + made.length, total }, executingSince: at })
      .where(and(stillClaimed(op), sql`coalesce((${operations.progress} ->> 'done')::int, 0) = ${start}`))
      .returning({ id: operations.id });
    if (moved === undefined) return false;
    const p = plan.payload;
    // Active, or pre-activation when the key.create asked for it (key.activate's quorum activates each key).
    const state = initialStateOf(p);
    const rows = await tx
      .insert(keys)
      .values(
        made.map((k) => ({
          operationId: op.id,
          batchIndex: k.index,
          label: k.label,
          curve: p.curve,
          tags: [...p.tags],
          exportable: p.exportable,
          hsmRef: k.hsmRef,
          publicKey: k.publicKey,
          state,
          createdAt: at,
          stateChangedAt: at,
        })),
      )
      .returning({ id: keys.id, batchIndex: keys.batchIndex });
    const ids = new Map(rows.map((r) => [r.batchIndex, r.id]));
    for (const k of made) {
      const keyId = ids.get(k.index);
      if (keyId === undefined) throw new Error(`insert into keys returned no row for batch index ${k.index}`);
      await appendAudit(tx, {
        action: "key.created",
        data: {
          keyId,
          operationId: op.id,
          label: k.label,
          curve: p.curve,
          tags: [...p.tags],
          exportable: p.exportable,
          hsmRef: k.hsmRef,
          publicKey: k.publicKey,
          ...(state === "pre-activation" ? { state } : {}),
        },
        actor: "system",
        subject: `key:${keyId}`,
        at,
      });
    }
    return true;
  });
}

/** The end: executed with operation.executed, once every key is recorded (progress done = total). */
async function completeBatch(deps: ExecutorDeps, op: OperationRow, plan: KeyBatchPlan): Promise<boolean> {
  const at = deps.clock();
  const { count, labelOf } = plan.batch;
  return deps.db.transaction(async (tx) => {
    const [row] = await tx
      .update(operations)
      .set({
        state: "executed",
        executedAt: at,
        result: { keys: count, first: labelOf(0), last: labelOf(count - 1) },
      })
      .where(and(stillClaimed(op), sql`(${operations.progress} ->> 'done')::int = ${count}`))
      .returning({ id: operations.id });
    if (row === undefined) return false;
    await appendAudit(tx, {
      action: "operation.executed",
      data: { operationId: op.id, attempts: op.attempts },
      actor: "system",
      subject: operationSubject(op.id),
      at,
    });
    return true;
  });
}

/**
 * Executes a key.create batch this process holds the claim of, from its recorded progress. Each chunk gets
 * the executor's bounded tries (an unknown outcome repeats the same chunk: its keys are found by reference);
 * when they run out the operation stays executing and is resumed after its lease. A refusal that cannot change
 * fails the operation, keeping the keys already recorded (their trail says so).
 */
export async function executeBatch(
  deps: ExecutorDeps,
  op: OperationRow,
  plan: KeyBatchPlan,
  options: BatchOptions = BATCH_DEFAULTS,
): Promise<ExecuteOutcome> {
  const total = plan.batch.count;
  const superseded = { operationId: op.id, outcome: "superseded" } as const;
  if (op.progress !== null && op.progress.total !== total) {
    return fail(deps, op, `recorded progress names ${op.progress.total} keys, the payload ${total}`);
  }
  let done = op.progress?.done ?? 0;
  const retry = deps.retry ?? DEFAULT_RETRY;
  let lost = false;
  const renew = async () => {
    try {
      const [row] = await deps.db
        .update(operations)
        .set({ executingSince: deps.clock() })
        .where(stillClaimed(op))
        .returning({ id: operations.id });
      if (row === undefined) lost = true;
    } catch {
      // The database did not answer this time: the next renewal or chunk tries again, well within the lease.
    }
  };
  const timer = setInterval(() => void renew(), options.renewEveryMs);
  // A process stopping does not wait for the timer: a batch cut short is resumed after its lease.
  timer.unref();
  try {
    while (done < total) {
      if (lost) return superseded;
      const range = { start: done, end: Math.min(done + options.chunk, total) };
      let recorded = false;
      let lastError = "";
      for (let attempt = 1; attempt <= retry.attempts && !recorded; attempt++) {
        let made: MadeKey[];
        try {
          made = await makeKeys(
            deps,
            op,
            plan,
            range,
            options.inFlight,
            op.attempts === 1 && attempt === 1 && !lost,
          );
        } catch (e) {
          const permanent = permanentReason(e);
          if (permanent !== null) {
            return fail(deps, op, `${permanent} (after ${done} of ${total} keys were made and recorded)`);
          }
          lastError = errorText(e);
          if (attempt < retry.attempts)
            await pause(Math.min(retry.backoffMs * 2 ** (attempt - 1), retry.maxBackoffMs));
          continue;
        }
        try {
          if (!(await recordKeys(deps, op, plan, range.start, made))) return superseded;
          recorded = true;
        } catch (e) {
          // Made but not recorded (the database failed): the next try finds the same keys and records them.
          lastError = errorText(e);
        }
      }
      if (!recorded) return { operationId: op.id, outcome: "unresolved", error: lastError.slice(0, 1000) };
      done = range.end;
    }
    let lastError = "";
    for (let attempt = 1; attempt <= retry.attempts; attempt++) {
      try {
        return (await completeBatch(deps, op, plan))
          ? { operationId: op.id, outcome: "executed" }
          : superseded;
      } catch (e) {
        lastError = errorText(e);
      }
    }
    return { operationId: op.id, outcome: "unresolved", error: lastError.slice(0, 1000) };
  } finally {
    clearInterval(timer);
  }
}

/** Batches this process is carrying out now, by operation id. */
const running = new Map<string, Promise<ExecuteOutcome>>();

/**
 * Starts a claimed batch in the background of this process and answers at once ("running"): a batch takes
 * minutes, and neither the scheduler's tick (which runs nothing else until its round ends) nor start-up
 * recovery (which runs before the scheduler starts) may wait for it. Its own end records executed; if the
 * process stops first, the batch is resumed from its progress after its lease.
 */
export function startBatch(deps: ExecutorDeps, op: OperationRow, plan: KeyBatchPlan): ExecuteOutcome {
  const run = executeBatch(deps, op, plan).catch(
    (e: unknown): ExecuteOutcome => ({
      operationId: op.id,
      outcome: "unresolved",
      error: errorText(e).slice(0, 1000),
    }),
  );
  running.set(op.id, run);
  void run.then(() => {
    if (running.get(op.id) === run) running.delete(op.id);
  });
  return { operationId: op.id, outcome: "running" };
}

/** How the batch this process started for `operationId` ended (for tests, scripts and shutdown), if it did start one. */
export function batchInProcess(operationId: string): Promise<ExecuteOutcome> | undefined {
  return running.get(operationId);
}
