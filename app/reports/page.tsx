// /reports: a period report for admins and auditors. A plain GET form picks the period (UTC days, the end
// excluded); the links download the PDF, the CSV of the period's audit events and the JSON evidence bundle from the
// route handlers beside this page, which check the role again and record each download.
import { periodInput } from "@/server/reports/period-input";
import { Forbidden } from "../_components/forbidden";
import { requirePageRole } from "../_components/require-role";
import { ReportDownload } from "./report-download";

const day = (d: Date) => d.toISOString().slice(0, 10);

function defaults(now: Date): { from: string; to: string } {
  const first = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const tomorrow = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
  return { from: day(first), to: day(tomorrow) };
}

export default async function ReportsPage({
  searchParams,
}: {
  searchParams: Promise<{ from?: string; to?: string }>;
}) {
  const { allowed } = await requirePageRole("admin", "auditor");
  if (!allowed) return <Forbidden what="Reports are for admins and auditors." />;
  const asked = await searchParams;
  const fallback = defaults(new Date());
  const values = { from: asked.from ?? fallback.from, to: asked.to ?? fallback.to };
  const parsed = periodInput.safeParse(values);
  const query = parsed.success
    ? new URLSearchParams({
        from: parsed.data.from.toISOString(),
        to: parsed.data.to.toISOString(),
      }).toString()
    : null;
  return (
    <div className="space-y-6">
      <h1 className="text-2xl font-semibold">Reports</h1>
      <form method="get" className="card flex flex-wrap items-end gap-4" aria-label="Report period">
        <label className="flex flex-col text-sm">
          From (UTC, included)
          <input type="date" name="from" defaultValue={values.from} required className="input" />
        </label>
        <label className="flex flex-col text-sm">
          To (UTC, excluded)
          <input type="date" name="to" defaultValue={values.to} required className="input" />
        </label>
        <button type="submit" className="btn">
          Choose period
        </button>
      </form>
      {!parsed.success && (
        <p role="alert" className="text-red-700">
          {parsed.error.issues[0]?.message ?? "Choose a valid period."}
        </p>
      )}
      {query !== null && parsed.success && (
        <section className="card space-y-3" data-testid="report-downloads">
          <h2 className="text-lg font-medium">
            {day(parsed.data.from)} to {day(parsed.data.to)} (end excluded)
          </h2>
          <ul className="list-disc space-y-1 pl-6 text-sm">
            <li>
              <ReportDownload
                href={`/reports/report.pdf?${query}`}
                fallbackName="keyward-report.pdf"
                testId="report-pdf"
              >
                Report (PDF)
              </ReportDownload>
              : summary, key inventory and lifecycle, operations with each approver&apos;s vote, token and
              time, policy versions in force, membership and role changes, access review, anomalies, and the
              audit log&apos;s newest signed checkpoint with its verifier key.
            </li>
            <li>
              <a className="underline" href={`/reports/audit-events.csv?${query}`} data-testid="report-csv">
                Audit events (CSV)
              </a>
              : every event of the period (seq, time, actor, action, subject, data, hash), formula-escaped for
              spreadsheets.
            </li>
            <li>
              <ReportDownload
                href={`/reports/evidence.json?${query}`}
                fallbackName="keyward-evidence.json"
                testId="report-evidence"
              >
                Evidence bundle (JSON)
              </ReportDownload>
              : the period&apos;s events with their inclusion proofs, the HSM-signed checkpoints, the
              operations, votes and policies — for anyone who must check this report without trusting Keyward:
              verify it offline at{" "}
              <a className="underline" href="/verify">
                /verify
              </a>{" "}
              or with <code>npx keyward-verify</code>.
            </li>
          </ul>
          <p className="text-sm text-slate-600">
            A long period may take a while: the CSV starts at once and arrives as it is read; the PDF and the
            evidence bundle are built before they download (a period of 100,000 events can take a minute or
            more), and what the server is doing is shown beside the link meanwhile. Every download is recorded
            in the audit log.
          </p>
        </section>
      )}
    </div>
  );
}
