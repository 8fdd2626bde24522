// The evidence bundle from a real database (PGlite and PostgreSQL) and a real SoftHSM token: people and tokens
// made through the real ceremonies, an operation proposed and approved by two real WebAuthn votes, checkpoints
// signed in the HSM by the checkpointer; the bundle of a period verifies offline (verify.ts) against the audit
// key, and against a checkpoint kept from before; a period not yet covered gets a checkpoint signed on export;
// an event changed in the database by an owner who bypasses the triggers is named by the verifier. The voters'
// tokens were registered the day before the period (Ann's with an x5c chain): each token's token.registered is
// proven into the bundle's checkpoint, binds the key and registration the votes carry, and dates Ann's chain.
import { createHash } from "node:crypto";
import { asc, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditCheckpoints, auditEvents, tokens } from "@/db/schema";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import type { Acting } from "@/server/members/guards";
import {
  beginAcceptInvitation,
  completeAcceptInvitation,
  createInvitation,
} from "@/server/members/invitations";
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
import { SoftAuthenticator, TestAttestationCa } from "@/server/testing/soft-authenticator";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { appendAudit } from "../append";
import { auditKey } from "../checkpoint-key";
import { checkpointIfDue } from "../checkpoints";
import { sealedSoFar } from "../integrate";
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

const sign = async (db: Db, now: Date) => {
  await sealedSoFar(db);
  return checkpointIfDue(db, { config: audit, now, force: true });
};
const exportPeriod = async (db: Db, o: { from: Date; to: Date; kept?: number[] } = PERIOD) => {
  await sealedSoFar(db);
  return buildBundle(db, { ...o, audit, webauthn, now: T2 });
};

const MODEL = "2fc0579f-8113-47ea-b116-bb5a8db9202a";
/** The root's DER, as a regulator gives it to the verifier (attestationRoots). */
const derOf = (pem: string) =>
  new Uint8Array(Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ""), "base64"));

/** An approver invited by `admin` whose token attests with `ca`'s certificate (x5c), through the real ceremony. */
async function attestedApprover(db: Db, admin: Acting, ca: TestAttestationCa, name: string): Promise<Person> {
  const { secret } = await createInvitation(db, {
    actor: admin,
    name,
    roles: ["approver"],
    groups: [],
    ttlMs: 3_600_000,
    now: T0,
  });
  const token = new SoftAuthenticator({ aaguid: MODEL, attestationIdentity: await ca.issue(MODEL) });
  const options = await beginAcceptInvitation(db, config, { secret, now: T0 });
  const { memberId } = await completeAcceptInvitation(db, config, {
    secret,
    tokenName: "Key",
    response: token.register(options),
    now: T0,
  });
  return { acting: { id: memberId, roles: ["approver"] }, token };
}
const failures = (r: ReturnType<typeof verifyBundle>) => r.failures.map((f) => `${f.item}: ${f.reason}`);

