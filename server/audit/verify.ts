// What the status page shows about the chain, without re-hashing the whole trail on every view: each process
// remembers the last point it verified (per database handle) and hashes only what was appended since. The
// whole trail is re-verified at start-up, on an auditor's demand, and whenever the remembered point's row no
// longer carries the hash that was verified there.
import "server-only";
import { eq } from "drizzle-orm";
import type { Db } from "@/db/client";
import { auditEvents } from "@/db/schema";
import type { ChainProblem } from "./chain";
import { type ChainPoint, GENESIS_POINT, verifyStoredRun } from "./read";

export type ChainReport = {
  /** Entries in the verified chain (seq is gap-free, so the head's seq when intact). */
  events: number;
  headSeq: number;
  headHash: string;
  problems: ChainProblem[];
  /** Entries hashed by this check: the whole trail, or only those after the remembered point. */
  hashed: number;
  mode: "full" | "incremental";
};

/**
 * Kept per process: several instances each keep their own; a restart begins with a full verification. On
 * globalThis, like the database handle it is keyed by, because Next.js bundles this module more than once
 * (instrumentation, pages, route handlers) and the start-up verification must serve them all.
 */
const holder = globalThis as typeof globalThis & { __keywardVerifiedChain?: WeakMap<Db, ChainPoint> };
holder.__keywardVerifiedChain ??= new WeakMap();
const verified: WeakMap<Db, ChainPoint> = holder.__keywardVerifiedChain;

function remember(db: Db, run: { headSeq: number; headHash: string; problems: ChainProblem[] }) {
  // A broken chain is never a starting point: the next check starts again from the last good one.
  if (run.problems.length === 0) verified.set(db, { seq: run.headSeq, hash: run.headHash });
}

/** Re-hashes the whole trail from the first entry and remembers its head when intact. */
export async function verifyWholeChain(db: Db): Promise<ChainReport> {
  const run = await verifyStoredRun(db, GENESIS_POINT);
  if (run.problems.length > 0) verified.delete(db);
  remember(db, run);
  return { ...run, hashed: run.events, mode: "full" };
}

/** Hashes only the entries after the last point this process verified (everything, the first time). */
export async function verifyChainIncrementally(db: Db): Promise<ChainReport> {
  const from = verified.get(db);
  if (!from) return verifyWholeChain(db);
  if (from.seq > 0) {
    const [row] = await db
      .select({ hash: auditEvents.hash })
      .from(auditEvents)
      .where(eq(auditEvents.seq, from.seq));
    // The verified point itself was removed or rewritten: nothing before it can be assumed any more.
    if (row?.hash !== from.hash) return verifyWholeChain(db);
  }
  const run = await verifyStoredRun(db, from);
  remember(db, run);
  return {
    events: run.problems.length === 0 ? run.headSeq : from.seq + run.events,
    headSeq: run.headSeq,
    headHash: run.headHash,
    problems: run.problems,
    hashed: run.events,
    mode: "incremental",
  };
}
