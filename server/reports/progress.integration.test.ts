// What the reports page sees while a download is built (server/reports/progress.ts), on PGlite and PostgreSQL:
// a PDF's steps — the period's events to read, each section written, done — recorded for the member who asked
// and nobody else; a malformed progress id is a 400 that records nothing. And the evidence download's refusals
// in words: with no checkpoint covering the period and no HSM able to sign one, a 503 that names the cause
// (never the HSM library's text), its progress marked failed, and no report.exported event.
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { auditEvents } from "@/db/schema";
import type { SessionMember } from "@/server/auth/sessions";
import { createTestToken } from "@/server/hsm/testing/test-token";
import { useTokenForServer } from "@/server/operations/executor/testing/fixtures";
import { firstAdmin, invitedMember, type Person } from "@/server/testing/identity-fixtures";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { reportResponse } from "./download";
import { sealedSoFar } from "@/server/audit/integrate";
import { periodEventCounts } from "./events";
import { exportReport } from "./export";
import { type ReportProgress, reportProgress } from "./progress";

const NOW = new Date();
const FROM = new Date(NOW.getTime() - 3_600_000);
const TO = new Date(NOW.getTime() + 3_600_000);

const sessionOf = (person: Person, roles: string[]): SessionMember => ({
  sessionId: randomUUID(),
  tokenId: "credential",
  member: { id: person.acting.id, name: "x", roles, groups: [] },
});

const url = (file: string, progress?: string) =>
  new Request(
    `http://localhost/reports/${file}?from=${encodeURIComponent(FROM.toISOString())}&to=${encodeURIComponent(TO.toISOString())}${progress === undefined ? "" : `&progress=${progress}`}`,
  );

describe.each(testEngines())("report progress and refusals on %s", (engine) => {
  const db = useTestDatabase(engine);
  let admin: Person;
  let auditor: Person;
  beforeAll(async () => {
    admin = await firstAdmin(db(), { now: NOW });
    auditor = await invitedMember(db(), admin.acting, { now: NOW, roles: ["auditor"], name: "Audrey" });
  });

  it("records a PDF's steps in order: the period's events to read, each section written, done", async () => {
    await sealedSoFar(db());
    const { total } = await periodEventCounts(db(), { from: FROM, to: TO });
    expect(total).toBeGreaterThan(3);
    const steps: ReportProgress[] = [];
    const download = await exportReport(db(), {
      who: { id: auditor.acting.id, roles: ["auditor"] },
      kind: "pdf",
      period: { from: FROM, to: TO },
      now: NOW,
      progress: (p) => steps.push(p),
    });
    await new Response(download.body).arrayBuffer();
    expect(steps[0]).toEqual({ phase: "reading", done: 0, total, section: null });
    const phases = steps.map((s) => s.phase).filter((p, i, all) => p !== all[i - 1]);
    expect(phases).toEqual(["reading", "writing", "done"]);
    expect(steps.at(-1)?.phase).toBe("done");
    expect(steps.filter((s) => s.phase === "done")).toHaveLength(1);
  });

  it("answers the member who downloaded, not another, and refuses a malformed id with nothing recorded", async () => {
    const id = randomUUID();
    const deps = { db: db(), now: NOW, kind: "pdf" as const };
    const response = await reportResponse(url("report.pdf", id), {
      ...deps,
      session: sessionOf(auditor, ["auditor"]),
    });
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    expect(reportProgress(id, auditor.acting.id)?.phase).toBe("done");
    expect(reportProgress(id, admin.acting.id)).toBeNull();

    const exported = async () =>
      (await db().select().from(auditEvents).where(eq(auditEvents.action, "report.exported"))).length;
    const before = await exported();
    const bad = await reportResponse(url("report.pdf", "../../etc"), {
      ...deps,
      session: sessionOf(auditor, ["auditor"]),
    });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/^Bad progress: the progress id is a UUID/);
    expect(await exported()).toBe(before);
  });

  it("refuses an evidence bundle no checkpoint covers while the HSM cannot sign: 503 in words, progress failed, nothing exported", async () => {
    // The server is configured for a token whose files are gone: the HSM cannot sign the checkpoint needed.
    const token = createTestToken("kw-progress-gone");
    const server = useTokenForServer(token);
    token.cleanup();
    onTestFinished(() => server.close());
    const id = randomUUID();
    const response = await reportResponse(url("evidence.json", id), {
      db: db(),
      now: NOW,
      kind: "evidence",
      session: sessionOf(auditor, ["auditor"]),
    });
    expect(response.status).toBe(503);
    expect(await response.text()).toMatch(/^The evidence bundle cannot be built now: .*(HSM|checkpoint)/);
    expect(reportProgress(id, auditor.acting.id)?.phase).toBe("failed");
    const exported = await db().select().from(auditEvents).where(eq(auditEvents.action, "report.exported"));
    expect(exported.filter((e) => e.subject === "report:evidence")).toEqual([]);
  });
});
