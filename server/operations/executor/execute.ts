// Runs a claimed operation's execute step and records its end. The step (an HSM call) runs outside any
// database transaction; its end is one transaction: result stored, state executed, operation.executed and the
// kind's own rows and events. An answer the HSM may or may not have acted on (outcome-unknown, a device fault,
// a lost session, anything unexpected) is resolved by repeating the SAME step — it is keyed by the operation
// id, so a repeat finds what a first attempt made — a bounded number of times with back-off; if all fail, the
// operation stays executing and is repeated later (claimStale). Only an answer that can never change (the HSM
// refusing this request: a configuration error other than "no token could serve"; an invalid payload) fails
// the operation, with its reason.
import "server-only";
import { applyAllowListUpdate } from "@/server/allowlists/store";
import { networkOf } from "@/server/chains/config";
import { chainConfig } from "@/server/chains/current";
import type { Chain } from "@/server/custody/types";
import { and, eq } from "drizzle-orm";
import { ZodError } from "zod";
import type { Db } from "@/db/client";
import { operations } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import type { Clock } from "@/server/clock";
import { HsmError, TokenSetError } from "@/server/hsm";
import * as signerFacade from "@/server/hsm/signer";
import { backupSteps } from "@/server/backups/steps";
import { membershipSteps } from "@/server/members/membership-steps";
import {
  applyPolicyUpdate,
  lockForPolicyUpdate,
  policyUpdateRefusal,
} from "@/server/governance/policy-update-apply";
import { freezeStateOf, liftFreeze } from "../freeze";
import { operationKind } from "../kinds";
import { operationSubject } from "../transitions";
import { keyBatchOfOperation, startBatch } from "./batch";
import {
  keyOf,
  keyStateOf,
  activateKey,
  recordCreatedKey,
  recordRotatedKey,
  recordSuccessorOfRestrictedKey,
  resumeKey,
  revokeKey,
  scheduleKeyDestruction,
} from "./keys";
import { StepRefusedError } from "./step-refused";
import type { BackupSigner, ExecuteResult, OperationRow, OperationSigner, WithdrawalSigner } from "./types";
import { withdrawalSteps } from "@/server/withdrawals/steps";

export type RetryPolicy = { attempts: number; backoffMs: number; maxBackoffMs: number };
/** Three tries within ~0.6 s of back-off (plus each call's own deadline, KEYWARD_HSM_TIMEOUT_MS). */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, backoffMs: 200, maxBackoffMs: 2000 };
/** The longest failure reason kept on the row and in the trail. */
const FAILURE_MAX = 1000;

export type ExecutorDeps = {
  db: Db;
  clock: Clock;
  /** The signer facade by default; a test wraps it to lose an answer after the HSM acted. */
  signer?: OperationSigner;
  /** The backup part of the signer facade by default; a test wraps it to lose an answer. */
  backupSigner?: BackupSigner;
  /** The sign part of the signer facade by default; a test wraps it to lose an answer after the HSM signed. */
  withdrawalSigner?: WithdrawalSigner;
  retry?: RetryPolicy;
};

export type ExecuteOutcome =
  | { operationId: string; outcome: "executed" }
  | { operationId: string; outcome: "failed"; reason: string }
  /** Every try ended without a known answer: still executing, to be repeated after its lease. */
  | { operationId: string; outcome: "unresolved"; error: string }
  /** The row was no longer this claim's (another process took it over and finished it, say): nothing written. */
  | { operationId: string; outcome: "superseded" }
  /** A key.create batch now carried out in the background of this process (batch.ts startBatch). */
  | { operationId: string; outcome: "running" };

const defaultSigner: OperationSigner = {
  createKey: signerFacade.createKey,
  findKey: signerFacade.findKey,
  operationKeyRef: signerFacade.operationKeyRef,
};

const defaultBackupSigner: BackupSigner = {
  exportWrapped: signerFacade.exportWrapped,
  restoreKey: signerFacade.restoreKey,
};

/**
 * A permanent refusal of this operation: repeating the step cannot change it (the HSM refuses the request, the
 * payload is invalid). Everything else may have happened, or may pass — including a TokenSetError, which says
 * no token could be asked (the primary set aside: its worker could not start, a PIN refused, a token missing):
 * that is the installation's configuration, not the operation's, and an approved operation must not be lost
 * to it; it stays executing and is repeated once a person has fixed the HSM (seen at boot with a broken worker).
 */
export function permanentReason(e: unknown): string | null {
  if (e instanceof TokenSetError) return null;
  if (e instanceof StepRefusedError) return e.message;
  if (e instanceof HsmError) return e.kind === "configuration" ? `${e.reason}: ${e.message}` : null;
  if (e instanceof ZodError)
    return `invalid payload: ${e.issues.map((i) => `${i.path.join(".")} ${i.message}`).join("; ")}`;
  return null;
}

