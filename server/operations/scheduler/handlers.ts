// What each kind of job does. Recurring kinds are sweeps that run every `everyMs` on whichever process claims
// them; one-off kinds (a scheduled destroy) act on their job's subject.
import "server-only";
import type { Db } from "@/db/client";
import type { Clock } from "@/server/clock";
import { expireDue } from "../expire";
import type { ExecutorDeps } from "../executor/execute";
import { runExecutorRound } from "../executor/run";
import { KEY_DESTROY_JOB } from "../executor/keys";
import { KEY_DESTROY_MAX_ATTEMPTS, type KeyDestroyer, runKeyDestruction } from "../key-destruction";
import { releaseDue, releaseOperation, releaseSubject } from "../release";
import { proposeDueRotations } from "../rotation-due";
import { OPERATION_RELEASE_JOB } from "../settle";
import { type TrackingSource, trackingJob, WITHDRAWAL_TRACK_JOB } from "@/server/withdrawals/track-job";
import type { JobRow } from "./jobs";
import { chainConfig } from "@/server/chains/current";
import { chainClients } from "@/server/chains/registry";
import { runRotationSweep } from "@/server/withdrawals/rotation-sweep";
import {
  ROTATION_SWEEP_JOB,
  ROTATION_SWEEP_MAX_ATTEMPTS,
  rotationSweepJobPayload,
} from "@/server/withdrawals/rotation-sweep-job";

export type JobContext = { db: Db; clock: Clock; job: JobRow };

export type JobHandler = {
  /** Recurring: the sweep runs again this long after each run (a row per kind, made by the scheduler). */
  everyMs?: number;
  /** One-off: tries before the job is failed (its last_error says why). */
  maxAttempts?: number;
  run: (ctx: JobContext) => Promise<void>;
};

export type JobHandlers = Record<string, JobHandler>;

/**
 * This session's jobs. operation.execute is a sweep rather than a job enqueued by the approving vote: it needs
 * no write in the vote's transaction, it also finds operations approved any other way (and, later, those whose
 * rule's delay has run out: approval by time), and it takes back claims that outlived their lease; the cost is
 * one indexed query a second, the delay at most one interval.
 */
export function defaultHandlers(
  executor: Omit<ExecutorDeps, "db" | "clock"> = {},
  keys: { destroyer?: KeyDestroyer } = {},
  withdrawals: { tracking?: TrackingSource } = {},
): JobHandlers {
  return {
    "operation.expire": {
      everyMs: 1000,
      run: async ({ db, clock }) => {
        await expireDue(db, clock());
      },
    },
    "operation.execute": {
      everyMs: 1000,
      run: async ({ db, clock }) => {
        await runExecutorRound({ ...executor, db, clock });
      },
    },
    // A scheduled destruction (enqueued by key.destroy's execution): destroys the key on every HSM token, then
    // records it destroyed. A token not reached throws, and the job is retried with back-off.
    [KEY_DESTROY_JOB]: {
      maxAttempts: KEY_DESTROY_MAX_ATTEMPTS,
      run: async ({ db, clock, job }) => {
        await runKeyDestruction({ db, now: clock, destroyer: keys.destroyer }, job);
      },
    },
    // A waiting operation's release (enqueued with its release_at by settle.ts, subject operation:<id>): judged
    // again at that moment; approved, held again (a new job), rejected or cancelled. A job that finds it moved
    // on, or re-held for later, does nothing.
    [OPERATION_RELEASE_JOB]: {
      maxAttempts: 50,
      run: async ({ db, clock, job }) => {
        const operationId = releaseSubject(job.subject);
        if (operationId !== null) await releaseOperation(db, { operationId, now: clock() });
      },
    },
    // Holds with no known time (a velocity cap waiting on unexecuted amounts) and any due release whose job was
    // lost: re-checked every minute.
    "operation.release-sweep": {
      everyMs: 60_000,
      run: async ({ db, clock }) => {
        await releaseDue(db, clock());
      },
    },
    // Executed withdrawals broadcast once and followed to their confirmations, on the chains with a client
    // (server/withdrawals/broadcast.ts); nothing is read when no chain has one.
    [WITHDRAWAL_TRACK_JOB]: trackingJob(withdrawals.tracking),
    // A rotated key's funds (enqueued by key.rotate's completion, subject key:<old id>): one sweep withdrawal to
    // the successor proposed per asset the old key holds (server/withdrawals/rotation-sweep.ts). A node not
    // answering throws, and the job is retried with back-off; what an earlier try proposed is not proposed again.
    [ROTATION_SWEEP_JOB]: {
      maxAttempts: ROTATION_SWEEP_MAX_ATTEMPTS,
      run: async ({ db, clock, job }) => {
        const { networks, assets } = chainConfig();
        await runRotationSweep(
          { db, now: clock(), clients: chainClients(), chains: { networks, assets } },
          rotationSweepJobPayload.parse(job.payload),
        );
      },
    },
    // Rotation periods are days long: an hourly sweep proposes a due rotation within the hour.
    "key.rotation-due": {
      everyMs: 3_600_000,
      run: async ({ db, clock }) => {
        await proposeDueRotations(db, clock());
      },
    },
  };
}
