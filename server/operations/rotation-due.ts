// Due rotations: the scheduler's hourly key.rotation-due sweep proposes key.rotate for every active key whose
// rotation period (the policy's `rotation`, by tag; the shortest of a key's tags) has passed since it became
// active (created by key.create, or made the successor by a rotation: both set keys.created_at), unless a
// key.rotate for it is already open. Keyward is the initiator ("Keyward (rotation due)", actor system); the
// proposal is judged by the policy in force like any other and still needs its quorum. Exactly once, even with
// several processes sweeping at once: the whole sweep runs under one transaction-scoped advisory lock, so a
// second sweep waits, then sees the first one's proposals as open and makes none.
import "server-only";
import { and, arrayOverlaps, asc, eq, lte, sql } from "drizzle-orm";
import type { Db } from "@/db/client";
import { keys } from "@/db/schema";
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
                AND o.state IN ('pending', 'approved', 'executing')
                AND o.payload->>'keyId' = ${keys.id}::text)`,
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
