// One round of the executor: take back claims that outlived their lease, then claim approved operations one by
// one and execute each, a few at a time (the HSM pool serves several calls at once), until none is left or the
// round's budget is spent. Any number of rounds may run at once, in any processes: claims decide who does what.
import "server-only";
import { claimApproved, claimStale, DEFAULT_LEASE, type Lease } from "./claim";
import { type ExecuteOutcome, type ExecutorDeps, executeClaimed } from "./execute";

export type RoundOptions = {
  lease?: Lease;
  /** Operations executed at once by this round. */
  concurrency?: number;
  /** The round claims no new operation after this many (so a scheduler tick stays within its job's lock). */
  maxOperations?: number;
};

export async function runExecutorRound(
  deps: ExecutorDeps,
  options: RoundOptions = {},
): Promise<ExecuteOutcome[]> {
  const lease = options.lease ?? DEFAULT_LEASE;
  const max = options.maxOperations ?? 200;
  const outcomes: ExecuteOutcome[] = [];
  const retaken: string[] = [];
  let claimed = 0;
  const next = async () => {
    const stale = await claimStale(deps.db, deps.clock(), lease, retaken);
    if (stale !== null) {
      retaken.push(stale.id);
      return stale;
    }
    return claimApproved(deps.db, deps.clock());
  };
  const worker = async () => {
    while (claimed < max) {
      claimed++;
      const op = await next();
      if (op === null) return;
      outcomes.push(await executeClaimed(deps, op));
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
  return outcomes;
}
