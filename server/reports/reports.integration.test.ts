// Period reports over real rows on PGlite and PostgreSQL: people made through the real ceremonies (Unicode
// names), operations with votes by their tokens, keys, a freeze, sessions and audit events inside and outside
// the period. What the report says of them; the CSV (every event once, oldest first, formula-escaped, read a
// page at a time with the event loop free between pages); the download routes' 401/400/403 for an operator
// (recorded as access.denied) and the auditor's PDF, whose text is read back; each download recorded.
import { randomBytes, randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditCheckpoints, auditEvents, keys, sessions, signingFreezes, tokens, votes } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { sealedSoFar } from "@/server/audit/integrate";
import type { SessionMember } from "@/server/auth/sessions";
import { insertKeyCreates, seedInitiator } from "@/server/operations/executor/testing/fixtures";
import { firstAdmin, invitedMember, type Person } from "@/server/testing/identity-fixtures";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { auditCsvChunks } from "./csv";
import { reportResponse } from "./download";
import { periodReport } from "./period";
import { pdfText } from "./testing/pdf-text";

// Rows the database stamps itself (members, tokens) carry the real time: the period is built around it.
const NOW = new Date();
const FROM = new Date(NOW.getTime() - 3_600_000);
const TO = new Date(NOW.getTime() + 3_600_000);
const BEFORE = new Date(FROM.getTime() - 60_000);
const ADMIN_NAME = "Łukasz ₿ ✓ Zoë 北京";
const VERIFIER_KEY = "localhost/audit+0a1b2c3d+AZm2cUXqTeY1x4PGbGvcUlCmb4tmM1Jdo3Qj3o9n0tT8";
const FORMULAS = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"];

async function tokenOf(db: Db, person: Person): Promise<{ id: string; nickname: string }> {
  const [row] = await db.select().from(tokens).where(eq(tokens.memberId, person.acting.id));
  if (row === undefined) throw new Error("no token");
  return row;
}

const sessionOf = (person: Person, roles: string[]): SessionMember => ({
  sessionId: randomUUID(),
  tokenId: "credential",
  member: { id: person.acting.id, name: "x", roles, groups: [] },
});

const query = (kind: string, from: Date | string, to: Date | string) =>
  new Request(
    `http://localhost/reports/${kind}?from=${encodeURIComponent(typeof from === "string" ? from : from.toISOString())}&to=${encodeURIComponent(typeof to === "string" ? to : to.toISOString())}`,
  );

