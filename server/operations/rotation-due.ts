// Due rotations: the scheduler's hourly key.rotation-due sweep proposes key.rotate for every active key whose
// rotation period (the policy's `rotation`, by tag; the shortest of a key's tags) has passed since it became
// active (created by key.create, or made the successor by a rotation: both set keys.created_at), unless a
// key.rotate for it is already open, or one for it ended without rotating it (rejected, expired, cancelled)
// less than ROTATION_BACKOFF_DAYS ago: approvers who said no are asked again a week later, not every hour.
// Keyward is the initiator ("Keyward (rotation due)", actor system); the proposal is judged by the policy in
// force like any other and still needs its quorum. Exactly once, even with several processes sweeping at once:
// the whole sweep runs under one transaction-scoped advisory lock, so a second sweep waits, then sees the first
// one's proposals as open and makes none. It never proposes anything but key.rotate, and never skips a quorum.
import "server-only";
import { and, arrayOverlaps, asc, desc, eq, inArray, lte, sql } from "drizzle-orm";
import type { Db, DbOrTx } from "@/db/client";
import { keys, type OperationState, operations } from "@/db/schema";
import { AppError } from "@/server/errors";
import { rotationDaysFor } from "@/server/policy/schema";
import { successorLabelFor } from "./kinds/key-rotate";
import { policyInForce } from "./policy-store";
import { proposeAsSystem } from "./propose";

/** Arbitrary constant naming the sweep's advisory lock ("KWRT"). */
const ROTATION_LOCK_KEY = 0x4b575254;
/** Proposals per sweep at most, so one transaction stays short; the next sweep takes the rest. */
const MAX_PER_SWEEP = 200;
const DAY_MS = 86_400_000;
/**
 * After a key.rotate of a key ends without rotating it (rejected or cancelled, or expired unanswered), whoever
 * proposed it, the sweep waits this long from that end before proposing again: a custody team that declined a
 * rotation is asked again a week later, not at every hourly sweep. A person may still propose one at any time.
 * A failed rotation (approved, then refused when carried out) is not held back: the quorum wanted it.
 */
export const ROTATION_BACKOFF_DAYS = 7;
/** The ends that hold the next proposal back. */
const DECLINED_STATES: readonly OperationState[] = ["rejected", "expired", "cancelled"];

export type RotationSweep = {
  proposed: { keyId: string; operationId: string }[];
  refused: { keyId: string; reason: string }[];
};

