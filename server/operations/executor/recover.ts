// At start-up, operations left executing (the process died between claim and completion) are completed by
// repeating their idempotent step: taken back with a new claim (operation.recovered), then executed as usual.
import "server-only";
import { claimStale, type Lease } from "./claim";
import { type ExecuteOutcome, type ExecutorDeps, executeClaimed } from "./execute";

/**
 * Recovers every operation left executing whose claim has outlived `lease`, one after another. At start-up on
 * PGlite pass `{ ms: 0, maxMs: 0 }` (one process owns the folder: nothing executing is anyone's); on
 * PostgreSQL other live processes may hold claims, so the default lease applies and the scheduler's execute
 * sweep takes the rest back once their leases run out.
 */
export async function recoverExecuting(deps: ExecutorDeps, lease: Lease): Promise<ExecuteOutcome[]> {
  const outcomes: ExecuteOutcome[] = [];
  const taken: string[] = [];
  for (;;) {
    const op = await claimStale(deps.db, deps.clock(), lease, taken);
    if (op === null) return outcomes;
    taken.push(op.id);
    outcomes.push(await executeClaimed(deps, op));
  }
}
