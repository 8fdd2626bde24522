// Reading the audit trail: recent events for people, and re-checks of the stored hash chain — whole, or
// (server/audit/verify.ts) from the last point this process verified.
import "server-only";
import { and, asc, desc, eq, gt, gte, isNotNull, lt, lte, type SQL } from "drizzle-orm";
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

/** What an auditor filters the trail by; every field optional. */
export type EventFilters = {
  /** Events at or after / before this instant. */
  from?: Date;
  to?: Date;
  actor?: string;
  action?: string;
  /** One subject's whole story, e.g. "operation:<id>" or "key:<id>". */
  subject?: string;
};

/**
 * A page of sealed events matching `filters`, newest first, read by keyset (seq < before), never by offset, so
 * the thousandth page of a log of millions costs what the first does. `before` of the next page is the last
 * seq returned, or null when there is no more.
 */
export async function auditEventsPage(
  db: DbOrTx,
  filters: EventFilters,
  page: { before?: number; limit: number },
): Promise<{ events: SealedEvent[]; before: number | null }> {
  const where: SQL[] = [isNotNull(auditEvents.seq)];
  if (page.before !== undefined) where.push(lt(auditEvents.seq, page.before));
  if (filters.from) where.push(gte(auditEvents.at, filters.from));
  if (filters.to) where.push(lte(auditEvents.at, filters.to));
  if (filters.actor) where.push(eq(auditEvents.actor, filters.actor));
  if (filters.action) where.push(eq(auditEvents.action, filters.action));
  if (filters.subject) where.push(eq(auditEvents.subject, filters.subject));
  const rows = await db
    .select()
    .from(auditEvents)
    .where(and(...where))
    .orderBy(desc(auditEvents.seq))
    .limit(page.limit + 1);
  const events = rows.slice(0, page.limit).map(sealed);
  return { events, before: rows.length > page.limit ? (events[events.length - 1]?.seq ?? null) : null };
}
