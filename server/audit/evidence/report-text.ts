// A verification report as plain text, one line per check and a verdict: what the CLI prints (and what the
// /verify page can show as is). Pure.
import { CHECK_KINDS, type VerifyReport } from "./verify";

export function reportLines(report: VerifyReport, o: { quiet?: boolean } = {}): string[] {
  const lines: string[] = [];
  if (report.verifierKey !== null) lines.push(`audit key: ${report.verifierKey}`);
  for (const c of report.checks)
    if (!c.ok || o.quiet !== true) lines.push(`${c.ok ? "ok  " : "FAIL"} ${c.item}: ${c.reason}`);
  const counts = CHECK_KINDS.map((kind) => {
    const of = report.checks.filter((c) => c.kind === kind);
    const bad = of.filter((c) => !c.ok).length;
    return of.length === 0 ? null : `${kind} ${of.length - bad}/${of.length}`;
  }).filter((x) => x !== null);
  lines.push(`checked: ${counts.join(", ")}`);
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
