// The period's audit events as CSV (issue 15 item 5): seq, at (ISO 8601 UTC), actor, action, subject, data
// (its JSON) and hash, oldest first, with csv-stringify. Streamed: events are read a page at a time by keyset
// (events.ts) and each page is stringified and handed on before the next is read, so 100,000 events never sit
// in memory at once and the event loop is free between pages. A field a spreadsheet would run as a formula
// (= + - @, a tab or a carriage return first) gets a leading apostrophe (`escape_formulas`, opt-in in
// csv-stringify: never turn it off).
import "server-only";
import { stringify } from "csv-stringify/sync";
import type { DbOrTx } from "@/db/client";
import { EVENT_PAGE, type Period, periodEvents, type ReportEvent } from "./events";

export const AUDIT_CSV_COLUMNS = ["seq", "at", "actor", "action", "subject", "data", "hash"] as const;

const OPTIONS = { escape_formulas: true, eof: true, record_delimiter: "windows" } as const;

function record(e: ReportEvent): string[] {
  return [String(e.seq), e.at.toISOString(), e.actor, e.action, e.subject, JSON.stringify(e.data), e.hash];
}

/** The CSV text in pieces: the header, then one piece per page of events. */
export async function* auditCsvChunks(
  db: DbOrTx,
  period: Period,
  pageSize = EVENT_PAGE,
): AsyncGenerator<string> {
  yield stringify([[...AUDIT_CSV_COLUMNS]], OPTIONS);
  for await (const page of periodEvents(db, period, {}, pageSize)) yield stringify(page.map(record), OPTIONS);
}

/** The CSV as a byte stream for a Response: a page is read only when the client has taken the previous one. */
export function auditCsvStream(db: DbOrTx, period: Period): ReadableStream<Uint8Array> {
  const chunks = auditCsvChunks(db, period);
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await chunks.next();
        if (next.done) controller.close();
        else controller.enqueue(encoder.encode(next.value));
      } catch (e) {
        controller.error(e);
      }
    },
    async cancel() {
      await chunks.return(undefined);
    },
  });
}
