// The calls of an HsmPool: waiting in a bounded queue, handed to threads in batches, answered from the
// threads' outcomes, and failed on their deadline or when their thread is lost. Every call is answered
// exactly once; a call that may have reached the HSM is never answered "busy".
import "server-only";
import { HsmError, hsmError } from "../pkcs11/errors";
import {
  fromWireError,
  type JobOutcome,
  type LearnedKey,
  type PoolJob,
  type PoolWork,
  wallClock,
} from "./pool-protocol";
import type { PoolThread } from "./pool-thread";

type Job = {
  id: number;
  deadline: number;
  work: PoolWork;
  operation: string;
  timeoutMs: number;
  timer: NodeJS.Timeout | undefined;
  finish: (value: unknown) => void;
  fail: (error: HsmError) => void;
};

/**
 * `perThread`: most calls posted to one thread (so it always has the next call at hand while the main thread
 * is busy); `batchSize`: most calls in one message; `stuckAfterMs`: see PoolThread.watch.
 */
export type JobSettings = { tokenLabel: string; batchSize: number; perThread: number; stuckAfterMs: number };

export class JobBoard {
  private readonly queue: Job[] = [];
  private readonly posted = new Map<number, Job>();
  private nextJob = 1;
  private dispatchScheduled = false;
  private idle: (() => void) | undefined;

  constructor(
    private readonly settings: JobSettings,
    /** The live threads, in the pool's order. */
    private readonly threads: () => readonly PoolThread[],
    /** A thread found or made a key handle (see pool-worker.ts runAndLearn). */
    private readonly learned: (key: LearnedKey) => void = () => {},
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  get inFlight(): number {
    return this.posted.size;
  }

  /** Queues a call (or, for tests, posts it straight to one thread) and settles with its raw outcome. */
  add(work: PoolWork, operation: string, timeoutMs: number, to?: PoolThread): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const job: Job = {
        id: this.nextJob++,
        deadline: wallClock() + timeoutMs,
        work,
        operation,
        timeoutMs,
        timer: undefined,
        finish: resolve,
        fail: reject,
      };
      job.timer = setTimeout(() => this.expire(job), timeoutMs);
      if (to !== undefined) {
        this.post(to, [job]);
        return;
      }
      this.queue.push(job);
      this.scheduleDispatch();
    });
  }

  private scheduleDispatch(): void {
    // Calls made in the same tick go out together, in as few messages as the batch size allows.
    if (this.dispatchScheduled) return;
    this.dispatchScheduled = true;
    queueMicrotask(() => {
      this.dispatchScheduled = false;
      this.dispatch();
    });
  }

  /**
   * Hands waiting calls to the least-loaded threads. An idle thread takes any number; a busy one only a
   * batch's worth or what is left, so a busy thread gets few, full messages instead of many small ones.
   */
  dispatch(): void {
    const { batchSize, perThread } = this.settings;
    while (this.queue.length > 0) {
      // Calls queued together are shared out among the threads, not all handed to the first idle one:
      // with asynchronous signing a thread runs only its own sessions' worth at once (measured: 4 calls in
      // flight over 2 threads ran at 0.44-0.60x raw when one thread took all 4).
      const share = Math.ceil(this.queue.length / Math.max(1, this.threads().length));
      const wanted = Math.min(batchSize, this.queue.length, share);
      let best: PoolThread | undefined;
      for (const t of this.threads()) {
        const room = perThread - t.inFlight.size;
        if (room <= 0 || (t.inFlight.size > 0 && room < wanted)) continue;
        if (best === undefined || t.inFlight.size < best.inFlight.size) best = t;
      }
      if (best === undefined) return;
      this.post(best, this.queue.splice(0, Math.min(wanted, perThread - best.inFlight.size)));
    }
  }

  private post(thread: PoolThread, jobs: Job[]): void {
    const batch: PoolJob[] = [];
    for (const job of jobs) {
      thread.inFlight.add(job.id);
      this.posted.set(job.id, job);
      batch.push({ id: job.id, deadline: job.deadline, work: job.work });
    }
    thread.send(batch);
    thread.watch(this.settings.stuckAfterMs);
  }

  private settle(job: Job, outcome: { ok: true; value: unknown } | { ok: false; error: HsmError }): void {
    clearTimeout(job.timer);
    // thread.inFlight keeps the job until the thread itself answers it: an expired call still occupies the
    // thread, and counts for its load and for the watchdog.
    this.posted.delete(job.id);
    if (outcome.ok) job.finish(outcome.value);
    else job.fail(outcome.error);
    if (this.idle !== undefined && this.queue.length === 0 && this.posted.size === 0) this.idle();
  }

  /** A thread answered some of its calls. */
  answered(thread: PoolThread, outcomes: JobOutcome[]): void {
    for (const outcome of outcomes) {
      thread.inFlight.delete(outcome.id);
      // Even for a call that missed its deadline: the handle is as good as ever.
      if (outcome.ok && outcome.learned !== undefined) this.learned(outcome.learned);
      const job = this.posted.get(outcome.id);
      // Absent: the call already missed its deadline and was answered then.
      if (job === undefined) continue;
      this.settle(job, outcome.ok ? outcome : { ok: false, error: fromWireError(outcome.error) });
    }
    thread.progressed(this.settings.stuckAfterMs);
    this.dispatch();
  }

  /** A thread is gone: what it held may or may not have happened. */
  orphaned(thread: PoolThread, why: string): void {
    for (const id of [...thread.inFlight]) {
      const job = this.posted.get(id);
      if (job === undefined) continue;
      const error = new HsmError(
        "outcome-unknown",
        `The HSM worker running ${job.operation} on token '${this.settings.tokenLabel}' stopped (${why}); the call may have taken effect, so treat the operation as maybe-done.`,
        { operation: job.operation },
      );
      this.settle(job, { ok: false, error });
    }
  }

  /** Fails every waiting call (none of them reached the HSM). */
  failWaiting(error: (operation: string) => HsmError): void {
    for (const job of this.queue.splice(0)) this.settle(job, { ok: false, error: error(job.operation) });
  }

  /** Resolves once nothing waits and nothing is in flight. */
  drained(): Promise<void> {
    if (this.queue.length === 0 && this.posted.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.idle = resolve;
    });
  }

  /**
   * A deadline passed. A call still waiting never reached the HSM: "busy", safe to retry. A posted one may be
   * running: "timeout" (maybe-done). Its thread is left to the watchdog: a short deadline must not end a
   * thread that is busy with other calls.
   */
  private expire(job: Job): void {
    const { tokenLabel } = this.settings;
    const waiting = this.queue.indexOf(job);
    if (waiting >= 0) {
      this.queue.splice(waiting, 1);
      const error = new HsmError(
        "busy",
        `HSM token '${tokenLabel}' had no free session for ${job.operation} within ${job.timeoutMs} ms; nothing reached the HSM. Retry a moment later or on another HSM.`,
        { operation: job.operation },
      );
      this.settle(job, { ok: false, error });
      return;
    }
    const timeoutMs = job.timeoutMs;
    this.settle(job, {
      ok: false,
      error: hsmError("timeout", { operation: job.operation, tokenLabel, timeoutMs }),
    });
  }
}
