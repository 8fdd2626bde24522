// The jobs table: work that must happen at a time, on every engine, whichever process is up. A job is claimed
// by one statement, `UPDATE jobs SET state='running', locked_until=… WHERE id IN (SELECT id … WHERE
// state='waiting' AND run_at <= now ORDER BY run_at FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING *`, so one
// process runs it; a job whose process died while running is waiting again once its lock runs out.
// Recurring jobs (sweeps) are one row per kind that goes back to waiting with its next run_at after each run.
import "server-only";
import { and, asc, eq, inArray, lt, lte, sql } from "drizzle-orm";
import type { Db, DbOrTx } from "@/db/client";
import { jobs } from "@/db/schema";

export type JobRow = typeof jobs.$inferSelect;
/** Recurring rows carry this subject; one-off jobs name what they act on (an operation, a key). */
export const RECURRING = "recurring";
/** Arbitrary constant naming the lock under which recurring rows are made (one per kind, even at once). */
const RECURRING_LOCK_KEY = 0x4b574a42; // "KWJB"

/** Adds a one-off job (in the caller's transaction, so it exists exactly when the change that needs it does). */
export async function enqueueJob(
  db: DbOrTx,
  job: { kind: string; runAt: Date; subject: string; payload?: Record<string, unknown>; now: Date },
): Promise<JobRow> {
  const [row] = await db
    .insert(jobs)
    .values({
      kind: job.kind,
      runAt: job.runAt,
      subject: job.subject,
      payload: job.payload ?? {},
      createdAt: job.now,
    })
    .returning();
  if (row === undefined) throw new Error("insert into jobs returned no row");
  return row;
}

/** Makes sure a recurring kind has its row (waiting or running), first run now. Safe from several processes. */
export async function ensureRecurring(db: Db, kind: string, now: Date): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${RECURRING_LOCK_KEY})`);
    const [present] = await tx
      .select({ id: jobs.id })
      .from(jobs)
      .where(
        and(eq(jobs.kind, kind), eq(jobs.subject, RECURRING), inArray(jobs.state, ["waiting", "running"])),
      )
      .limit(1);
    if (present === undefined)
      await tx.insert(jobs).values({ kind, runAt: now, subject: RECURRING, createdAt: now });
  });
}

/** Running jobs whose lock ran out (their process died mid-run) wait again; they are due at once. */
export async function releaseExpiredLocks(db: Db, now: Date): Promise<number> {
  const released = await db
    .update(jobs)
    .set({ state: "waiting", lockedUntil: null })
    .where(and(eq(jobs.state, "running"), lt(jobs.lockedUntil, now)))
    .returning({ id: jobs.id });
  return released.length;
}

/** Claims the job due first, locked until now + lockMs, or null when nothing is due. */
export async function claimDueJob(db: Db, now: Date, lockMs: number): Promise<JobRow | null> {
  const due = db
    .select({ id: jobs.id })
    .from(jobs)
    .where(and(eq(jobs.state, "waiting"), lte(jobs.runAt, now)))
    .orderBy(asc(jobs.runAt))
    .limit(1)
    .for("update", { skipLocked: true });
  const [job] = await db
    .update(jobs)
    .set({
      state: "running",
      lockedUntil: new Date(now.getTime() + lockMs),
      attempts: sql`${jobs.attempts} + 1`,
    })
    .where(and(eq(jobs.id, sql`(${due})`), eq(jobs.state, "waiting")))
    .returning();
  return job ?? null;
}

/** The run's end: applies only while this run still holds the job (same lock), so a late run changes nothing. */
export async function finishJob(
  db: Db,
  job: JobRow,
  end: { ok: true; nextRunAt: Date | null } | { ok: false; error: string; retryAt: Date | null },
): Promise<boolean> {
  const held = and(eq(jobs.id, job.id), eq(jobs.state, "running"), eq(jobs.lockedUntil, lockOf(job)));
  const set = end.ok
    ? end.nextRunAt === null
      ? { state: "done" as const, lockedUntil: null, lastError: null }
      : { state: "waiting" as const, runAt: end.nextRunAt, lockedUntil: null, attempts: 0, lastError: null }
    : end.retryAt === null
      ? { state: "failed" as const, lockedUntil: null, lastError: end.error }
      : { state: "waiting" as const, runAt: end.retryAt, lockedUntil: null, lastError: end.error };
  const rows = await db.update(jobs).set(set).where(held).returning({ id: jobs.id });
  return rows.length === 1;
}

function lockOf(job: JobRow): Date {
  if (job.lockedUntil === null) throw new Error(`job ${job.id} is not locked`);
  return job.lockedUntil;
}