export async function proposeDueRotations(db: Db, now: Date): Promise<RotationSweep> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${ROTATION_LOCK_KEY})`);
    const policy = await policyInForce(tx);
    const periods = policy?.document.rotation ?? [];
    const out: RotationSweep = { proposed: [], refused: [] };
    if (periods.length === 0) return out;
    const tags = periods.map((p) => p.tag);
    const shortest = Math.min(...periods.map((p) => p.everyDays));
    // Candidates: active, carrying a rotated tag, old enough for the shortest period, no key.rotate open.
    const candidates = await tx
      .select({ id: keys.id, label: keys.label, tags: keys.tags, createdAt: keys.createdAt })
      .from(keys)
      .where(
        and(
          eq(keys.state, "active"),
          arrayOverlaps(keys.tags, tags),
          lte(keys.createdAt, new Date(now.getTime() - shortest * DAY_MS)),
          sql`NOT EXISTS (SELECT 1 FROM operations o WHERE o.kind = 'key.rotate'
                AND o.state IN ('pending', 'waiting', 'approved', 'executing')
                AND o.payload->>'keyId' = ${keys.id}::text)`,
          // Declined within the back-off: not yet (decided_at is when it was rejected, cancelled or expired).
          sql`NOT EXISTS (SELECT 1 FROM operations o WHERE o.kind = 'key.rotate'
                AND o.state IN ('rejected', 'expired', 'cancelled')
                AND o.payload->>'keyId' = ${keys.id}::text
                AND o.decided_at > ${new Date(now.getTime() - ROTATION_BACKOFF_DAYS * DAY_MS)})`,
        ),
      )
      .orderBy(asc(keys.createdAt), asc(keys.id));
    for (const key of candidates) {
      if (out.proposed.length >= MAX_PER_SWEEP) break;
      const days = rotationDaysFor({ rotation: periods }, key.tags);
      if (days === null || key.createdAt.getTime() + days * DAY_MS > now.getTime()) continue;
      try {
        // A savepoint, so a proposal the policy denies is skipped without undoing the others.
        const op = await tx.transaction((sp) =>
          proposeAsSystem(sp, {
            system: "rotation-due",
            kind: "key.rotate",
            payload: { keyId: key.id, successorLabel: successorLabelFor(key.label, now) },
            now,
          }),
        );
        out.proposed.push({ keyId: key.id, operationId: op.id });
      } catch (e) {
        if (!(e instanceof AppError) || e.code !== "CONFLICT") throw e;
        out.refused.push({ keyId: key.id, reason: e.message });
      }
    }
    return out;
  });
}

export type RotationSchedule = {
  /** The rotation period that applies (the shortest of the key's tags), in days. */
  everyDays: number;
  /** When the period has passed: created_at + everyDays. */
  dueAt: Date;
  /** The key.rotate open for the key (pending, waiting, approved, executing), if any: no proposal comes meanwhile. */
  open: { operationId: string; state: string } | null;
  /** The latest key.rotate that ended without rotating, while it still holds the next proposal back. */
  declined: { operationId: string; state: string; decidedAt: Date; holdsUntil: Date } | null;
  /**
   * From when the hourly sweep proposes the rotation (its first run at or after this instant): the later of
   * dueAt and the end of the back-off; null while one is open.
   */
  nextProposalAt: Date | null;
};

/**
 * What the key page says about the key's rotation by time: null when no period of the policy in force applies
 * or the key is not active (the sweep proposes nothing for it). Read-only; the sweep above decides the same way.
 */
export async function rotationScheduleOf(
  db: DbOrTx,
  keyId: string,
  now: Date,
): Promise<RotationSchedule | null> {
  const [key] = await db
    .select({ state: keys.state, tags: keys.tags, createdAt: keys.createdAt })
    .from(keys)
    .where(eq(keys.id, keyId));
  if (!key) throw new AppError("NOT_FOUND", "No such key.");
  if (key.state !== "active") return null;
  const policy = await policyInForce(db);
  const everyDays = rotationDaysFor({ rotation: policy?.document.rotation ?? [] }, key.tags);
  if (everyDays === null) return null;
  const dueAt = new Date(key.createdAt.getTime() + everyDays * DAY_MS);
  const rotations = (states: readonly OperationState[]) =>
    db
      .select({ id: operations.id, state: operations.state, decidedAt: operations.decidedAt })
      .from(operations)
      .where(
        and(
          eq(operations.kind, "key.rotate"),
          inArray(operations.state, [...states]),
          sql`${operations.payload}->>'keyId' = ${keyId}`,
        ),
      )
      .orderBy(desc(operations.decidedAt))
      .limit(1);
  const [open] = await rotations(["pending", "waiting", "approved", "executing"]);
  const [last] = await rotations(DECLINED_STATES);
  // The back-off ends ROTATION_BACKOFF_DAYS after the latest declined one; only one still running counts.
  const holdsUntil = last?.decidedAt
    ? new Date(last.decidedAt.getTime() + ROTATION_BACKOFF_DAYS * DAY_MS)
    : null;
  const declined =
    last?.decidedAt && holdsUntil && holdsUntil > now
      ? { operationId: last.id, state: last.state, decidedAt: last.decidedAt, holdsUntil }
      : null;
  let nextProposalAt: Date | null = dueAt;
  if (open) nextProposalAt = null;
  else if (declined && declined.holdsUntil > dueAt) nextProposalAt = declined.holdsUntil;
  return {
    everyDays,
    dueAt,
    open: open ? { operationId: open.id, state: open.state } : null,
    declined,
    nextProposalAt,
  };
}
