// The evidence download (app/reports/evidence.json, through download.ts) on PGlite and PostgreSQL with a real
// SoftHSM token: people and tokens made through the real ceremonies, an operation approved by two real WebAuthn
// votes. A visitor gets 401, a bad period 400, an operator 403 (recorded as access.denied); the auditor gets a
// JSON attachment that the offline verifier accepts under the HSM's audit key — its checkpoint signed by the
// export itself, since none covered the period yet — and the download is recorded as report.exported.
import { randomUUID } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditCheckpoints, auditEvents } from "@/db/schema";
import { auditKey } from "@/server/audit/checkpoint-key";
import { bundleSchema } from "@/server/audit/evidence/bundle";
import { verifyBundle } from "@/server/audit/evidence/verify";
import type { SessionMember } from "@/server/auth/sessions";
import { env } from "@/server/env";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { useTokenForServer } from "@/server/operations/executor/testing/fixtures";
import { proposeOperation } from "@/server/operations/propose";
import { approveInTurn } from "@/server/operations/testing/approve";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { reportResponse } from "./download";

const NOW = new Date();
const FROM = new Date(NOW.getTime() - 3_600_000);
const TO = new Date(NOW.getTime() + 3_600_000);
const day = (d: Date) => d.toISOString().slice(0, 10);

let token: TestToken;
let server: ReturnType<typeof useTokenForServer>;
beforeAll(() => {
  token = createTestToken("kw-evidence-route");
  server = useTokenForServer(token);
});
afterAll(async () => {
  await server.close();
  token.cleanup();
});

const sessionOf = (person: Person, roles: string[]): SessionMember => ({
  sessionId: randomUUID(),
  tokenId: "credential",
  member: { id: person.acting.id, name: "x", roles, groups: [] },
});

const query = (from: Date | string, to: Date | string) =>
  new Request(
    `http://localhost/reports/evidence.json?from=${encodeURIComponent(typeof from === "string" ? from : from.toISOString())}&to=${encodeURIComponent(typeof to === "string" ? to : to.toISOString())}`,
  );

