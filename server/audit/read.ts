// Reading the audit trail: recent events for people, and re-checks of the stored hash chain — whole, or
// (server/audit/verify.ts) from the last point this process verified.
import "server-only";
import { asc, desc, gt } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { auditEvents } from "@/db/schema";
import { type ChainProblem, GENESIS_HASH, verifyChain } from "./chain";

export async function recentAuditEvents(db: DbOrTx, limit: number) {
  return db.select().from(auditEvents).orderBy(desc(auditEvents.seq)).limit(limit);
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
    const entries = page.map((r) => ({ ...r, at: r.at.toISOString() }));
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
