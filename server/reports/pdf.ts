// The period report as a PDF for people (issue 15 item 5), with pdfkit and the fonts Keyward ships (fonts.ts):
// title, period, when it was generated, the log's newest signed checkpoint and its verifier key, then each
// section of period.ts as a table. Built a table row at a time, yielding to the event loop every 15 ms so a
// large report never holds the server up; bytes leave as pdfkit finishes each page. What it must never do:
// set text in pdfkit's standard fonts (WinAnsi only: Ł, ₿ and 北京 would be garbled or lost).
import "server-only";
import PDFDocument from "pdfkit";
import { fontRuns } from "./fonts";
import { reportFonts } from "./fonts";
import type { EventSection, PeriodReport } from "./period";
import { SECTION_ROWS } from "./period";
import { FLAGS_EXPLAINED, keyOnTokenLine, tokenName } from "./key-flags";

const MARGIN = 40;
const BODY = 8;
/** At most this long (ms) of layout between two turns of the event loop (a row of 6 cells takes ~1-5 ms). */
const SLICE_MS = 15;

/** Where the build is: the section, and how many of its table rows are laid out. */
export type PdfProgress = (done: { section: string; rows: number }) => void;

const utc = (d: Date | null) => (d === null ? "—" : `${d.toISOString().slice(0, 19).replace("T", " ")} UTC`);
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

type Doc = PDFKit.PDFDocument;
type Column = { header: string; width: number };

/** Text at the cursor (or at x, y), each run in the font that has its characters. */
function rich(
  doc: Doc,
  text: string,
  opts: { x?: number; y?: number; width: number; bold?: boolean; size?: number },
) {
  const runs = fontRuns(text.length === 0 ? " " : text, opts.bold === true ? "bold" : "body");
  doc.fontSize(opts.size ?? BODY);
  runs.forEach((run, i) => {
    doc.font(run.font);
    const options = { width: opts.width, continued: i < runs.length - 1, lineGap: 1 };
    if (i === 0 && opts.x !== undefined && opts.y !== undefined) doc.text(run.text, opts.x, opts.y, options);
    else doc.text(run.text, options);
  });
}

function heading(doc: Doc, text: string) {
  if (doc.y > doc.page.height - MARGIN - 60) doc.addPage();
  doc.moveDown(0.8);
  rich(doc, text, { x: MARGIN, y: doc.y, width: doc.page.width - 2 * MARGIN, bold: true, size: 12 });
  doc.moveDown(0.3);
}

function line(doc: Doc, text: string, size = BODY) {
  rich(doc, text, { x: MARGIN, y: doc.y, width: doc.page.width - 2 * MARGIN, size });
}

/** A table, a row at a time: a row that would not fit starts a new page, with the header again. */
async function table(doc: Doc, columns: Column[], rows: string[][], progress: (rows: number) => void) {
  const full = doc.page.width - 2 * MARGIN;
  const total = columns.reduce((n, c) => n + c.width, 0);
  const widths = columns.map((c) => (c.width / total) * full);
  const bottom = () => doc.page.height - MARGIN;
  const drawRow = (cells: string[], bold: boolean) => {
    doc.font(bold ? "dejavu-bold" : "dejavu").fontSize(BODY);
    // An estimate in DejaVu (CJK glyphs are wider than its missing-glyph box): generous, so a row never splits.
    const guess = Math.max(
      ...cells.map((c, i) => doc.heightOfString(c || " ", { width: (widths[i] ?? 0) - 4 })),
    );
    if (doc.y + guess * 1.6 + 6 > bottom()) {
      doc.addPage();
      if (!bold)
        drawRow(
          columns.map((c) => c.header),
          true,
        );
    }
    const top = doc.y;
    let x = MARGIN;
    let end = top;
    cells.forEach((cell, i) => {
      const w = widths[i] ?? 0;
      rich(doc, cell, { x: x + 2, y: top + 2, width: w - 4, bold });
      end = Math.max(end, doc.y);
      x += w;
    });
    doc
      .moveTo(MARGIN, end + 2)
      .lineTo(MARGIN + full, end + 2)
      .lineWidth(0.3)
      .strokeColor("#999999")
      .stroke();
    doc.x = MARGIN;
    doc.y = end + 3;
  };
  drawRow(
    columns.map((c) => c.header),
    true,
  );
  if (rows.length === 0) line(doc, "None in this period.");
  let slice = performance.now();
  for (let i = 0; i < rows.length; i++) {
    drawRow(rows[i] ?? [], false);
    if (performance.now() - slice > SLICE_MS) {
      progress(i + 1);
      await yieldToLoop();
      slice = performance.now();
    }
  }
}

const EVENT_COLUMNS: Column[] = [
  { header: "Seq", width: 6 },
  { header: "At", width: 14 },
  { header: "Actor", width: 20 },
  { header: "Action", width: 15 },
  { header: "Subject", width: 18 },
  { header: "Data", width: 27 },
];

