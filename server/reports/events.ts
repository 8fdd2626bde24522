// The sealed audit events of a report's period [from, to), oldest first, a keyset page at a time (seq > after,
// never OFFSET), so a period of 100,000 events is read in bounded pieces. Read-only; staged (unsealed) events
// have no seq yet and belong to no report.
import "server-only";
import { and, asc, gt, gte, inArray, isNotNull, like, lt, or, type SQL, sql } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { auditEvents } from "@/db/schema";

export type Period = { from: Date; to: Date };

export type ReportEvent = {
  seq: number;
  at: Date;
  actor: string;
  action: string;
  subject: string;
  data: unknown;
  hash: string;
};

export const EVENT_PAGE = 2_000;

/** Which events: every one of the period, those whose action starts with a prefix, or a closed list. */
export type EventSelection = { prefixes?: readonly string[]; actions?: readonly string[] };

function selection(sel: EventSelection): SQL | undefined {
  const parts: SQL[] = [];
  for (const p of sel.prefixes ?? []) parts.push(like(auditEvents.action, `${p}%`));
  if (sel.actions !== undefined && sel.actions.length > 0)
    parts.push(inArray(auditEvents.action, [...sel.actions]));
  return parts.length === 0 ? undefined : or(...parts);
}

function inPeriod(period: Period, sel: EventSelection): SQL | undefined {
  return and(
    isNotNull(auditEvents.seq),
    gte(auditEvents.at, period.from),
    lt(auditEvents.at, period.to),
    selection(sel),
  );
}

/** One page of the period's events after `after` (0 for the first), oldest first. */
export async function periodEventsPage(
  db: DbOrTx,
  period: Period,
  page: { after: number; limit: number },
  sel: EventSelection = {},
): Promise<ReportEvent[]> {
  const rows = await db
    .select({
      seq: auditEvents.seq,
      at: auditEvents.at,
      actor: auditEvents.actor,
      action: auditEvents.action,
      subject: auditEvents.subject,
      data: auditEvents.data,
      hash: auditEvents.hash,
    })
    .from(auditEvents)
    .where(and(inPeriod(period, sel), gt(auditEvents.seq, page.after)))
    .orderBy(asc(auditEvents.seq))
    .limit(page.limit);
  return rows.flatMap((r) => (r.seq === null || r.hash === null ? [] : [{ ...r, seq: r.seq, hash: r.hash }]));
}

/** Every page of the period's (selected) events in turn; the caller decides what to keep of each. */
export async function* periodEvents(
  db: DbOrTx,
  period: Period,
  sel: EventSelection = {},
  limit = EVENT_PAGE,
): AsyncGenerator<ReportEvent[]> {
  let after = 0;
  for (;;) {
    const page = await periodEventsPage(db, period, { after, limit }, sel);
    if (page.length === 0) return;
    yield page;
    const last = page[page.length - 1];
    if (last === undefined || page.length < limit) return;
    after = last.seq;
    // PGlite answers without leaving the microtask queue: give the event loop a turn between pages, so a
    // report over 100,000 events never holds other requests up, whichever engine serves it.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** How many sealed events the period holds, in all and by action. */
export async function periodEventCounts(
  db: DbOrTx,
  period: Period,
): Promise<{ total: number; byAction: { action: string; count: number }[] }> {
  const rows = await db
    .select({ action: auditEvents.action, count: sql<number>`count(*)::int` })
    .from(auditEvents)
    .where(inPeriod(period, {}))
    .groupBy(auditEvents.action)
    .orderBy(asc(auditEvents.action));
  const byAction = rows.map((r) => ({ action: r.action, count: Number(r.count) }));
  return { total: byAction.reduce((n, r) => n + r.count, 0), byAction };
}
