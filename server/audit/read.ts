// Reading the audit trail: recent events for people, and a full re-check of the stored hash chain.
import "server-only";
import { asc, desc, gt } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { auditEvents } from "@/db/schema";
import { type ChainProblem, GENESIS_HASH, verifyChain } from "./chain";

export async function recentAuditEvents(db: DbOrTx, limit: number) {
  return db.select().from(auditEvents).orderBy(desc(auditEvents.seq)).limit(limit);
}

const PAGE = 5_000;

/** Re-computes every hash from the first entry, page by page. */
export async function verifyStoredChain(
  db: DbOrTx,
): Promise<{ events: number; headSeq: number; headHash: string; problems: ChainProblem[] }> {
  let prevHash = GENESIS_HASH;
  let lastSeq = 0;
  let expectedFirst = 1;
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
    if (entries[0] && entries[0].seq !== expectedFirst) problems.push({ seq: entries[0].seq, problem: "gap" });
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