async function events(doc: Doc, s: EventSection, progress: (rows: number) => void) {
  if (s.total > s.rows.length)
    line(
      doc,
      `${s.total} events; the first ${SECTION_ROWS} are listed here, every one is in the CSV export.`,
    );
  await table(
    doc,
    EVENT_COLUMNS,
    s.rows.map((r) => [String(r.seq), utc(r.at), r.actor, r.action, r.subject, r.detail]),
    progress,
  );
}

/** Writes the report into `doc` (already piped somewhere); ends it. */
export async function writeReportPdf(
  doc: Doc,
  report: PeriodReport,
  onProgress?: PdfProgress,
): Promise<void> {
  for (const f of reportFonts()) doc.registerFont(f.name, f.data);
  let current = "header";
  const progress = (rows: number) => onProgress?.({ section: current, rows });
  const section = (name: string) => {
    current = name;
    heading(doc, name);
  };
  const { period, summary, checkpoint } = report;

  rich(doc, "Keyward custody report", { x: MARGIN, y: MARGIN, width: 515, bold: true, size: 18 });
  doc.moveDown(0.4);
  line(doc, `Period: ${utc(period.from)} to ${utc(period.to)} (the end excluded)`, 10);
  line(doc, `Generated at: ${utc(report.generatedAt)}`, 10);

  section("Audit log checkpoint");
  if (checkpoint === null) line(doc, "No checkpoint has been signed yet.");
  else {
    line(
      doc,
      `Newest signed checkpoint: events 1–${checkpoint.size}, signed at ${utc(checkpoint.signedAt)}.`,
    );
    line(doc, `Audit verifier key (Ed25519 in the HSM, never extractable): ${checkpoint.verifierKey}`);
    if (checkpoint.auditKeyHsm !== null) {
      line(doc, "What the HSM tokens attest of the audit key (now):");
      for (const row of checkpoint.auditKeyHsm) line(doc, `  ${keyOnTokenLine(row, "never")}`);
    }
    doc.moveDown(0.3);
    line(doc, checkpoint.note);
  }

  heading(doc, "HSM tokens");
  if (report.hsmTokens === null)
    line(doc, "The HSM was not asked, or did not answer, when this report was generated.");
  else
    await table(
      doc,
      [
        { header: "Token label", width: 24 },
        { header: "Role", width: 12 },
        { header: "State", width: 12 },
        { header: "Serial", width: 22 },
        { header: "Manufacturer, model", width: 30 },
      ],
      report.hsmTokens.map((t) => [t.label, t.role, t.state, t.serial ?? "—", t.model ?? "—"]),
      progress,
    );

  section("Summary");
  await table(
    doc,
    [
      { header: "What", width: 60 },
      { header: "Count", width: 40 },
    ],
    [
      ["Audit events in the period", String(summary.events)],
      ["Operations proposed or decided", String(summary.operations)],
      ["Votes on them", String(summary.votes)],
      ["Keys at the end of the period", String(summary.keysAtEnd)],
      ["Keys created in the period", String(summary.keysCreated)],
      ["Members", String(summary.members)],
      ["Anomalies (events)", String(summary.anomalies)],
      ["Keys whose HSM answers disagree with their record", String(summary.keyAnomalies)],
      ...summary.byAction.map((a) => [`  ${a.action}`, String(a.count)]),
    ],
    progress,
  );

  section("Key inventory");
  const attestation = report.hsmAttestation;
  if (attestation === null)
    line(
      doc,
      "The HSM tokens were not asked about the keys when this report was generated: what Keyward recorded when it made each key is shown.",
    );
  else if (attestation.error !== null)
    line(
      doc,
      `The HSM tokens could not be asked about the keys: ${attestation.error}. What Keyward recorded is shown.`,
    );
  else {
    line(doc, `What the HSM attests, per token, asked at ${utc(attestation.checkedAt)}:`);
    for (const text of FLAGS_EXPLAINED) {
      doc.moveDown(0.2);
      line(doc, text);
    }
    doc.moveDown(0.2);
    line(
      doc,
      "Vendor key attestation (a signed statement from the HSM's maker that the key was generated in and never left the device), per token:",
    );
    for (const t of attestation.tokens)
      line(
        doc,
        `  ${tokenName({ token: t.label, serial: t.serial })}: ${t.vendorAttestation}${t.note === null ? "" : `; ${t.note}`}`,
      );
  }
  doc.moveDown(0.3);
  await table(
    doc,
    [
      { header: "Key", width: 16 },
      { header: "Label", width: 12 },
      { header: "Curve", width: 8 },
      { header: "State", width: 8 },
      { header: "Exposure (recorded)", width: 14 },
      { header: "Created", width: 10 },
      { header: "What the HSM attests, per token", width: 32 },
    ],
    report.keys.map((k) => [
      k.id,
      k.label,
      k.curve,
      k.state,
      k.exposure,
      utc(k.createdAt),
      k.hsm === null ? "not asked" : k.hsm.map((row) => keyOnTokenLine(row, k.exportable)).join("\n"),
    ]),
    progress,
  );
  section("Key lifecycle events");
  await events(doc, report.keyEvents, progress);

  section("Operations and their approvers");
  const opRows = report.operations.flatMap((o) => [
    [o.id, o.kind, o.state, o.initiator, `v${o.policyVersion}`, utc(o.createdAt), utc(o.decidedAt)],
    ...o.votes.map((v) => [
      "",
      `vote: ${v.decision}`,
      "",
      v.voter,
      `token ${v.token} (${v.tokenId})`,
      utc(v.castAt),
      "",
    ]),
  ]);
  await table(
    doc,
    [
      { header: "Operation", width: 22 },
      { header: "Kind / vote", width: 13 },
      { header: "State", width: 9 },
      { header: "Initiator / approver", width: 16 },
      { header: "Policy / token", width: 16 },
      { header: "Created / cast", width: 12 },
      { header: "Decided", width: 12 },
    ],
    opRows,
    progress,
  );

  section("Policy versions in force");
  await table(
    doc,
    [
      { header: "Version", width: 8 },
      { header: "Digest (SHA-256 of its RFC 8785 JSON)", width: 46 },
      { header: "Made", width: 16 },
      { header: "By", width: 14 },
      { header: "Replaced", width: 16 },
    ],
    report.policies.map((p) => [
      String(p.version),
      p.digest,
      utc(p.createdAt),
      p.createdBy,
      utc(p.inForceUntil),
    ]),
    progress,
  );

  section("Membership and role changes");
  await events(doc, report.membership, progress);

  section("Access review");
  line(doc, "Roles, groups and status as they are now; tokens and sign-ins up to the end of the period.");
  await table(
    doc,
    [
      { header: "Member", width: 22 },
      { header: "Roles", width: 14 },
      { header: "Groups", width: 12 },
      { header: "Status", width: 8 },
      { header: "Last sign-in", width: 14 },
      { header: "Tokens", width: 30 },
    ],
    report.access.map((m) => [
      `${m.name} (${m.id})`,
      m.roles.join(", "),
      m.groups.join(", "),
      m.status,
      utc(m.lastSignIn),
      m.tokens
        .map(
          (t) =>
            `${t.nickname} (${t.id.slice(0, 12)}…)${t.revokedAt === null ? "" : `, revoked ${utc(t.revokedAt)}`}`,
        )
        .join("; "),
    ]),
    progress,
  );

  section("Anomalies");
  line(doc, "Keys whose HSM tokens' answers disagree with what Keyward recorded (see the key inventory):");
  await table(
    doc,
    [
      { header: "Key", width: 22 },
      { header: "Label", width: 14 },
      { header: "Token", width: 20 },
      { header: "What disagrees", width: 44 },
    ],
    report.hsmAttestation === null || report.hsmAttestation.error !== null
      ? [["—", "—", "—", "the HSM tokens were not asked about the keys"]]
      : report.keyAnomalies.map((a) => [a.keyId, a.label, a.token, a.what]),
    progress,
  );
  doc.moveDown(0.3);
  line(doc, "Anomalous events in the period:");
  await events(doc, report.anomalies, progress);
  heading(doc, "Signing freezes");
  await table(
    doc,
    [
      { header: "Frozen", width: 18 },
      { header: "By", width: 20 },
      { header: "Token", width: 20 },
      { header: "Reason", width: 24 },
      { header: "Lifted", width: 18 },
    ],
    report.freezes.map((f) => [utc(f.frozenAt), f.frozenBy, f.tokenId, f.reason ?? "", utc(f.liftedAt)]),
    progress,
  );
  doc.end();
}

/** A new A4 document with the report's metadata; the caller pipes it, then calls writeReportPdf. */
export function reportDocument(report: PeriodReport): Doc {
  return new PDFDocument({
    size: "A4",
    margin: MARGIN,
    info: {
      Title: `Keyward report ${report.period.from.toISOString()} – ${report.period.to.toISOString()}`,
      Producer: "Keyward",
      CreationDate: report.generatedAt,
    },
  });
}

/** The whole PDF in memory (tests, small periods). */
export async function reportPdfBytes(report: PeriodReport): Promise<Buffer> {
  const doc = reportDocument(report);
  const chunks: Buffer[] = [];
  doc.on("data", (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    doc.on("end", resolve);
    doc.on("error", reject);
  });
  await writeReportPdf(doc, report);
  await done;
  return Buffer.concat(chunks);
}
