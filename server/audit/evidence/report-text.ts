// A verification report as plain text, one line per check and a verdict: what the CLI prints (and what the
// /verify page can show as is). Pure.
import { CHECK_KINDS, type Check, type VerifyReport } from "./report";

/** One check as a line: "ok   event 17: …" or "FAIL event 17: …". */
export function checkLine(c: Check): string {
  return `${c.ok ? "ok  " : "FAIL"} ${c.item}: ${c.reason}`;
}

export function reportLines(report: VerifyReport, o: { quiet?: boolean } = {}): string[] {
  const lines: string[] = [];
  if (report.verifierKey !== null) lines.push(`audit key: ${report.verifierKey}`);
  for (const c of report.checks) if (!c.ok || o.quiet !== true) lines.push(checkLine(c));
  return [...lines, ...summaryLines(report)];
}

/** The counts by kind and the verdict (after the checks' lines; the CLI prints those as they come). */
export function summaryLines(report: VerifyReport): string[] {
  const counts = CHECK_KINDS.map((kind) => {
    const c = report.counts?.[kind];
    const of = report.checks.filter((x) => x.kind === kind);
    const passed = c?.passed ?? of.filter((x) => x.ok).length;
    const total = c === undefined ? of.length : c.passed + c.failed;
    return total === 0 ? null : `${kind} ${passed}/${total}`;
  }).filter((x) => x !== null);
  const lines = [`checked: ${counts.join(", ")}`];
  if (report.ok)
    lines.push(
      `VERIFIED: every item checks${report.head ? `, up to checkpoint ${report.head.size} (root ${report.head.rootHash})` : ""}. Compare the audit key with the one Keyward publishes.`,
    );
  else
    lines.push(
      `NOT VERIFIED: ${report.failures.length} item${report.failures.length === 1 ? "" : "s"} failed.`,
    );
  return lines;
}
