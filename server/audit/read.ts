// Reading the audit trail: recent events for people, and re-checks of the stored hash chain — whole, or
// (server/audit/verify.ts) from the last point this process verified.
import "server-only";
import { asc, desc, gt, isNotNull } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { auditEvents } from "@/db/schema";
import { type ChainedEntry, type ChainProblem, GENESIS_HASH, verifyChain } from "./chain";

type StoredEvent = typeof auditEvents.$inferSelect;

/** An event the integrator has sealed: its place in the chain is known. */
export type SealedEvent = Omit<StoredEvent, "seq" | "prevHash" | "hash"> & {
  seq: number;
  prevHash: string;
  hash: string;
};

/** Narrows a row read with `seq IS NOT NULL` (the CHECK constraint seals all three columns together). */
export function sealed(row: StoredEvent): SealedEvent {
  const { seq, prevHash, hash } = row;
  if (seq === null || prevHash === null || hash === null)
    throw new Error(`audit event ${row.id} is not sealed`);
  return { ...row, seq, prevHash, hash };
}

/** The newest sealed events (those still being sequenced join within moments). */
export async function recentAuditEvents(db: DbOrTx, limit: number): Promise<SealedEvent[]> {
  const rows = await db
    .select()
    .from(auditEvents)
    .where(isNotNull(auditEvents.seq))
    .orderBy(desc(auditEvents.seq))
    .limit(limit);
  return rows.map(sealed);
}

const PAGE = 5_000;

/** A verified point of the chain: the entry `seq` (0 before the first) whose hash is `hash`. */
export type ChainPoint = { seq: number; hash: string };

export const GENESIS_POINT: ChainPoint = { seq: 0, hash: GENESIS_HASH };

export type ChainRun = { events: number; headSeq: number; headHash: string; problems: ChainProblem[] };

/** Re-computes every hash after `from`, page by page; `events` counts the entries hashed. */
export async function verifyStoredRun(db: DbOrTx, from: ChainPoint): Promise<ChainRun> {
  let prevHash = from.hash;
  let lastSeq = from.seq;
  let expectedFirst = from.seq + 1;
  const problems: ChainProblem[] = [];
  let checked = 0;
  for (;;) {
    const page = await db
      .select()
      .from(auditEvents)
      .where(gt(auditEvents.seq, lastSeq))
      .orderBy(asc(auditEvents.seq))
      .limit(PAGE);
    if (page.length === 0) break;
    const entries: ChainedEntry[] = page.map((r) => ({ ...sealed(r), at: r.at.toISOString() }));
    if (entries[0] && entries[0].seq !== expectedFirst)
      problems.push({ seq: entries[0].seq, problem: "gap" });
    problems.push(...verifyChain(entries, prevHash));
    checked += entries.length;
    const last = entries[entries.length - 1];
    if (!last) break;
    prevHash = last.hash;
    lastSeq = last.seq;
    expectedFirst = last.seq + 1;
  }
  return { events: checked, headSeq: lastSeq, headHash: prevHash, problems };
}

/** Re-computes every hash from the first entry. */
export function verifyStoredChain(db: DbOrTx): Promise<ChainRun> {
  return verifyStoredRun(db, GENESIS_POINT);
}
