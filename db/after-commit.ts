// Work that must follow a transaction's commit — today, starting the audit integrator's round that numbers the
// events the transaction wrote (server/audit/integrate.ts; the follow-up starts it and returns, so the caller
// does not wait for the round). openDatabase wraps `db.transaction` once with
// `runAfterCommit`; code inside a transaction asks for a follow-up with `afterCommit(key, run)`. Savepoints
// (`tx.transaction`) belong to their outermost transaction: follow-ups run when it commits, never on rollback.
import { AsyncLocalStorage } from "node:async_hooks";
import type { Db } from "./client";

type FollowUp = (db: Db) => Promise<unknown>;

/** The follow-ups asked for by the transaction whose callback is running, by key (asked twice, run once). */
const asked = new AsyncLocalStorage<Map<string, FollowUp>>();

/**
 * Asks for `run` once the current outermost transaction has committed. Returns false outside a transaction
 * of a wrapped handle (nothing will run; callers must have another way to catch up, as the integrator does).
 */
export function afterCommit(key: string, run: FollowUp): boolean {
  const followUps = asked.getStore();
  if (followUps === undefined) return false;
  if (!followUps.has(key)) followUps.set(key, run);
  return true;
}

/**
 * Makes every `db.transaction(...)` run its follow-ups after a successful commit, before it returns. A
 * follow-up that fails is reported, not thrown: the change has committed, and telling its caller it failed
 * would be a lie (each follow-up must have its own way to catch up later).
 */
export function runAfterCommit<D extends Db>(db: D): D {
  const transaction = db.transaction.bind(db);
  const wrapped: Db["transaction"] = async (callback, config) => {
    const followUps = new Map<string, FollowUp>();
    const result = await asked.run(followUps, () => transaction(callback, config));
    for (const [key, run] of followUps) {
      try {
        await run(db);
      } catch (e) {
        console.error(`Keyward: work after commit (${key}) failed; it is retried later`, e);
      }
    }
    return result;
  };
  (db as Db).transaction = wrapped;
  return db;
}