describe.each(testEngines())("the evidence bundle on %s", (engine) => {
  const database = useTestDatabase(engine);
  let w: Awaited<ReturnType<typeof world>>;
  beforeAll(async () => {
    w = await world(database());
  }, 120_000);

  async function world(db: Db) {
    const admin = await firstAdmin(db, { now: T0 });
    const ca = await TestAttestationCa.create();
    const approvers: Person[] = [
      await attestedApprover(db, admin.acting, ca, "Ann"),
      await invitedMember(db, admin.acting, { now: T0, roles: ["approver"], name: "Bob" }),
    ];
    const operator = await invitedMember(db, admin.acting, { now: T0, roles: ["operator"], name: "Olga" });
    const before = await sign(db, T0);
    const op = await proposeOperation(db, {
      actor: operator.acting,
      kind: "key.create",
      payload: { label: "evidence key", curve: "secp256k1", tags: [], exportable: "never" },
      now: T1,
    });
    const state = await approveInTurn(db, config, { operationId: op.id, voters: approvers, now: T1 });
    return { admin, approvers, operator, before, op, state, ca };
  }

  it("signs a checkpoint in the HSM when none holds the period's events yet", async () => {
    const db = database();
    expect(w.state).toBe("approved");
    const [latest] = await db.select().from(auditCheckpoints).orderBy(sql`${auditCheckpoints.size} DESC`);
    expect(latest?.size).toBe(w.before?.size);
    const bundle = await exportPeriod(db);
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

    const bundle = await exportPeriod(db);
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
    const later = await exportPeriod(db, { ...nextDay, kept: [before?.size ?? 0] });
    expect(later.checkpoints[0]?.size).toBe(covering?.size);
    expect(later.keptConsistency.map((p) => [p.from, p.to])).toEqual([[before?.size, covering?.size]]);
    const checked = verifyBundle(later, {
      verifierKey: key.verifierKey,
      trustedCheckpoint: before?.note ?? "",
    });
    expect(failures(checked)).toEqual([]);
    expect(checked.checks.find((c) => c.kind === "trusted")?.reason).toMatch(/extends the one you kept/);
  });

  it("carries each voter token's registration as stored; NULL columns (a registration blanked) and a key swapped in the database are named", async () => {
    const db = database();
    const bundle = await exportPeriod(db);
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
    const reasonOf = (person: Person | undefined) =>
      registrations.find((c) => c.item === `registration of token ${person?.token.credentialId}`)?.reason;
    // Ann's x5c reaches no root the reader gave; Bob's token attests itself.
    expect(reasonOf(w.approvers[0])).toMatch(/attests this id and key for localhost .*chain not proven/);
    expect(reasonOf(w.approvers[1])).toMatch(
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
      const unrecorded = await exportPeriod(db);
      const vote = unrecorded.votes.find((v) => v.id === first.id);
      expect(vote?.credential.registration).toBeNull();
      // Read alone it would pass as "not recorded"; the log recorded the registration when the token was made.
      const r = verifyBundle(unrecorded);
      expect(failures(r)).toEqual([
        expect.stringMatching(
          new RegExp(
            `^registration of token ${first.credential.id}: .*the bundle gives no registration, but the log recorded one at registration \\(event \\d+, token.registered\\)`,
          ),
        ),
      ]);

      // An owner who gives Ann's token Bob's key in the database: the votes and the registration are named.
      await db
        .update(tokens)
        .set({
          publicKey: second.credential.publicKey,
          attestationObject: saved[0]?.attestationObject,
          registrationClientData: saved[0]?.registrationClientData,
        })
        .where(eq(tokens.id, first.credential.id));
      const swapped = verifyBundle(await exportPeriod(db));
      expect(swapped.failures.map((f) => f.item)).toEqual(
        expect.arrayContaining([`registration of token ${first.credential.id}`]),
      );
      expect(
        swapped.failures.find((f) => f.item === `registration of token ${first.credential.id}`)?.reason,
      ).toMatch(
        /its authData attests another public key than the credential's in the bundle.*the credential key in the bundle is not the one the log recorded at registration/,
      );
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

  it("proves each voter token's registration, logged the day before the period, and dates Ann's attestation chain at it", async () => {
    const db = database();
    const bundle = JSON.parse(JSON.stringify(await exportPeriod(db))) as Awaited<
      ReturnType<typeof exportPeriod>
    >;
    const registered = await db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.action, "token.registered"))
      .orderBy(asc(auditEvents.seq));
    const [ann, bob] = w.approvers.map(
      (p) => registered.find((e) => e.subject === `token:${p.token.credentialId}`) ?? null,
    );
    if (ann === null || bob === null || ann?.seq == null || bob?.seq == null)
      throw new Error("not registered");
    // Logged before the period: only the bundle's registrationEvents hold them, each proved to its checkpoint.
    expect(ann.seq).toBeLessThan(bundle.events[0]?.seq ?? 0);
    const target = bundle.checkpoints.at(-1)?.size;
    expect(bundle.registrationEvents?.map((e) => [e.seq, e.action, e.at, e.inclusion.size]).sort()).toEqual(
      [
        [ann.seq, "token.registered", T0.toISOString(), target],
        [bob.seq, "token.registered", T0.toISOString(), target],
      ].sort(),
    );
    // The event records the digests of the key and registration as stored.
    const [row] = await db
      .select()
      .from(tokens)
      .where(eq(tokens.id, w.approvers[0]?.token.credentialId ?? ""));
    const hex = (b64url: string | null | undefined) =>
      createHash("sha256")
        .update(Buffer.from(b64url ?? "", "base64url"))
        .digest("hex");
    expect(ann.data).toMatchObject({
      publicKeyDigest: hex(row?.publicKey),
      attestationObjectDigest: hex(row?.attestationObject),
      clientDataDigest: hex(row?.registrationClientData),
    });

    const options = { attestationRoots: [derOf(w.ca.pem)] };
    const report = verifyBundle(bundle, options);
    expect(failures(report)).toEqual([]);
    const annItem = `registration of token ${w.approvers[0]?.token.credentialId}`;
    const reason = (r: ReturnType<typeof verifyBundle>) =>
      r.checks.find((c) => c.item === annItem)?.reason ?? "";
    expect(reason(report)).toContain(
      `its key and registration are the ones the log recorded at its registration (event ${ann.seq}, token.registered, proved to checkpoint ${target})`,
    );
    expect(reason(report)).toContain("chained to C=SE, O=Keyward Tests, CN=Keyward Test Attestation Root");
    expect(reason(report)).toContain(
      `each of its 2 certificates was valid at its registration (${T0.toISOString().replace(".000Z", "Z")}, event ${ann.seq})`,
    );

    // The tamperings an exporter could try on the file, each named with Ann's token.
    const [annVote, bobVote] = w.approvers.map((p) =>
      bundle.votes.find((v) => v.credential.id === p.token.credentialId),
    );
    const annEvent = bundle.registrationEvents?.find((e) => e.seq === ann.seq);
    if (annVote === undefined || bobVote === undefined || annEvent === undefined) throw new Error("no vote");
    const tampered = (change: (b: typeof bundle) => void) => {
      const copy = structuredClone(bundle);
      change(copy);
      const r = verifyBundle(copy, options);
      return { items: r.failures.map((f) => f.item), reason: reason(r) };
    };
    const annOf = (b: typeof bundle) => b.votes.find((v) => v.id === annVote.id) ?? annVote;
    const annEventOf = (b: typeof bundle) => b.registrationEvents?.find((e) => e.seq === ann.seq) ?? annEvent;

    const key = tampered((b) => {
      annOf(b).credential.publicKey = bobVote.credential.publicKey;
    });
    expect(key.items).toContain(annItem);
    expect(key.reason).toContain(
      `the credential key in the bundle is not the one the log recorded at registration (event ${ann.seq}, token.registered)`,
    );

    const registration = tampered((b) => {
      annOf(b).credential.registration = bobVote.credential.registration;
    });
    expect(registration.items).toEqual([annItem]);
    expect(registration.reason).toContain(
      `the registration in the bundle is not the one the log recorded at registration (event ${ann.seq}, token.registered: its attestationObject differs)`,
    );

    const altered = tampered((b) => {
      annEventOf(b).data = {
        ...(annEventOf(b).data as object),
        publicKeyDigest: hex(bobVote.credential.publicKey),
      };
    });
    expect(altered.items).toEqual([annItem]);
    expect(altered.reason).toContain(
      `its registration event ${ann.seq} (token.registered) is not proven by the log: its data does not give the leaf the inclusion proof proves to checkpoint ${target}`,
    );

    const dropped = tampered((b) => {
      annEventOf(b).inclusion.proof = [];
    });
    expect(dropped.items).toEqual([annItem]);
    expect(dropped.reason).toContain(
      `its registration event ${ann.seq} (token.registered) is not proven by the log`,
    );
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
    const bundle = await exportPeriod(db);
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
