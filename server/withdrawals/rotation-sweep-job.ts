// The key.rotation-sweep job's name, payload and enqueueing, on their own so the executor's key records
// (server/operations/executor/keys.ts) can enqueue it in the rotation's completing transaction without loading the
// sweep itself (rotation-sweep.ts, which proposes through server/operations/propose.ts).
import "server-only";
import { z } from "zod";
import type { Tx } from "@/db/client";
import { enqueueJob } from "@/server/operations/scheduler/jobs";

export const ROTATION_SWEEP_JOB = "key.rotation-sweep";
/** Tries before the job is failed (a node not answering is retried with the scheduler's back-off). */
export const ROTATION_SWEEP_MAX_ATTEMPTS = 20;

export const rotationSweepJobPayload = z.object({
  predecessorId: z.string().uuid(),
  successorId: z.string().uuid(),
});
export type RotationSweepJobPayload = z.infer<typeof rotationSweepJobPayload>;

/** Enqueues the sweep in the rotation's completing transaction (executor/keys.ts recordRotatedKey). */
export async function enqueueRotationSweep(
  tx: Tx,
  input: RotationSweepJobPayload & { at: Date },
): Promise<void> {
  await enqueueJob(tx, {
    kind: ROTATION_SWEEP_JOB,
    runAt: input.at,
    subject: `key:${input.predecessorId}`,
    payload: { predecessorId: input.predecessorId, successorId: input.successorId },
    now: input.at,
  });
}
