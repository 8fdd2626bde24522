// Downloading a period report (CSV of the audit events, or the PDF): only admins and auditors may, checked here
// again whatever the caller checked; a refusal is recorded as access.denied, and every download as
// report.exported (kind, period, how many events it covered) in its own transaction before the first byte
// leaves. The bytes are streamed: the CSV a page of events at a time, the PDF as pdfkit finishes each page, the
// evidence bundle (server/audit/evidence, built whole first: it may sign a checkpoint in the HSM) a slice at a time.
import "server-only";
import type { Db } from "@/db/client";
import type { Role } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { buildBundle, ExportError } from "@/server/audit/evidence/export";
import { recordAccessDenied } from "@/server/audit/access-denied";
import { CheckpointRefused } from "@/server/audit/checkpoints";
import { sealedSoFar } from "@/server/audit/integrate";
import { AppError } from "@/server/errors";
import { HsmError } from "@/server/hsm";
import { auditCsvStream } from "./csv";
import { evidenceJsonStream } from "./evidence-json";
import { type Period, periodEventCounts } from "./events";
import { reportDocument, writeReportPdf } from "./pdf";
import { type AttestKeys, type HsmTokenIdentity, periodReport } from "./period";
import type { ProgressSink } from "./progress";

export const REPORT_ROLES: readonly Role[] = ["admin", "auditor"];

export type ReportKind = "csv" | "pdf" | "evidence";

export type Exporter = { id: string; roles: readonly string[] };

export type ReportDownload = {
  kind: ReportKind;
  filename: string;
  contentType: string;
  body: ReadableStream<Uint8Array>;
};

async function allow(db: Db, who: Exporter, kind: ReportKind, now: Date) {
  if (REPORT_ROLES.some((r) => who.roles.includes(r))) return;
  await recordAccessDenied(db, {
    memberId: who.id,
    procedure: `reports.${kind}`,
    requiredRoles: REPORT_ROLES,
    at: now,
  });
  throw new AppError("FORBIDDEN", "Reports are for admins and auditors. Ask an admin for the auditor role.");
}

async function recordExport(
  db: Db,
  who: Exporter,
  kind: ReportKind,
  period: Period,
  events: number,
  now: Date,
) {
  await db.transaction((tx) =>
    appendAudit(tx, {
      action: "report.exported",
      actor: `member:${who.id}`,
      subject: `report:${kind}`,
      at: now,
      data: { kind, from: period.from.toISOString(), to: period.to.toISOString(), events },
    }),
  );
}

const day = (d: Date) => d.toISOString().slice(0, 10);

function pdfStream(doc: PDFKit.PDFDocument, write: () => Promise<void>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      doc.on("data", (chunk: Buffer) => controller.enqueue(new Uint8Array(chunk)));
      doc.on("end", () => controller.close());
      doc.on("error", (e: unknown) => controller.error(e));
      write().catch((e: unknown) => controller.error(e));
    },
  });
}

/**
 * Why an evidence bundle cannot be built now, in words (never the HSM library's own text): no checkpoint covers
 * the period and the HSM cannot sign one (503: try again when the status page shows it healthy), or the stored
 * log no longer matches what the HSM signed, which the checkpointer refuses to sign over (500: the log-health
 * page names the edit).
 */
function evidenceRefusal(e: unknown): unknown {
  if (e instanceof ExportError)
    return new AppError("HSM_UNAVAILABLE", `The evidence bundle cannot be built now: ${e.message}.`, {
      cause: e,
    });
  if (e instanceof HsmError)
    return new AppError(
      "HSM_UNAVAILABLE",
      "The evidence bundle cannot be built now: no checkpoint covers the period yet and the HSM cannot sign one (see the status page).",
      { cause: e },
    );
  if (e instanceof CheckpointRefused)
    return new AppError(
      "INTERNAL",
      `The evidence bundle cannot be built: the audit log does not match its signed checkpoints (${e.message}); the audit page's log health names what changed.`,
      { cause: e },
    );
  return e;
}

/** The download `who` asked for, once allowed and recorded; throws AppError FORBIDDEN for other roles. */
export async function exportReport(
  db: Db,
  input: {
    who: Exporter;
    kind: ReportKind;
    period: Period;
    now: Date;
    /** Told each step of a PDF or evidence download (server/reports/progress.ts), for the page that waits. */
    progress?: ProgressSink;
    /** The HSM tokens' identity for the PDF (the route asks the status check); a failure leaves it out. */
    hsmTokens?: () => Promise<HsmTokenIdentity[]>;
    /** What each HSM token attests of the inventory's keys, for the PDF (server/hsm keyAttestations). */
    hsmKeys?: AttestKeys;
  },
): Promise<ReportDownload> {
  const { who, kind, period, now } = input;
  await allow(db, who, kind, now);
  // Events committed a moment ago (this exporter's own included) may still wait for their integration round.
  await sealedSoFar(db);
  const name = `keyward-report-${day(period.from)}-to-${day(period.to)}`;
  if (kind === "csv") {
    const { total } = await periodEventCounts(db, period);
    await recordExport(db, who, kind, period, total, now);
    return {
      kind,
      filename: `${name}-audit-events.csv`,
      contentType: "text/csv; charset=utf-8",
      body: auditCsvStream(db, period),
    };
  }
  if (kind === "evidence") {
    // A period no checkpoint covers yet, with the HSM unable to sign one now, is the HSM's to answer for: in
    // words, as 503, not as a bare 500.
    // The event count is known once the bundle is built: no separate count of the period for the progress.
    input.progress?.({ phase: "reading", done: 0, total: 0, section: null });
    const bundle = await buildBundle(db, { from: period.from, to: period.to, now }).catch((e: unknown) => {
      input.progress?.({ phase: "failed", done: 0, total: 0, section: null });
      throw evidenceRefusal(e);
    });
    const events = bundle.events.length;
    await recordExport(db, who, kind, period, events, now);
    input.progress?.({ phase: "done", done: events, total: events, section: null });
    return {
      kind,
      filename: `keyward-evidence-${day(period.from)}-${day(period.to)}.json`,
      contentType: "application/json; charset=utf-8",
      body: evidenceJsonStream(bundle),
    };
  }
  const progress = input.progress ?? (() => {});
  const tokens = input.hsmTokens === undefined ? null : await input.hsmTokens().catch(() => null);
  const report = await periodReport(db, period, now, tokens, input.hsmKeys ?? null, (total) =>
    progress({ phase: "reading", done: 0, total, section: null }),
  ).catch((e: unknown) => {
    progress({ phase: "failed", done: 0, total: 0, section: null });
    throw e;
  });
  await recordExport(db, who, kind, period, report.summary.events, now);
  const doc = reportDocument(report);
  const write = async () => {
    progress({ phase: "writing", done: 0, total: 0, section: null });
    await writeReportPdf(doc, report, ({ section, rows }) =>
      progress({ phase: "writing", done: rows, total: 0, section }),
    ).catch((e: unknown) => {
      progress({ phase: "failed", done: 0, total: 0, section: null });
      throw e;
    });
    progress({ phase: "done", done: report.summary.events, total: report.summary.events, section: null });
  };
  return {
    kind,
    filename: `${name}.pdf`,
    contentType: "application/pdf",
    body: pdfStream(doc, write),
  };
}
