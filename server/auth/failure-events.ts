// Anonymous sign-in failures reach the append-only audit trail aggregated, so nobody can flood it:
// - the first failure per credential id, reason and minute writes one `auth.sign_in_failed` event;
// - repeats in that minute only count, in sign_in_failure_counts (ON CONFLICT ... attempts + 1);
// - past MAX_CREDENTIALS_PER_MINUTE distinct credential ids in a minute, new ids share one bucket ("*"), so
//   inventing credential ids buys at most that many events a minute (the rate limits bound requests anyway);
// - the first failure after a minute closes writes one `auth.sign_in_failures_summarised` event with the
//   repeats counted in every closed minute, and deletes those rows. `summariseSignInFailures` does the same for
//   a periodic job, so counts reach the trail even when failures stop.
// Each counting step runs in a transaction of its own: a refusal's own transaction has rolled back.
import "server-only";
import { and, eq, lt, ne, sql } from "drizzle-orm";
import type { Db, Tx } from "@/db/client";
import { signInFailureCounts } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import type { SignInFailure } from "./refusals";

/** Distinct credential ids audited one by one per minute; beyond, failures share the "*" bucket. */
export const MAX_CREDENTIALS_PER_MINUTE = 100;
/** The bucket of credential ids past the per-minute limit. */
export const MANY_CREDENTIALS = "*";

/** Serialises summaries (deleting closed minutes), so a row is summarised once. Arbitrary constant. */
const SUMMARY_LOCK_KEY = 0x4b575346; // "KWSF"

const minuteOf = (now: Date) => new Date(Math.floor(now.getTime() / 60_000) * 60_000);

export async function recordSignInFailure(
  db: Db,
  input: { credentialId: string; reason: SignInFailure; now: Date },
): Promise<void> {
  const minute = minuteOf(input.now);
  await db.transaction(async (tx) => {
    const credentialId = await bucketFor(tx, input.credentialId, input.reason, minute);
    const [row] = await tx
      .insert(signInFailureCounts)
      .values({ credentialId, reason: input.reason, minute, attempts: 1 })
      .onConflictDoUpdate({
        target: [signInFailureCounts.credentialId, signInFailureCounts.reason, signInFailureCounts.minute],
        set: { attempts: sql`${signInFailureCounts.attempts} + 1` },
      })
      .returning({ attempts: signInFailureCounts.attempts });
    await summariseClosedMinutes(tx, minute, input.now);
    if (row?.attempts !== 1) return;
    const many = credentialId === MANY_CREDENTIALS;
    await appendAudit(tx, {
      action: "auth.sign_in_failed",
      actor: "anonymous",
      subject: many ? "token:*" : `token:${credentialId}`,
      at: input.now,
      data: { reason: input.reason, credentialId: many ? null : credentialId },
    });
  });
}

/** The row this failure counts in: its own, unless the minute already holds too many credential ids. */
async function bucketFor(tx: Tx, credentialId: string, reason: string, minute: Date): Promise<string> {
  const [own] = await tx
    .select({ attempts: signInFailureCounts.attempts })
    .from(signInFailureCounts)
    .where(
      and(
        eq(signInFailureCounts.credentialId, credentialId),
        eq(signInFailureCounts.reason, reason),
        eq(signInFailureCounts.minute, minute),
      ),
    );
  if (own) return credentialId;
  const [{ n } = { n: 0 }] = await tx
    .select({ n: sql<number>`count(*)::int` })
    .from(signInFailureCounts)
    .where(
      and(eq(signInFailureCounts.minute, minute), ne(signInFailureCounts.credentialId, MANY_CREDENTIALS)),
    );
  return n >= MAX_CREDENTIALS_PER_MINUTE ? MANY_CREDENTIALS : credentialId;
}

/** Writes the summary of every minute before `now`'s (if any repeated) and deletes those rows. */
export async function summariseSignInFailures(db: Db, now: Date): Promise<void> {
  await db.transaction((tx) => summariseClosedMinutes(tx, minuteOf(now), now));
}

async function summariseClosedMinutes(tx: Tx, currentMinute: Date, now: Date): Promise<void> {
  const closed = lt(signInFailureCounts.minute, currentMinute);
  const [any] = await tx
    .select({ minute: signInFailureCounts.minute })
    .from(signInFailureCounts)
    .where(closed)
    .limit(1);
  if (!any) return;
  await tx.execute(sql`SELECT pg_advisory_xact_lock(${SUMMARY_LOCK_KEY})`);
  const rows = await tx.delete(signInFailureCounts).where(closed).returning();
  const repeated = rows.filter((r) => r.attempts > 1);
  if (repeated.length === 0) return;
  const byReason: Record<string, number> = {};
  for (const r of repeated) byReason[r.reason] = (byReason[r.reason] ?? 0) + r.attempts - 1;
  const minutes = repeated.map((r) => r.minute.getTime());
  await appendAudit(tx, {
    action: "auth.sign_in_failures_summarised",
    actor: "system",
    subject: "sign-in",
    at: now,
    data: {
      from: new Date(Math.min(...minutes)).toISOString(),
      to: new Date(Math.max(...minutes) + 60_000).toISOString(),
      // Failures beyond the first per credential, reason and minute: the ones without an event of their own.
      repeats: repeated.reduce((sum, r) => sum + r.attempts - 1, 0),
      credentials: new Set(repeated.map((r) => r.credentialId)).size,
      byReason,
    },
  });
}
