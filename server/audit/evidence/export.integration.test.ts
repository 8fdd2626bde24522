// The evidence bundle from a real database (PGlite and PostgreSQL) and a real SoftHSM token: people and tokens
// made through the real ceremonies, an operation proposed and approved by two real WebAuthn votes, checkpoints
// signed in the HSM by the checkpointer; the bundle of a period verifies offline (verify.ts) against the audit
// key, and against a checkpoint kept from before; a period not yet covered gets a checkpoint signed on export;
// an event changed in the database by an owner who bypasses the triggers is named by the verifier.
import { asc, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditCheckpoints, auditEvents, tokens } from "@/db/schema";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { useTokenForServer } from "@/server/operations/executor/testing/fixtures";
import { proposeOperation } from "@/server/operations/propose";
import { approveInTurn } from "@/server/operations/testing/approve";
import { policyDigest } from "@/server/policy/document";
import type { PolicyDocument } from "@/server/policy/schema";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { appendAudit } from "../append";
import { auditKey } from "../checkpoint-key";
import { checkpointIfDue } from "../checkpoints";
import { buildBundle } from "./export";
import { verifyBundle } from "./verify";

const ORIGIN = "keyward.test/audit";
// A cadence the test never reaches: a checkpoint is signed only when forced (by the test, or by the export).
const audit = { origin: ORIGIN, everyEvents: 1_000_000, everyMs: 365 * 86_400_000 };
const webauthn = { rpId: config.rpId, origin: config.origin };
const T0 = new Date("2026-12-01T09:00:00.000Z"); // people and tokens
const T1 = new Date("2026-12-02T10:00:00.000Z"); // the period: an operation and its votes
const T2 = new Date("2026-12-03T11:00:00.000Z"); // after it
const PERIOD = { from: new Date("2026-12-02T00:00:00.000Z"), to: new Date("2026-12-02T23:59:59.999Z") };

let token: TestToken;
let server: ReturnType<typeof useTokenForServer>;
beforeAll(() => {
  token = createTestToken("kw-evidence");
  server = useTokenForServer(token);
});
afterAll(async () => {
  await server.close();
  token.cleanup();
});

async function reactivations(db: Db, n: number, at: Date) {
  for (let i = 0; i < n; i++)
    await db.transaction((tx) =>
      appendAudit(tx, {
        action: "member.reactivated",
        actor: "system",
        subject: `member:00000000-0000-4000-8000-00000000000${i}`,
        at,
        data: { memberId: `00000000-0000-4000-8000-00000000000${i}` },
      }),
    );
}

const sign = (db: Db, now: Date) => checkpointIfDue(db, { config: audit, now, force: true });
const failures = (r: ReturnType<typeof verifyBundle>) => r.failures.map((f) => `${f.item}: ${f.reason}`);

