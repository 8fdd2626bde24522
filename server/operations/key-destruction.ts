// A scheduled key destruction: the scheduler's one-off key.destroy job (enqueued by key.destroy's execution,
// executor/keys.ts scheduleKeyDestruction) and its cancellation. The job destroys the key on every HSM token
// through the signer facade (outside any transaction; a token that no longer holds it counts as done), then
// records key → destroyed, destroy_after cleared and key.destroyed naming the tokens, in one transaction. A token
// not reached throws: the scheduler retries with back-off and the key stays deactivated (it cannot sign).
// Cancelling only ever keeps a key, so it is immediate like a suspension (restrict.ts): one fresh tap by an
// active admin or approver; the key comes back suspended (or deactivated, compromised or pre-activation, if that
// is what it was), never active, so signing again still needs key.resume's (or key.activate's) quorum. A cancellation applies only while the
// job has not started: it deletes the job row WHERE state = 'waiting' AND attempts = 0, and the scheduler's
// claim takes that row with FOR UPDATE SKIP LOCKED, so of the two exactly one wins (tested on PostgreSQL).
import "server-only";
import type { PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { and, eq, inArray, isNotNull } from "drizzle-orm";
import { z } from "zod";
import type { Db, DbOrTx } from "@/db/client";
import { jobs, KEY_STATES, type KeyState, keys } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import type { AssertionRefusedError } from "@/server/auth/assertion";
import type { WebAuthnConfig } from "@/server/auth/config";
import { ASSERTION_MESSAGES, type AssertionRefusal } from "@/server/auth/refusals";
import type { AuthenticationResponse } from "@/server/auth/schemas";
import type { TapResponse } from "@/server/auth/tap-refusal";
import { AppError } from "@/server/errors";
import * as signerFacade from "@/server/hsm/signer";
import type { Acting } from "@/server/members/guards";
import { memberWithRole } from "./actors";
import { confirmRestrictionTap, issueRestrictionTap, withRestrictionRefusal } from "./restriction-tap";
import { KEY_DESTROY_JOB, type KeyDestroyJobPayload } from "./executor/keys";
import type { JobRow } from "./scheduler/jobs";

/** What the job needs of the HSM; tests wrap the real facade to make a token unreachable. */
export type KeyDestroyer = Pick<typeof signerFacade, "destroyKey">;
export const defaultDestroyer: KeyDestroyer = { destroyKey: signerFacade.destroyKey };

/** Tries before the job is failed: back-off doubles to an hour, so an HSM down for days is waited for. */
export const KEY_DESTROY_MAX_ATTEMPTS = 200;

const subjectKeyId = (subject: string | null): string | null =>
  subject?.startsWith("key:") === true ? subject.slice("key:".length) : null;

const jobPayloadSchema = z.object({ operationId: z.string().uuid(), previousState: z.enum(KEY_STATES) });

function jobPayload(job: JobRow): KeyDestroyJobPayload {
  const parsed = jobPayloadSchema.safeParse(job.payload);
  if (!parsed.success) throw new Error(`job ${job.id}: not a key.destroy payload`);
  return parsed.data;
}

export type DestructionOutcome =
  | { outcome: "destroyed"; keyId: string; destroyed: string[]; absent: string[] }
  /** Nothing to do: the key is gone from the table, destroyed already, or its destruction was cancelled. */
  | { outcome: "nothing-scheduled"; keyId: string };

/**
 * The key.destroy job's run. Safe to repeat: the HSM step is "destroy what is there" on every token (absent
 * counts as done), and the record is a conditional update (a key already destroyed is left as it is).
 */
export async function runKeyDestruction(
  deps: { db: Db; now: () => Date; destroyer?: KeyDestroyer },
  job: JobRow,
): Promise<DestructionOutcome> {
  const keyId = subjectKeyId(job.subject);
  if (keyId === null) throw new Error(`job ${job.id}: subject ${job.subject} names no key`);
  const { operationId } = jobPayload(job);
  const [key] = await deps.db.select().from(keys).where(eq(keys.id, keyId));
  if (key === undefined || key.state === "destroyed" || key.destroyAfter === null)
    return { outcome: "nothing-scheduled", keyId };
  // Throws for any token not reached (TokenSetError naming it): the scheduler retries, the key stays deactivated.
  const { destroyed, absent } = await (deps.destroyer ?? defaultDestroyer).destroyKey(key.hsmRef);
  const at = deps.now();
  return deps.db.transaction(async (tx) => {
    const [before] = await tx
      .select({ state: keys.state })
      .from(keys)
      .where(eq(keys.id, keyId))
      .for("update");
    const [row] = await tx
      .update(keys)
      .set({ state: "destroyed", destroyAfter: null, stateChangedAt: at })
      .where(
        and(
          eq(keys.id, keyId),
          inArray(keys.state, ["deactivated", "compromised"]),
          isNotNull(keys.destroyAfter),
        ),
      )
      .returning({ id: keys.id });
    if (row === undefined || before === undefined) return { outcome: "nothing-scheduled" as const, keyId };
    await appendAudit(tx, {
      action: "key.destroyed",
      data: { keyId, operationId, hsmRef: key.hsmRef, destroyed, absent, previousState: before.state },
      actor: "system",
      subject: `key:${keyId}`,
      at,
    });
    return { outcome: "destroyed" as const, keyId, destroyed, absent };
  });
}

// --- cancellation: one fresh tap ---------------------------------------------------------------------------

export const CANCELLERS = ["admin", "approver"] as const;

export type CancelRefusal =
  | AssertionRefusal
  | "challenge_invalid"
  | "wrong_binding"
  | "not_allowed"
  | "key_not_found"
  | "not_scheduled"
  | "already_started";

const MESSAGES: Record<CancelRefusal, string> = {
  ...ASSERTION_MESSAGES,
  wrong_member: "That token belongs to someone else. Confirm with one of your own tokens.",
  challenge_invalid:
    "This confirmation was already used or has expired. Press Cancel destruction again and tap once.",
  wrong_binding: "This tap was made for another key, another action or another person. Start again here.",
  not_allowed: "Cancelling a destruction needs the admin or approver role.",
  key_not_found: "No such key.",
  not_scheduled: "No destruction is scheduled for this key. Reload to see its state.",
  already_started: "The destruction has already started on the HSM: it can no longer be cancelled.",
};

const CODES: Partial<Record<CancelRefusal, AppError["code"]>> = {
  challenge_invalid: "EXPIRED",
  verification_failed: "UNAUTHENTICATED",
  user_verification_missing: "UNAUTHENTICATED",
  token_revoked: "UNAUTHENTICATED",
  counter_regressed: "UNAUTHENTICATED",
  key_not_found: "NOT_FOUND",
  not_scheduled: "CONFLICT",
  already_started: "CONFLICT",
};

export class CancelDestructionRefusedError extends AppError {
  constructor(
    readonly reason: CancelRefusal,
    readonly evidence: AssertionRefusedError["evidence"] = null,
  ) {
    super(CODES[reason] ?? "FORBIDDEN", MESSAGES[reason]);
  }
}

/** The challenge subject: this action, on this key, by this member. */
export function cancelDestructionSubject(keyId: string, memberId: string): string {
  return `restrict:key.destroy.cancel:${keyId}:${memberId}`;
}

async function canceller(db: DbOrTx, memberId: string) {
  try {
    return await memberWithRole(db, memberId, CANCELLERS, "cancel a key's destruction");
  } catch (e) {
    if (e instanceof AppError && e.code === "FORBIDDEN")
      throw new CancelDestructionRefusedError("not_allowed");
    throw e;
  }
}

/** The scheduled destruction of `keyId` as the key page shows it, or null when none is scheduled. */
export async function scheduledDestruction(
  db: DbOrTx,
  keyId: string,
): Promise<{ destroyAfter: Date; started: boolean; operationId: string | null } | null> {
  const [key] = await db.select({ destroyAfter: keys.destroyAfter }).from(keys).where(eq(keys.id, keyId));
  if (!key?.destroyAfter) return null;
  const [job] = await db
    .select()
    .from(jobs)
    .where(and(eq(jobs.kind, KEY_DESTROY_JOB), eq(jobs.subject, `key:${keyId}`)));
  return {
    destroyAfter: key.destroyAfter,
    started: job === undefined || job.state !== "waiting" || job.attempts > 0,
    operationId: job ? jobPayload(job).operationId : null,
  };
}

/** Issues the tap for cancelling `keyId`'s destruction: refused at once when nothing can be cancelled. */
export async function beginCancelDestruction(
  db: Db,
  config: WebAuthnConfig,
  input: { actor: Acting; keyId: string; now: Date },
): Promise<{ options: PublicKeyCredentialRequestOptionsJSON }> {
  return withRefusalAudit(db, { ...input, response: null }, async () => {
    await canceller(db, input.actor.id);
    const [key] = await db.select({ id: keys.id }).from(keys).where(eq(keys.id, input.keyId));
    if (!key) throw new CancelDestructionRefusedError("key_not_found");
    const scheduled = await scheduledDestruction(db, input.keyId);
    if (scheduled === null) throw new CancelDestructionRefusedError("not_scheduled");
    if (scheduled.started) throw new CancelDestructionRefusedError("already_started");
    return issueRestrictionTap(db, config, {
      memberId: input.actor.id,
      subject: cancelDestructionSubject(input.keyId, input.actor.id),
      now: input.now,
      refuse: (reason, evidence) => new CancelDestructionRefusedError(reason, evidence),
    });
  });
}

/**
 * The state a key returns to when its destruction is cancelled: never active (that needs key.resume, or
 * key.activate for a key never activated, which goes back to pre-activation).
 */
function stateAfterCancel(now: KeyState, before: KeyState): KeyState {
  if (now === "compromised") return "compromised";
  if (before === "pre-activation") return "pre-activation";
  // A rotated key (deactivated before) stays sweep-only; an active or suspended one waits suspended.
  return before === "deactivated" || before === "compromised" ? before : "suspended";
}

/**
 * Cancels `keyId`'s scheduled destruction with the tap beginCancelDestruction asked for, in one transaction:
 * the job row is deleted only while it waits unstarted (attempts 0) — if the scheduler claimed it first the
 * delete finds nothing and the cancellation is refused (already_started), writing nothing — then the key (row
 * locked) gets destroy_after cleared and its state back (suspended for a key that was active or suspended), with
 * key.destruction_cancelled naming who and with which token.
 */
export async function cancelDestruction(
  db: Db,
  config: WebAuthnConfig,
  input: { actor: Acting; keyId: string; response: AuthenticationResponse; now: Date },
): Promise<{ keyId: string; state: KeyState; credentialId: string }> {
  return withRefusalAudit(db, input, () =>
    db.transaction(async (tx) => {
      const { tokenId } = await confirmRestrictionTap(tx, config, {
        memberId: input.actor.id,
        subject: cancelDestructionSubject(input.keyId, input.actor.id),
        response: input.response,
        now: input.now,
        refuse: (reason, evidence) => new CancelDestructionRefusedError(reason, evidence),
        // Re-read now: a member suspended or demoted since the tap was issued restricts nothing.
        recheck: () => canceller(tx, input.actor.id),
      });
      // The job first (the scheduler's claim locks only job rows), then the key row, then the trail.
      const deleted = await tx
        .delete(jobs)
        .where(
          and(
            eq(jobs.kind, KEY_DESTROY_JOB),
            eq(jobs.subject, `key:${input.keyId}`),
            eq(jobs.state, "waiting"),
            eq(jobs.attempts, 0),
          ),
        )
        .returning();
      const [key] = await tx.select().from(keys).where(eq(keys.id, input.keyId)).for("update");
      if (!key) throw new CancelDestructionRefusedError("key_not_found");
      const job = deleted[0];
      if (job === undefined || key.destroyAfter === null) {
        throw new CancelDestructionRefusedError(
          key.destroyAfter === null ? "not_scheduled" : "already_started",
        );
      }
      const { operationId, previousState } = jobPayload(job);
      const state = stateAfterCancel(key.state, previousState);
      await tx
        .update(keys)
        .set({ state, destroyAfter: null, ...(state !== key.state ? { stateChangedAt: input.now } : {}) })
        .where(eq(keys.id, input.keyId));
      await appendAudit(tx, {
        action: "key.destruction_cancelled",
        actor: `member:${input.actor.id}`,
        subject: `key:${input.keyId}`,
        at: input.now,
        data: {
          keyId: input.keyId,
          memberId: input.actor.id,
          credentialId: tokenId,
          operationId,
          destroyAfter: key.destroyAfter.toISOString(),
          state,
        },
      });
      return { keyId: input.keyId, state, credentialId: tokenId };
    }),
  );
}

/** A refusal burns the tap's challenge and is recorded (restriction.refused) in a transaction of its own. */
function withRefusalAudit<T>(
  db: Db,
  meta: { actor: Acting; keyId: string; response: TapResponse | null; now: Date },
  run: () => Promise<T>,
): Promise<T> {
  return withRestrictionRefusal(
    db,
    {
      of: CancelDestructionRefusedError,
      memberId: meta.actor.id,
      action: "key.destroy.cancel",
      target: meta.keyId,
      subject: `key:${meta.keyId}`,
      response: meta.response,
      now: meta.now,
    },
    run,
  );
}