describe.each(testEngines())("period reports on %s", (engine) => {
  const db = useTestDatabase(engine);
  let admin: Person;
  let auditor: Person;
  let operator: Person;
  let approver: Person;
  let opId: string;
  let keyId: string;

  beforeAll(async () => {
    admin = await firstAdmin(db(), { now: NOW, name: ADMIN_NAME });
    auditor = await invitedMember(db(), admin.acting, {
      now: NOW,
      roles: ["auditor"],
      name: "Audrey Auditor",
    });
    operator = await invitedMember(db(), admin.acting, {
      now: NOW,
      roles: ["operator"],
      name: "Oskar Øperator",
    });
    approver = await invitedMember(db(), admin.acting, { now: NOW, roles: ["approver"], name: "Zoë 北京" });
    const seed = await seedInitiator(db(), NOW);
    [opId = ""] = await insertKeyCreates(db(), seed, 1, { now: NOW, state: "executed" });
    const [old = ""] = await insertKeyCreates(db(), seed, 1, { now: BEFORE, state: "executed" });
    const approverToken = await tokenOf(db(), approver);
    await db()
      .insert(votes)
      .values({
        operationId: opId,
        voterId: approver.acting.id,
        tokenId: approverToken.id,
        decision: "approve",
        challenge: randomBytes(16).toString("base64url"),
        nonce: randomBytes(16).toString("base64url"),
        assertion: {},
        castAt: NOW,
      });
    const [key] = await db()
      .insert(keys)
      .values({
        operationId: opId,
        label: "Cold wallet Łódź",
        curve: "secp256k1",
        state: "active",
        hsmRef: randomBytes(8).toString("hex"),
        publicKey: "02".padEnd(66, "a"),
        exportable: "never",
        createdAt: NOW,
      })
      .returning({ id: keys.id });
    keyId = key?.id ?? "";
    await db()
      .insert(sessions)
      .values({
        memberId: auditor.acting.id,
        tokenId: (await tokenOf(db(), auditor)).id,
        createdAt: NOW,
        lastSeenAt: NOW,
        expiresAt: TO,
      });
    await db()
      .insert(signingFreezes)
      .values({
        frozenAt: NOW,
        frozenBy: admin.acting.id,
        tokenId: (await tokenOf(db(), admin)).id,
        reason: "drill",
      });
    // A stored checkpoint (its signature is the checkpointer's business, tested there): the report names it.
    await db()
      .insert(auditCheckpoints)
      .values({
        size: 1,
        rootHash: new Uint8Array(32).fill(7),
        signedAt: NOW,
        note: "localhost/audit\n1\nBwcH\n\n— localhost/audit sig\n",
        verifierKey: VERIFIER_KEY,
      });
    await db().transaction(async (tx) => {
      await appendAudit(tx, {
        action: "key.created",
        actor: "system",
        subject: `key:${keyId}`,
        at: NOW,
        data: {
          keyId,
          operationId: opId,
          label: "Cold wallet Łódź",
          curve: "secp256k1",
          exportable: "never",
          tags: [],
          hsmRef: "ref",
          publicKey: "02aa",
        },
      });
      await appendAudit(tx, {
        action: "access.denied",
        actor: `member:${operator.acting.id}`,
        subject: "procedure:keys.create",
        at: NOW,
        data: { memberId: operator.acting.id, procedure: "keys.create", requiredRoles: ["admin"] },
      });
      // Subjects a spreadsheet would run as formulas.
      for (const subject of FORMULAS)
        await appendAudit(tx, {
          action: "member.reactivated",
          actor: `member:${admin.acting.id}`,
          subject,
          at: NOW,
          data: { memberId: randomUUID() },
        });
      // Outside the period: never in the report.
      await appendAudit(tx, {
        action: "member.reactivated",
        actor: "system",
        subject: "member:outside",
        at: BEFORE,
        data: { memberId: old },
      });
    });
    await sealedSoFar(db());
  });

  it("says who approved what with which token, which keys exist and how exposed, and what went wrong", async () => {
    const report = await periodReport(db(), { from: FROM, to: TO }, NOW);
    const op = report.operations.find((o) => o.id === opId);
    expect(op?.votes).toEqual([
      expect.objectContaining({
        voter: "Zoë 北京",
        voterId: approver.acting.id,
        token: "Key",
        decision: "approve",
      }),
    ]);
    expect(report.operations).toHaveLength(1); // the one made before the period is not there
    expect(report.keys.map((k) => [k.id, k.exportable])).toEqual([[keyId, "never"]]);
    expect(report.keys[0]?.exposure).toMatch(/never exportable/);
    expect(report.keyEvents.rows.map((r) => r.action)).toEqual(["key.created"]);
    expect(report.policies.map((p) => p.version)).toEqual([1]);
    expect(report.membership.rows.map((r) => r.action)).toEqual(
      expect.arrayContaining([
        "setup.completed",
        "invitation.created",
        "invitation.accepted",
        "member.reactivated",
      ]),
    );
    expect(report.membership.rows.some((r) => r.subject === "member:outside")).toBe(false);
    const audrey = report.access.find((m) => m.id === auditor.acting.id);
    expect(audrey).toMatchObject({ name: "Audrey Auditor", roles: ["auditor"], lastSignIn: NOW });
    expect(audrey?.tokens.map((t) => t.nickname)).toEqual(["Key"]);
    expect(report.access.find((m) => m.id === admin.acting.id)?.name).toBe(ADMIN_NAME);
    expect(report.anomalies.rows.map((r) => [r.action, r.actor])).toEqual([
      ["access.denied", `Oskar Øperator (member:${operator.acting.id})`],
    ]);
    expect(report.freezes).toEqual([
      expect.objectContaining({ frozenBy: ADMIN_NAME, reason: "drill", liftedAt: null }),
    ]);
    expect(report.checkpoint).toMatchObject({ size: 1, signedAt: NOW, verifierKey: VERIFIER_KEY });
    const inPeriod = await db().select().from(auditEvents);
    expect(report.summary.events).toBe(inPeriod.filter((e) => e.at >= FROM && e.at < TO).length);
  });

  it("CSV: every event of the period once, oldest first, ISO times, formulas escaped, a page at a time", async () => {
    let ticks = 0;
    let ticking = true;
    const tick = () => {
      ticks++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const chunks: string[] = [];
    const ticksAt: number[] = [];
    for await (const chunk of auditCsvChunks(db(), { from: FROM, to: TO }, 5)) {
      chunks.push(chunk);
      ticksAt.push(ticks);
    }
    ticking = false;
    // The event loop ran between one page and the next (other requests are served meanwhile).
    const pages = ticksAt.slice(1);
    expect(pages.length).toBeGreaterThan(2);
    expect(new Set(pages).size).toBe(pages.length);
    const csv = chunks.join("");
    expect(csv.startsWith("seq,at,actor,action,subject,data,hash\r\n")).toBe(true);
    const rows = await db().select().from(auditEvents);
    const expected = rows
      .filter((e) => e.at >= FROM && e.at < TO && e.seq !== null)
      .sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
    expect(chunks.length).toBe(1 + Math.ceil(expected.length / 5));
    const seqs = [...csv.matchAll(/\r\n(\d+),/g)].map((m) => Number(m[1]));
    expect(seqs).toEqual(expected.map((e) => e.seq));
    expect(csv).toContain(`,${NOW.toISOString()},`);
    expect(csv).not.toContain("member:outside");
    for (const formula of FORMULAS) {
      const quoted = `'${formula}`.replace(/"/g, '""');
      // The field begins with an apostrophe (quoted when it holds a quote or a CR), never with the formula itself.
      expect(csv.includes(`,${quoted},`) || csv.includes(`,"${quoted}",`)).toBe(true);
      expect(csv.includes(`,${formula},`) || csv.includes(`,"${formula.replace(/"/g, '""')}",`)).toBe(false);
    }
  });

  it("refuses a visitor (401), a bad period (400) and an operator (403, recorded); an auditor gets both files", async () => {
    const deps = { db: db(), now: NOW };
    expect(
      (await reportResponse(query("audit-events.csv", FROM, TO), { ...deps, session: null, kind: "csv" }))
        .status,
    ).toBe(401);
    const auditorSession = sessionOf(auditor, ["auditor"]);
    const backwards = await reportResponse(query("report.pdf", TO, FROM), {
      ...deps,
      session: auditorSession,
      kind: "pdf",
    });
    expect(backwards.status).toBe(400);
    const nonsense = await reportResponse(query("report.pdf", "yesterday", TO), {
      ...deps,
      session: auditorSession,
      kind: "pdf",
    });
    expect(nonsense.status).toBe(400);

    for (const kind of ["csv", "pdf"] as const) {
      const refused = await reportResponse(query("x", FROM, TO), {
        ...deps,
        session: sessionOf(operator, ["operator"]),
        kind,
      });
      expect(refused.status).toBe(403);
      const denied = await db()
        .select()
        .from(auditEvents)
        .where(
          and(eq(auditEvents.action, "access.denied"), eq(auditEvents.subject, `procedure:reports.${kind}`)),
        );
      expect(denied.map((e) => e.actor)).toEqual([`member:${operator.acting.id}`]);
    }
    const exportedBefore = await db()
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.action, "report.exported"));
    expect(exportedBefore).toEqual([]);

    const csv = await reportResponse(query("audit-events.csv", FROM, TO), {
      ...deps,
      session: auditorSession,
      kind: "csv",
    });
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(await csv.text()).toContain(`'=HYPERLINK`);

    const hsmTokens = async () => [
      {
        label: "keyward-primary",
        role: "primary",
        state: "up",
        serial: "5e4a1b",
        model: "SoftHSM project, SoftHSM v2",
      },
    ];
    const pdf = await reportResponse(query("report.pdf", FROM, TO), {
      ...deps,
      session: auditorSession,
      kind: "pdf",
      hsmTokens,
    });
    expect(pdf.status).toBe(200);
    expect(pdf.headers.get("content-disposition")).toMatch(/attachment; filename="keyward-report-.*\.pdf"/);
    const { text } = pdfText(Buffer.from(await pdf.arrayBuffer()));
    expect(text).toContain(ADMIN_NAME);
    expect(text).toContain(opId);
    expect(text).toContain("Cold wallet Łódź");
    expect(text).toContain("Zoë 北京");
    expect(text).toContain(
      `Newest signed checkpoint: events 1–1, signed at ${NOW.toISOString().slice(0, 19).replace("T", " ")} UTC`,
    );
    expect(text).toContain(VERIFIER_KEY);
    expect(text).toContain("keyward-primary");
    expect(text).toContain("SoftHSM project, SoftHSM v2");

    const exported = await db().select().from(auditEvents).where(eq(auditEvents.action, "report.exported"));
    expect(exported.map((e) => [e.actor, e.subject])).toEqual([
      [`member:${auditor.acting.id}`, "report:csv"],
      [`member:${auditor.acting.id}`, "report:pdf"],
    ]);
    expect(exported[0]?.data).toMatchObject({ kind: "csv", from: FROM.toISOString(), to: TO.toISOString() });
  });
});