describe.each(testEngines())("the evidence bundle on %s", (engine) => {
  const database = useTestDatabase(engine);
  let w: Awaited<ReturnType<typeof world>>;
  beforeAll(async () => {
    w = await world(database());
  }, 120_000);

  async function world(db: Db) {
    const admin = await firstAdmin(db, { now: T0 });
    const approvers: Person[] = [];
    for (const name of ["Ann", "Bob"])
      approvers.push(await invitedMember(db, admin.acting, { now: T0, roles: ["approver"], name }));
    const operator = await invitedMember(db, admin.acting, { now: T0, roles: ["operator"], name: "Olga" });
    const before = await sign(db, T0);
    const op = await proposeOperation(db, {
      actor: operator.acting,
      kind: "key.create",
      payload: { label: "evidence key", curve: "secp256k1", tags: [], exportable: "never" },
      now: T1,
    });
    const state = await approveInTurn(db, config, { operationId: op.id, voters: approvers, now: T1 });
    return { admin, approvers, operator, before, op, state };
  }

  it("signs a checkpoint in the HSM when none holds the period's events yet", async () => {
    const db = database();
    expect(w.state).toBe("approved");
    const [latest] = await db.select().from(auditCheckpoints).orderBy(sql`${auditCheckpoints.size} DESC`);
    expect(latest?.size).toBe(w.before?.size);
    const bundle = await buildBundle(db, { ...PERIOD, audit, webauthn, now: T2 });
    const [signed] = await db.select().from(auditCheckpoints).orderBy(sql`${auditCheckpoints.size} DESC`);
    expect(signed?.size).toBeGreaterThan(latest?.size ?? 0);
    expect(bundle.checkpoints.map((c) => c.size)).toEqual([w.before?.size, signed?.size]);
    expect(failures(verifyBundle(bundle))).toEqual([]);
  });

  it("exports a period whose bundle verifies offline: checkpoints, events, the operation and its two votes", async () => {
    const db = database();
    const { before, op } = w;
    const [covering] = await db.select().from(auditCheckpoints).orderBy(sql`${auditCheckpoints.size} DESC`);
    await reactivations(db, 3, T2);
    const after = await sign(db, T2);

    const bundle = await buildBundle(db, { ...PERIOD, audit, webauthn, now: T2 });
    const key = await auditKey(ORIGIN);
    expect(bundle.log).toEqual({ origin: ORIGIN, verifierKey: key.verifierKey });
    // The events are proved to the first checkpoint holding the event after the period too.
    const sizes = [before?.size, covering?.size, after?.size];
    expect(bundle.checkpoints.map((c) => c.size)).toEqual(sizes);
    expect(bundle.consistency.map((p) => [p.from, p.to])).toEqual([
      [sizes[0], sizes[1]],
      [sizes[1], sizes[2]],
    ]);
    const inPeriod = await db
      .select({ seq: auditEvents.seq })
      .from(auditEvents)
      .where(sql`${auditEvents.at} BETWEEN ${PERIOD.from} AND ${PERIOD.to}`)
      .orderBy(asc(auditEvents.seq));
    expect(bundle.events.map((e) => e.seq)).toEqual(inPeriod.map((r) => r.seq));
    const first = bundle.events[0]?.seq ?? 0;
    const last = bundle.events.at(-1)?.seq ?? 0;
    expect([bundle.edges.before?.seq, bundle.edges.before?.at]).toEqual([first - 1, T0.toISOString()]);
    expect([bundle.edges.after?.seq, bundle.edges.after?.at]).toEqual([last + 1, T2.toISOString()]);
    expect(bundle.events.map((e) => e.action)).toEqual(
      expect.arrayContaining(["operation.proposed", "vote.cast", "vote.cast"]),
    );
    expect(bundle.operations.map((o) => o.id)).toEqual([op.id]);
    expect(bundle.votes).toHaveLength(2);
    expect(bundle.votes[0]?.assertion.response.authenticatorData).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(bundle.policies.map((p) => p.version)).toContain(op.policyVersion);
    // The verifier's policy digest is the one policy-store writes.
    for (const p of bundle.policies) expect(p.digest).toBe(policyDigest(p.document as PolicyDocument));

    const report = verifyBundle(JSON.parse(JSON.stringify(bundle)), {
      verifierKey: key.verifierKey,
      trustedCheckpoint: before?.note ?? "",
    });
    expect(failures(report)).toEqual([]);
    expect(report.ok).toBe(true);
    const passed = (kind: string) => report.checks.filter((c) => c.ok && c.kind === kind).length;
    expect(passed("event")).toBe(bundle.events.length);
    expect(passed("vote")).toBe(2);
    expect(passed("operation")).toBe(1);
    expect(passed("trusted")).toBe(1);
    expect(passed("period")).toBe(2);
    expect(report.head?.size).toBe(after?.size);

    // The next day's bundle starts at a later checkpoint; the regulator kept the first one: the export adds a
    // proof from it, and the verifier checks the kept checkpoint through it.
    const nextDay = { from: new Date("2026-12-03T00:00:00.000Z"), to: new Date("2026-12-03T23:59:59.999Z") };
    const later = await buildBundle(db, { ...nextDay, audit, webauthn, now: T2, kept: [before?.size ?? 0] });
    expect(later.checkpoints[0]?.size).toBe(covering?.size);
    expect(later.keptConsistency.map((p) => [p.from, p.to])).toEqual([[before?.size, covering?.size]]);
    const checked = verifyBundle(later, {
      verifierKey: key.verifierKey,
      trustedCheckpoint: before?.note ?? "",
    });
    expect(failures(checked)).toEqual([]);
    expect(checked.checks.find((c) => c.kind === "trusted")?.reason).toMatch(/extends the one you kept/);
  });

  it("carries each voter token's registration as stored; NULL columns read as not recorded; a key swapped in the database is named", async () => {
    const db = database();
    const bundle = await buildBundle(db, { ...PERIOD, audit, webauthn, now: T2 });
    expect(bundle.votes).toHaveLength(2);
    const approverIds = w.approvers.map((a) => a.token.credentialId);
    for (const vote of bundle.votes) {
      const [row] = await db.select().from(tokens).where(eq(tokens.id, vote.credential.id));
      expect(approverIds).toContain(vote.credential.id);
      expect(row?.attestationObject).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(vote.credential.registration).toEqual({
        attestationObject: row?.attestationObject,
        clientDataJSON: row?.registrationClientData,
      });
    }
    const report = verifyBundle(JSON.parse(JSON.stringify(bundle)));
    expect(failures(report)).toEqual([]);
    const registrations = report.checks.filter((c) => c.kind === "registration");
    expect(registrations.map((c) => [c.item, c.ok])).toEqual(
      bundle.votes.map((v) => [`registration of token ${v.credential.id}`, true]),
    );
    for (const c of registrations)
      expect(c.reason).toMatch(
        /attests this id and key for localhost .*self attestation \(signed by the credential key\)/,
      );

    const [first, second] = bundle.votes;
    if (first === undefined || second === undefined) throw new Error("votes");
    const saved = await db.select().from(tokens).where(eq(tokens.id, first.credential.id));
    try {
      await db
        .update(tokens)
        .set({ attestationObject: null, registrationClientData: null })
        .where(eq(tokens.id, first.credential.id));
      const unrecorded = await buildBundle(db, { ...PERIOD, audit, webauthn, now: T2 });
      const vote = unrecorded.votes.find((v) => v.id === first.id);
      expect(vote?.credential.registration).toBeNull();
      const r = verifyBundle(unrecorded);
      expect(failures(r)).toEqual([]);
      expect(r.checks.find((c) => c.item === `registration of token ${first.credential.id}`)?.reason).toMatch(
        /registration attestation not recorded/,
      );

      // An owner who gives Ann's token Bob's key in the database: the votes and the registration are named.
      await db
        .update(tokens)
        .set({
          publicKey: second.credential.publicKey,
          attestationObject: saved[0]?.attestationObject,
          registrationClientData: saved[0]?.registrationClientData,
        })
        .where(eq(tokens.id, first.credential.id));
      const swapped = verifyBundle(await buildBundle(db, { ...PERIOD, audit, webauthn, now: T2 }));
      expect(swapped.failures.map((f) => f.item)).toEqual(
        expect.arrayContaining([`registration of token ${first.credential.id}`]),
      );
      expect(
        swapped.failures.find((f) => f.item === `registration of token ${first.credential.id}`)?.reason,
      ).toMatch(/its authData attests another public key than the credential's in the bundle/);
    } finally {
      await db
        .update(tokens)
        .set({
          publicKey: saved[0]?.publicKey,
          attestationObject: saved[0]?.attestationObject,
          registrationClientData: saved[0]?.registrationClientData,
        })
        .where(eq(tokens.id, first.credential.id));
    }
  });

  it("names an event an owner changed in the database behind the triggers, and a vote whose decision was flipped", async () => {
    const db = database();
    const { op } = w;
    const [proposed] = await db
      .select({ seq: auditEvents.seq })
      .from(auditEvents)
      .where(eq(auditEvents.action, "operation.proposed"));
    await db.execute(sql`ALTER TABLE audit_events DISABLE TRIGGER USER`);
    try {
      await db.execute(
        sql`UPDATE audit_events SET data = jsonb_set(data, '{kind}', '"key.import"') WHERE seq = ${proposed?.seq}`,
      );
    } finally {
      await db.execute(sql`ALTER TABLE audit_events ENABLE TRIGGER USER`);
    }
    const bundle = await buildBundle(db, { ...PERIOD, audit, webauthn, now: T2 });
    const vote = bundle.votes[0];
    if (vote === undefined) throw new Error("no vote");
    vote.decision = "reject";
    const report = verifyBundle(bundle);
    // The event's own hash, and the range proof of the period's events (its leaf is not the tree's).
    expect(bundle.format).toBe("keyward-evidence/v2");
    expect(report.failures.map((f) => f.item)).toEqual([
      `event ${proposed?.seq}`,
      expect.stringMatching(/^inclusion of events \d+-\d+$/),
      `vote on operation ${op.id} by ${vote.voterId}`,
    ]);
    expect(report.failures[0]?.reason).toBe("its hash is not SHA-256 of its previous hash and its content");
    expect(report.failures[1]?.reason).toMatch(/with the range proof do not give the root of checkpoint/);
    expect(report.failures[2]?.reason).toMatch(/its challenge is not SHA-256 of the operation digest/);
  });
});
