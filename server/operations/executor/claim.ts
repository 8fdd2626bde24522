// The executor's claim: approved -> executing, committed before anything touches the HSM. One statement picks
// and moves the row (`UPDATE … WHERE id = (SELECT id … FOR UPDATE SKIP LOCKED LIMIT 1)`), so of any number of
// processes racing on one PostgreSQL exactly one gets each operation, and the others skip it instead of
// waiting. `=` and not `IN`: an uncorrelated scalar subquery runs once (an InitPlan), while PostgreSQL may
// rescan an `IN (…)` subquery per row, and with SKIP LOCKED each rescan picks another row — one claim then
// moved several operations to executing and returned only one (the two-executor test caught it).
// `attempts` counts claims and is the fencing token: completion applies only to the claim it holds.
// While signing is frozen (a signing_freezes row not lifted: server/operations/freeze.ts) the same statement
// picks only the kinds in RUNS_WHILE_FROZEN: signing.unfreeze, the one kind that can end the freeze, and
// key.revoke, which only ever takes signing away (a compromised key never signs again) — the freeze is there
// to stop a thief, and must not hold up marking the stolen key compromised. Every other approved operation
// stays approved, untouched, and is claimed by the first round after the freeze is lifted. The freeze test is part of
// the picking subquery (NOT EXISTS), so the claim stays one statement; before it the transaction takes the freeze
// lock shared, so a freeze being written is waited for and then seen, and a freeze waits for claims under way:
// every operation is claimed either before a freeze committed or not until it is lifted. One claimed before is
// past this point and runs on; signing paths meet the freeze again in requireSigningAllowed (key-guard.ts).
import "server-only";
import { and, asc, eq, inArray, isNull, notExists, notInArray, or, sql } from "drizzle-orm";
import type { Db } from "@/db/client";
import { operations, signingFreezes } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { lockFreezes } from "../freeze";
import { RUNS_WHILE_FROZEN } from "../kinds/signing-unfreeze";
import { operationSubject } from "../transitions";
import type { OperationRow } from "./types";

/**
 * Claims one approved operation (the given one, or the longest-approved), or returns null if none is left —
 * or none may run: while signing is frozen only the kinds in RUNS_WHILE_FROZEN are claimed.
 */
export async function claimApproved(db: Db, now: Date, operationId?: string): Promise<OperationRow | null> {
  return db.transaction(async (tx) => {
    // Never waits for a row while holding it (the pick skips locked rows): lock order freeze lock → audit lock.
    await lockFreezes(tx, "shared");
    const mayRun = or(
      inArray(operations.kind, [...RUNS_WHILE_FROZEN]),
      notExists(
        tx.select({ id: signingFreezes.id }).from(signingFreezes).where(isNull(signingFreezes.liftedAt)),
      ),
    );
    const pick = tx
      .select({ id: operations.id })
      .from(operations)
      .where(
        and(
          eq(operations.state, "approved"),
          mayRun,
          operationId === undefined ? undefined : eq(operations.id, operationId),
        ),
      )
      .orderBy(asc(operations.decidedAt), asc(operations.id))
      .limit(1)
      .for("update", { skipLocked: true });
    const [claimed] = await tx
      .update(operations)
      .set({ state: "executing", executingSince: now, attempts: sql`${operations.attempts} + 1` })
      .where(and(eq(operations.id, sql`(${pick})`), eq(operations.state, "approved")))
      .returning();
    if (claimed === undefined) return null;
    await appendAudit(tx, {
      action: "operation.executing",
      data: { operationId: claimed.id, attempt: claimed.attempts },
      actor: "system",
      subject: operationSubject(claimed.id),
      at: now,
    });
    return claimed;
  });
}

/** How long a claim is trusted before another process may take it back: doubled per claim, capped. */
export type Lease = { ms: number; maxMs: number };
/** A claim's bounded tries take seconds; a minute means its process is gone or gave up. */
export const DEFAULT_LEASE: Lease = { ms: 60_000, maxMs: 3_600_000 };

/**
 * Takes back one operation left executing whose claim has outlived its lease (its process died, or gave up
 * after its bounded tries): a new claim (attempts + 1, executing_since now), audited operation.recovered. The
 * lease doubles with each claim (capped), so an HSM down for hours adds a few events, not one a minute. A
 * lease of 0 takes every one: at start-up on PGlite, where the folder lock proves no other process runs.
 * `exclude`: operations this caller already took in this round, so one still unresolved is not taken again.
 */
export async function claimStale(
  db: Db,
  now: Date,
  lease: Lease,
  exclude: readonly string[] = [],
): Promise<OperationRow | null> {
  return db.transaction(async (tx) => {
    const outlived = sql`${operations.executingSince} + least(${lease.ms}::double precision * power(2, greatest(${operations.attempts} - 1, 0)), ${lease.maxMs}::double precision) * interval '1 millisecond' <= ${now.toISOString()}::timestamptz`;
    // Read first (locked, skipping rows another process holds), so the trail names the claim taken back.
    const [stale] = await tx
      .select({ id: operations.id, executingSince: operations.executingSince })
      .from(operations)
      .where(
        and(
          eq(operations.state, "executing"),
          outlived,
          exclude.length > 0 ? notInArray(operations.id, [...exclude]) : undefined,
        ),
      )
      .orderBy(asc(operations.executingSince), asc(operations.id))
      .limit(1)
      .for("update", { skipLocked: true });
    if (stale === undefined) return null;
    const [taken] = await tx
      .update(operations)
      .set({ executingSince: now, attempts: sql`${operations.attempts} + 1` })
      .where(and(eq(operations.id, stale.id), eq(operations.state, "executing")))
      .returning();
    if (taken === undefined) return null;
    await appendAudit(tx, {
      action: "operation.recovered",
      data: {
        operationId: taken.id,
        attempts: taken.attempts,
        executingSince: (stale.executingSince ?? now).toISOString(),
      },
      actor: "system",
      subject: operationSubject(taken.id),
      at: now,
    });
    return taken;
  });
}