describe.each(testEngines())("the evidence download on %s", (engine) => {
  const db = useTestDatabase(engine);
  let auditor: Person;
  let operator: Person;
  let opId: string;

  beforeAll(async () => {
    const admin = await firstAdmin(db(), { now: NOW });
    auditor = await invitedMember(db(), admin.acting, { now: NOW, roles: ["auditor"], name: "Audrey" });
    operator = await invitedMember(db(), admin.acting, { now: NOW, roles: ["operator"], name: "Olga" });
    const approvers: Person[] = [];
    for (const name of ["Ann", "Bob"])
      approvers.push(await invitedMember(db(), admin.acting, { now: NOW, roles: ["approver"], name }));
    const op = await proposeOperation(db(), {
      actor: operator.acting,
      kind: "key.create",
      payload: { label: "evidence route key", curve: "secp256k1", tags: [], exportable: "never" },
      now: NOW,
    });
    opId = op.id;
    expect(await approveInTurn(db(), config, { operationId: op.id, voters: approvers, now: NOW })).toBe(
      "approved",
    );
  }, 120_000);

  it("refuses a visitor (401), a bad period (400) and an operator (403, recorded), and records nothing else", async () => {
    const deps = { db: db(), now: NOW, kind: "evidence" as const };
    const visitor = await reportResponse(query(FROM, TO), { ...deps, session: null });
    expect(visitor.status).toBe(401);
    const auditorSession = sessionOf(auditor, ["auditor"]);
    expect((await reportResponse(query(TO, FROM), { ...deps, session: auditorSession })).status).toBe(400);
    const nonsense = await reportResponse(query("yesterday", TO), { ...deps, session: auditorSession });
    expect(nonsense.status).toBe(400);
    expect(await nonsense.text()).toMatch(/^Bad period: from: /);

    const refused = await reportResponse(query(FROM, TO), {
      ...deps,
      session: sessionOf(operator, ["operator"]),
    });
    expect(refused.status).toBe(403);
    const denied = await db()
      .select()
      .from(auditEvents)
      .where(
        and(eq(auditEvents.action, "access.denied"), eq(auditEvents.subject, "procedure:reports.evidence")),
      );
    expect(denied.map((e) => e.actor)).toEqual([`member:${operator.acting.id}`]);
    // Nothing was exported, and no checkpoint was signed for a refused caller.
    expect(await db().select().from(auditEvents).where(eq(auditEvents.action, "report.exported"))).toEqual(
      [],
    );
    expect(await db().select().from(auditCheckpoints)).toEqual([]);
  });

  it("gives the auditor a JSON bundle the offline verifier accepts under the HSM's audit key", async () => {
    const response = await reportResponse(query(FROM, TO), {
      db: db(),
      now: NOW,
      kind: "evidence",
      session: sessionOf(auditor, ["auditor"]),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(response.headers.get("content-disposition")).toBe(
      `attachment; filename="keyward-evidence-${day(FROM)}-${day(TO)}.json"`,
    );
    expect(response.headers.get("cache-control")).toBe("no-store");
    const text = await response.text();
    const bundle = bundleSchema.parse(JSON.parse(text));
    // The streamed text is the bundle's JSON (what /verify reads), one event per line (what the CLI streams).
    expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(bundle)));
    expect(bundle.format).toBe("keyward-evidence/v2");
    expect(text.split("\n")).toHaveLength(bundle.events.length + 3);

    // No checkpoint covered the period: the export signed one in the HSM.
    const signed = await db().select().from(auditCheckpoints);
    expect(signed.length).toBe(1);
    expect(bundle.checkpoints.map((c) => c.size)).toEqual(signed.map((c) => c.size));
    const key = await auditKey(env().audit.origin);
    expect(bundle.log.verifierKey).toBe(key.verifierKey);

    const report = verifyBundle(JSON.parse(text), { verifierKey: key.verifierKey });
    expect(report.failures.map((f) => `${f.item}: ${f.reason}`)).toEqual([]);
    expect(report.ok).toBe(true);
    const passed = (kind: string) => report.checks.filter((c) => c.ok && c.kind === kind).length;
    expect(passed("event")).toBe(bundle.events.length);
    expect(bundle.events.length).toBeGreaterThan(5);
    expect(passed("operation")).toBe(1);
    expect(bundle.operations.map((o) => o.id)).toEqual([opId]);
    expect(passed("vote")).toBe(2);
    // Each voter token's token.registered rides along with its own inclusion proof, binding its key and registration.
    expect(bundle.registrationEvents?.map((e) => [e.action, e.inclusion.size])).toEqual([
      ["token.registered", bundle.checkpoints.at(-1)?.size],
      ["token.registered", bundle.checkpoints.at(-1)?.size],
    ]);
    const registrations = report.checks.filter((c) => c.kind === "registration");
    expect(registrations).toHaveLength(2);
    for (const c of registrations)
      expect(c.reason).toMatch(
        /its key and registration are the ones the log recorded at its registration \(event \d+, token\.registered, proved to checkpoint \d+\)/,
      );

    // The same bytes with one event's data changed: the verifier names that event, and the range proof fails.
    const tampered = JSON.parse(text);
    const victim = tampered.events[2];
    victim.data = { ...victim.data, tampered: true };
    expect(verifyBundle(tampered, { verifierKey: key.verifierKey }).failures.map((f) => f.item)).toEqual([
      `event ${victim.seq}`,
      `inclusion of events ${bundle.events[0]?.seq}-${bundle.events.at(-1)?.seq}`,
    ]);

    const exported = await db().select().from(auditEvents).where(eq(auditEvents.action, "report.exported"));
    expect(exported.map((e) => [e.actor, e.subject])).toEqual([
      [`member:${auditor.acting.id}`, "report:evidence"],
    ]);
    expect(exported[0]?.data).toEqual({
      kind: "evidence",
      from: FROM.toISOString(),
      to: TO.toISOString(),
      events: bundle.events.length,
    });
  });
});
