// What the key page shows about a rotated key's sweeps (rotation-sweep.ts): its successor, the sweep job's state,
// the sweep withdrawals Keyward proposed for it (operation state, asset, amount, destination) and every skip
// recorded with its reason. Read-only; null for a key that was never rotated (it has no successor).
import "server-only";
import { and, asc, eq, sql } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { auditEvents, jobs, keys, operations } from "@/db/schema";
import { formatUnits } from "@/server/policy/amounts";
import { ROTATION_SWEEP_JOB } from "./rotation-sweep-job";

export type RotationSweepsView = {
  successor: { id: string; label: string };
  /** The job's state: waiting (not run yet, or retried after an error), running, done, failed; null if none. */
  job: { state: string; attempts: number; lastError: string | null } | null;
  sweeps: {
    operationId: string;
    state: string;
    chain: string;
    asset: string;
    amount: string;
    destination: string;
  }[];
  skipped: { chain: string; asset: string | null; reason: string; at: Date }[];
};

type SweepPayload = {
  chain?: string;
  asset?: string;
  amount?: string;
  decimals?: number;
  destination?: string;
};
type SkipData = { chain?: string; asset?: string | null; reason?: string };

export async function rotationSweepsOf(db: DbOrTx, keyId: string): Promise<RotationSweepsView | null> {
  const [successor] = await db
    .select({ id: keys.id, label: keys.label })
    .from(keys)
    .where(eq(keys.predecessorId, keyId))
    .limit(1);
  if (successor === undefined) return null;
  const [job] = await db
    .select({ state: jobs.state, attempts: jobs.attempts, lastError: jobs.lastError })
    .from(jobs)
    .where(and(eq(jobs.kind, ROTATION_SWEEP_JOB), eq(jobs.subject, `key:${keyId}`)))
    .limit(1);
  const ops = await db
    .select({ id: operations.id, state: operations.state, payload: operations.payload })
    .from(operations)
    .where(
      and(
        eq(operations.kind, "withdrawal"),
        eq(operations.systemInitiator, "rotation-sweep"),
        sql`${operations.payload}->>'keyId' = ${keyId}`,
      ),
    )
    .orderBy(asc(operations.createdAt));
  const skips = await db
    .select({ at: auditEvents.at, data: auditEvents.data })
    .from(auditEvents)
    .where(and(eq(auditEvents.action, "key.sweep_skipped"), eq(auditEvents.subject, `key:${keyId}`)))
    .orderBy(asc(auditEvents.at));
  return {
    successor,
    job: job ?? null,
    sweeps: ops.map((op) => {
      const p = op.payload as SweepPayload;
      const amount =
        p.amount !== undefined && p.decimals !== undefined
          ? `${formatUnits(BigInt(p.amount), p.decimals)} ${p.asset ?? ""}`.trim()
          : (p.amount ?? "");
      return {
        operationId: op.id,
        state: op.state,
        chain: p.chain ?? "",
        asset: p.asset ?? "",
        amount,
        destination: p.destination ?? "",
      };
    }),
    skipped: skips.map((s) => {
      const d = s.data as SkipData;
      return { chain: d.chain ?? "", asset: d.asset ?? null, reason: d.reason ?? "", at: s.at };
    }),
  };
}
