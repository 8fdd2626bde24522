// The scheduler's timer: every interval it frees jobs whose process died mid-run, then runs the jobs that are
// due, one claim at a time, until none is due or the tick's budget is spent. Every engine and every process
// runs one (boot.ts); the claim in jobs.ts makes each run happen once. Ticks never overlap within a process.
import "server-only";
import type { Db } from "@/db/client";
import type { Clock } from "@/server/clock";
import { defaultHandlers, type JobHandlers } from "./handlers";
import { claimDueJob, ensureRecurring, finishJob, releaseExpiredLocks } from "./jobs";

export type SchedulerOptions = {
  db: Db;
  clock: Clock;
  intervalMs: number;
  handlers?: JobHandlers;
  /** How long a claimed job is this process's before another may take it back. */
  lockMs?: number;
  /** Jobs run per tick at most, so a backlog cannot hold one tick forever. */
  maxJobsPerTick?: number;
  /** Called after each timer tick (the log by default); tests wait on it instead of sleeping. */
  onTick?: (report: TickReport) => void;
};

export type TickReport = { ran: { kind: string; subject: string | null; ok: boolean; error?: string }[] };

export type Scheduler = {
  /** One tick now (tests drive time with their clock); waits for a tick already under way first. */
  tick: () => Promise<TickReport>;
  /** No tick starts after this; resolves when the one under way has ended. */
  stop: () => Promise<void>;
};

const DEFAULT_LOCK_MS = 5 * 60_000;

/**
 * A sweep's next run: the first slot of its grid (run_at + k × every) after now. A fixed grid rather than
 * "now + every", so runs do not drift by the time each takes, and a deadline falling on a slot is met at it:
 * a sweep every second acts on a due row at the first whole second after its deadline.
 */
export function nextSlot(runAt: Date, everyMs: number, now: Date): Date {
  const behind = Math.max(0, now.getTime() - runAt.getTime());
  return new Date(runAt.getTime() + everyMs * (Math.floor(behind / everyMs) + 1));
}

function errorText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).slice(0, 500);
}

export function startScheduler(options: SchedulerOptions): Scheduler {
  const { db, clock } = options;
  const handlers = options.handlers ?? defaultHandlers();
  const lockMs = options.lockMs ?? DEFAULT_LOCK_MS;
  const maxJobs = options.maxJobsPerTick ?? 50;
  let recurringReady = false;
  let current: Promise<TickReport> | null = null;
  let stopped = false;

  const runTick = async (): Promise<TickReport> => {
    const report: TickReport = { ran: [] };
    if (!recurringReady) {
      for (const [kind, handler] of Object.entries(handlers)) {
        if (handler.everyMs !== undefined) await ensureRecurring(db, kind, clock());
      }
      recurringReady = true;
    }
    await releaseExpiredLocks(db, clock());
    for (let i = 0; i < maxJobs && !stopped; i++) {
      const job = await claimDueJob(db, clock(), lockMs);
      if (job === null) break;
      const handler = handlers[job.kind];
      if (handler === undefined) {
        // A kind this process does not know (a newer version enqueued it): leave it for one that does.
        const error = `no handler for job kind '${job.kind}' in this process`;
        await finishJob(db, job, { ok: false, error, retryAt: new Date(clock().getTime() + lockMs) });
        report.ran.push({ kind: job.kind, subject: job.subject, ok: false, error });
        continue;
      }
      try {
        await handler.run({ db, clock, job });
        const nextRunAt =
          handler.everyMs === undefined ? null : nextSlot(job.runAt, handler.everyMs, clock());
        await finishJob(db, job, { ok: true, nextRunAt });
        report.ran.push({ kind: job.kind, subject: job.subject, ok: true });
      } catch (e) {
        const error = errorText(e);
        const now = clock().getTime();
        const retryAt =
          handler.everyMs !== undefined
            ? nextSlot(job.runAt, handler.everyMs, clock())
            : job.attempts >= (handler.maxAttempts ?? 10)
              ? null
              : new Date(now + Math.min(1000 * 2 ** job.attempts, 3_600_000));
        await finishJob(db, job, { ok: false, error, retryAt });
        report.ran.push({ kind: job.kind, subject: job.subject, ok: false, error });
      }
    }
    return report;
  };

  const tick = async (): Promise<TickReport> => {
    while (current !== null) await current.catch(() => undefined);
    const run = runTick();
    current = run;
    try {
      return await run;
    } finally {
      current = null;
    }
  };

  const onTick =
    options.onTick ??
    ((report: TickReport) => {
      for (const r of report.ran) if (!r.ok) console.error(`Keyward: job ${r.kind} failed: ${r.error}`);
    });
  const timer = setInterval(() => {
    if (current !== null || stopped) return;
    tick().then(onTick, (e: unknown) => console.error("Keyward: scheduler tick failed", e));
  }, options.intervalMs);
  timer.unref();

  return {
    tick,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      while (current !== null) await current.catch(() => undefined);
    },
  };
}
