// The withdrawal.track job: a sweep every second, through the operations scheduler, that broadcasts the
// withdrawals executed since the last one and follows those on their way (server/withdrawals/broadcast.ts).
// The clients and confirmations are read at each run (chains/registry.ts, chains/current.ts), never at module
// load, so tests and scripts that install their own are followed at once. With no client configured for any
// chain it reads nothing at all.
import "server-only";
import { chainConfig } from "@/server/chains/current";
import { chainClients } from "@/server/chains/registry";
import type { JobHandler } from "@/server/operations/scheduler/handlers";
import { type TrackerDeps, trackWithdrawals } from "./broadcast";

export const WITHDRAWAL_TRACK_JOB = "withdrawal.track";

/** Where the tracker's clients and confirmation counts come from at each run. */
export type TrackingSource = () => Pick<TrackerDeps, "clients" | "confirmations">;

/** The configured ones: the chain clients in use and KEYWARD_CONFIRMATIONS_*. */
export const configuredTracking: TrackingSource = () => ({
  clients: chainClients(),
  confirmations: chainConfig().confirmations,
});

/** The job's handler; a run that met errors (a node not answering) fails with them, and the next run retries. */
export function trackingJob(source: TrackingSource = configuredTracking): JobHandler {
  return {
    everyMs: 1000,
    run: async ({ db, clock }) => {
      const report = await trackWithdrawals({ db, clock, ...source() });
      if (report.errors.length > 0) throw new Error(report.errors.slice(0, 5).join("; "));
    },
  };
}