export function errorText(e: unknown): string {
  if (e instanceof HsmError) return `${e.reason}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Executes an operation this process holds the claim of (`op.attempts` is the claim: claimApproved/claimStale). */
export async function executeClaimed(deps: ExecutorDeps, op: OperationRow): Promise<ExecuteOutcome> {
  // A key.create batch runs chunk by chunk from its recorded progress, in the background (batch.ts).
  const batch = keyBatchOfOperation(op);
  if (batch !== null) return startBatch(deps, op, batch);
  const kind = operationKind(op.kind);
  if (kind?.execute === undefined) return fail(deps, op, `no execute step for operation kind '${op.kind}'`);
  const retry = deps.retry ?? DEFAULT_RETRY;
  const ctx = {
    signer: deps.signer ?? defaultSigner,
    now: deps.clock(),
    backupSigner: deps.backupSigner ?? defaultBackupSigner,
    withdrawalSigner: deps.withdrawalSigner ?? { sign: signerFacade.sign },
    withdrawals: withdrawalSteps(deps.db),
    backups: backupSteps(deps.db),
    keys: {
      recordCreated: recordCreatedKey,
      activate: activateKey,
      stateOf: (keyId: string) => keyStateOf(deps.db, keyId),
      resume: resumeKey,
      get: (keyId: string) => keyOf(deps.db, keyId),
      revoke: revokeKey,
      scheduleDestruction: scheduleKeyDestruction,
      recordRotated: recordRotatedKey,
      recordSuccessorOfRestricted: recordSuccessorOfRestrictedKey,
    },
    allowLists: {
      network: (chain: Chain) => networkOf(chainConfig().networks, chain),
      apply: applyAllowListUpdate,
    },
    freezes: { stateOf: (freezeId: string) => freezeStateOf(deps.db, freezeId), lift: liftFreeze },
    policies: {
      refusal: (input: Parameters<typeof policyUpdateRefusal>[1]) => policyUpdateRefusal(deps.db, input),
      lock: lockForPolicyUpdate,
      apply: applyPolicyUpdate,
    },
    members: membershipSteps(deps.db),
  };
  let lastError = "";
  for (let attempt = 1; attempt <= retry.attempts; attempt++) {
    let done: ExecuteResult;
    try {
      done = await kind.execute(
        { ...ctx, firstTry: attempt === 1 && (await firstClaimHeld(deps.db, op)) },
        op,
      );
    } catch (e) {
      const permanent = permanentReason(e);
      if (permanent !== null) return fail(deps, op, permanent);
      lastError = errorText(e);
      if (attempt < retry.attempts)
        await pause(Math.min(retry.backoffMs * 2 ** (attempt - 1), retry.maxBackoffMs));
      continue;
    }
    try {
      return await complete(deps, op, done);
    } catch (e) {
      // The step is done on the HSM but its record did not commit (the database failed): the next try repeats
      // the step, which finds what this one made, and records it.
      lastError = errorText(e);
    }
  }
  return { operationId: op.id, outcome: "unresolved", error: lastError.slice(0, FAILURE_MAX) };
}

/**
 * Whether this is the operation's first claim and it still holds now, just before its first try: then nothing
 * can have acted on the operation yet, so its HSM reference is unused (ExecuteContext.firstTry). Read again
 * rather than trusted from the claim, so a claim taken over meanwhile (its lease outlived) searches instead.
 */
async function firstClaimHeld(db: Db, op: OperationRow): Promise<boolean> {
  if (op.attempts !== 1) return false;
  const [row] = await db.select({ id: operations.id }).from(operations).where(stillClaimed(op));
  return row !== undefined;
}

/** The claim still holds when the row is executing with the claim's attempt number. */
function stillClaimed(op: OperationRow) {
  return and(
    eq(operations.id, op.id),
    eq(operations.state, "executing"),
    eq(operations.attempts, op.attempts),
  );
}

async function complete(deps: ExecutorDeps, op: OperationRow, done: ExecuteResult): Promise<ExecuteOutcome> {
  const at = deps.clock();
  // A step that kept part of its work but not what was approved ends failed, its record kept (types.ts).
  const failure = done.failure?.slice(0, FAILURE_MAX);
  return deps.db.transaction(async (tx): Promise<ExecuteOutcome> => {
    // Locks that come before the operation row in the lock order (policy.update: admin lock, policy lock).
    await done.lock?.(tx);
    const [row] = await tx
      .update(operations)
      .set(
        failure === undefined
          ? { state: "executed", executedAt: at, result: done.result }
          : { state: "failed", failure, result: done.result },
      )
      .where(stillClaimed(op))
      .returning();
    if (row === undefined) return { operationId: op.id, outcome: "superseded" };
    // The kind's rows before the trail: every writer takes row locks (operation, key) before the audit
    // append lock, so a key.resume recording here and a key.suspend of the same key cannot deadlock.
    await done.record?.(tx, row, at);
    if (failure !== undefined) {
      await appendAudit(tx, {
        action: "operation.failed",
        data: { operationId: op.id, attempts: op.attempts, reason: failure },
        actor: "system",
        subject: operationSubject(op.id),
        at,
      });
      return { operationId: op.id, outcome: "failed", reason: failure };
    }
    await appendAudit(tx, {
      action: "operation.executed",
      data: { operationId: op.id, attempts: op.attempts },
      actor: "system",
      subject: operationSubject(op.id),
      at,
    });
    return { operationId: op.id, outcome: "executed" };
  });
}

export async function fail(deps: ExecutorDeps, op: OperationRow, why: string): Promise<ExecuteOutcome> {
  const at = deps.clock();
  const reason = why.slice(0, FAILURE_MAX);
  return deps.db.transaction(async (tx) => {
    const [row] = await tx
      .update(operations)
      .set({ state: "failed", failure: reason })
      .where(stillClaimed(op))
      .returning({ id: operations.id });
    if (row === undefined) return { operationId: op.id, outcome: "superseded" as const };
    await appendAudit(tx, {
      action: "operation.failed",
      data: { operationId: op.id, attempts: op.attempts, reason },
      actor: "system",
      subject: operationSubject(op.id),
      at,
    });
    return { operationId: op.id, outcome: "failed" as const, reason };
  });
}
