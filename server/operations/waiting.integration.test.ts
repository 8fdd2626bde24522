// Operations the full policy holds after their votes met the rule (issue 13, interface 5), on PGlite and
// PostgreSQL with real WebAuthn votes and an injected clock: a weekend window defers an approved operation to
// Monday 00:00 Europe/Zurich and its release job approves it then, not a millisecond before (the executor
// claims nothing until then); a window that denies refuses the proposal and writes nothing; during a delay a
// member of the veto group vetoes it (rejected, "vetoed by … (security)"), a veto after the delay, by someone
// outside the veto group or by the initiator is refused and audited; without a veto it is released at the
// delay's end; waiting never expires; two processes releasing one operation at once release it once.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { and, asc, count, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { openDatabase } from "@/db/client";
import { createCaller } from "@/server/api/root";
import { createContext } from "@/server/api/trpc";
import { auditEvents, jobs, keys, type OperationState, operations, type VoteDecision } from "@/db/schema";
import type { AuditAction } from "@/server/audit/events";
import { verifyWholeChain } from "@/server/audit/verify";
import { DEFAULT_POLICY } from "@/server/policy/document";
import type { PolicyDocument } from "@/server/policy/schema";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { claimApproved } from "./executor/claim";
import { expireDue } from "./expire";
import { updatePolicy } from "./policy-store";
import { proposeOperation } from "./propose";
import { getOperation, listOperations } from "./read";
import { releaseDue, releaseOperation } from "./release";
import { proposeDueRotations, rotationScheduleOf } from "./rotation-due";
import { defaultHandlers } from "./scheduler/handlers";
import { startScheduler } from "./scheduler/scheduler";
import { OPERATION_RELEASE_JOB } from "./settle";
import { beginVote, completeVote } from "./vote";

const HOUR = 3_600_000;
/** Saturday 5 December 2026, 11:00 in Zurich (CET, UTC+1). */
const SATURDAY = new Date("2026-12-05T10:00:00.000Z");
/** Monday 7 December 2026, 00:00 in Zurich. */
const MONDAY_ZURICH = new Date("2026-12-06T23:00:00.000Z");
/** Wednesday 9 December 2026, 09:00 UTC. */
const WEDNESDAY = new Date("2026-12-09T09:00:00.000Z");

const weekdays = [{ days: ["mon", "tue", "wed", "thu", "fri"], from: "00:00", to: "24:00" }];
const policy = {
  ...DEFAULT_POLICY,
  rotation: [{ tag: "rotating", everyDays: 30 }],
  rules: [
    {
      id: "rotations",
      description: "Rotations wait three days for security",
      match: { kinds: ["key.rotate"], keyTags: ["rotating"] },
      require: [{ group: "treasury", approvals: 1 }],
      delay: { hours: 72, vetoGroup: "security" },
    },
    {
      id: "weekend",
      description: "No key changes on weekends",
      match: { kinds: ["key.create"], keyTags: ["weekend"] },
      require: [{ group: "treasury", approvals: 1 }],
      window: {
        zone: "Europe/Zurich",
        open: weekdays,
        outside: "defer",
        reason: "no key changes on weekends",
      },
    },
    {
      id: "closed",
      description: "Never on weekends",
      match: { kinds: ["key.create"], keyTags: ["closed"] },
      require: [{ group: "treasury", approvals: 1 }],
      window: { zone: "Europe/Zurich", open: weekdays, outside: "deny", reason: "never on weekends" },
    },
    {
      id: "delayed",
      description: "Three days for security to look",
      match: { kinds: ["key.create"], keyTags: ["delayed"] },
      require: [{ group: "treasury", approvals: 1 }],
      delay: { hours: 72, vetoGroup: "security" },
    },
  ],
} as unknown as PolicyDocument;

describe.each(testEngines())("waiting operations on %s", (engine) => {
  let database: TestDatabase;
  let admin: Person;
  /** An operator who is also in the security group: as the initiator, never a vetoer of their own. */
  let operator: Person;
  let treasurer: Person;
  let guard: Person;
  let outsider: Person;
  /** An auditor in the security group: no approver role, yet the veto group's (operations.veto). */
  let auditor: Person;

  let dataDir: string;

  beforeAll(async () => {
    // The veto procedures read the validated configuration (origin, RP id): the SoftAuthenticator's defaults.
    dataDir = mkdtempSync(path.join(tmpdir(), "keyward-waiting-"));
    vi.stubEnv("KEYWARD_DATA_DIR", dataDir);
    vi.stubEnv("AUTH_SECRET", "s".repeat(32));
    vi.stubEnv("KEYWARD_HSM_PIN", "123456");
    database = await createTestDatabase(engine);
    const db = database.db;
    admin = await firstAdmin(db, { now: SATURDAY });
    operator = await invitedMember(db, admin.acting, {
      now: SATURDAY,
      roles: ["operator", "approver"],
      groups: ["security"],
    });
    treasurer = await invitedMember(db, admin.acting, {
      now: SATURDAY,
      roles: ["approver"],
      groups: ["treasury"],
      name: "Tess",
    });
    guard = await invitedMember(db, admin.acting, {
      now: SATURDAY,
      roles: ["approver"],
      groups: ["security"],
      name: "Sam",
    });
    outsider = await invitedMember(db, admin.acting, { now: SATURDAY, roles: ["approver"], name: "Olaf" });
    auditor = await invitedMember(db, admin.acting, {
      now: SATURDAY,
      roles: ["auditor"],
      groups: ["security"],
      name: "Ada",
    });
    await updatePolicy(db, { actor: admin.acting, document: policy, now: SATURDAY });
  }, 120_000);
  afterAll(async () => {
    await database.drop();
    vi.unstubAllEnvs();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const propose = (tag: string, now: Date) =>
    proposeOperation(database.db, {
      actor: operator.acting,
      kind: "key.create",
      payload: { label: `${tag} key`, curve: "secp256k1", tags: [tag], exportable: "never" },
      now,
    });

  async function vote(who: Person, operationId: string, decision: VoteDecision, now: Date) {
    const begun = await beginVote(database.db, config, { voter: who.acting, operationId, decision, now });
    const response = who.token.authenticate(begun.options);
    return completeVote(database.db, config, { voter: who.acting, operationId, decision, response, now });
  }

  async function row(id: string) {
    const [op] = await database.db.select().from(operations).where(eq(operations.id, id));
    if (op === undefined) throw new Error(`no operation ${id}`);
    return op;
  }
  const stateOf = async (id: string): Promise<OperationState> => (await row(id)).state;

  async function actions(id: string): Promise<string[]> {
    const rows = await database.db
      .select({ action: auditEvents.action })
      .from(auditEvents)
      .where(eq(auditEvents.subject, `operation:${id}`))
      .orderBy(asc(auditEvents.at), asc(auditEvents.id));
    return rows.map((r) => r.action);
  }

  async function eventsOf(id: string, action: AuditAction) {
    return database.db
      .select({ data: auditEvents.data, actor: auditEvents.actor })
      .from(auditEvents)
      .where(and(eq(auditEvents.subject, `operation:${id}`), eq(auditEvents.action, action)));
  }

  async function refusedVeto(who: Person, id: string, now: Date, reason: string, code: string) {
    const before = (await eventsOf(id, "vote.refused")).length;
    await expect(vote(who, id, "veto", now)).rejects.toMatchObject({ reason, code });
    const refused = await eventsOf(id, "vote.refused");
    expect(refused).toHaveLength(before + 1);
    expect(refused.at(-1)?.data).toMatchObject({ decision: "veto", reason, voterId: who.acting.id });
  }

  it("defers an approved operation to Monday 00:00 Europe/Zurich; its release job approves it then, not before", async () => {
    const op = await propose("weekend", SATURDAY);
    expect(op.state).toBe("pending");
    const outcome = await vote(treasurer, op.id, "approve", SATURDAY);
    expect(outcome.state).toBe("waiting");
    expect(outcome.evaluation.reasons).toEqual([
      "approved: 1 of 1 from treasury",
      "deferred: no key changes on weekends (Europe/Zurich), runs Monday 7 December 00:00",
    ]);
    expect(await row(op.id)).toMatchObject({
      state: "waiting",
      hold: "window",
      quorumAt: SATURDAY,
      releaseAt: MONDAY_ZURICH,
      decidedAt: null,
    });
    const [waiting] = await eventsOf(op.id, "operation.waiting");
    expect(waiting?.data).toMatchObject({
      operationId: op.id,
      ruleId: "weekend",
      until: MONDAY_ZURICH.toISOString(),
      hold: "window",
      vetoGroup: null,
    });
    // One release job, at Monday 00:00 Zurich, enqueued with the move to waiting.
    const releaseJobs = await database.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.kind, OPERATION_RELEASE_JOB), eq(jobs.subject, `operation:${op.id}`)));
    expect(releaseJobs.map((j) => [j.runAt, j.state])).toEqual([[MONDAY_ZURICH, "waiting"]]);

    // The page says why and until when, in the window's zone.
    const view = await getOperation(database.db, { viewer: guard.acting, operationId: op.id, now: SATURDAY });
    expect(view.release).toEqual({
      hold: "window",
      at: MONDAY_ZURICH,
      when: "Monday 7 December 00:00 Europe/Zurich",
      vetoGroup: null,
      vetoGroupLabel: null,
    });
    expect(view.canVeto).toBe(false);
    const [listed] = (
      await listOperations(database.db, { viewer: guard.acting, state: "waiting", limit: 50, now: SATURDAY })
    ).filter((r) => r.id === op.id);
    expect(listed?.release?.when).toBe(view.release?.when);
    expect(listed?.reasons).toEqual(view.reasons);

    let now = new Date(MONDAY_ZURICH.getTime() - 1);
    const release = defaultHandlers()[OPERATION_RELEASE_JOB];
    if (release === undefined) throw new Error("no release handler");
    const handlers = { [OPERATION_RELEASE_JOB]: release };
    const scheduler = startScheduler({ db: database.db, clock: () => now, intervalMs: HOUR, handlers });
    try {
      expect((await scheduler.tick()).ran).toEqual([]);
      expect(await stateOf(op.id)).toBe("waiting");
      // The executor claims only approved operations: nothing held runs.
      expect(await claimApproved(database.db, now, op.id)).toBeNull();
      now = MONDAY_ZURICH;
      const report = await scheduler.tick();
      expect(report.ran).toEqual([{ kind: OPERATION_RELEASE_JOB, subject: `operation:${op.id}`, ok: true }]);
    } finally {
      await scheduler.stop();
    }
    expect(await row(op.id)).toMatchObject({ state: "approved", decidedAt: MONDAY_ZURICH });
    const [approved] = await eventsOf(op.id, "operation.approved");
    expect(approved).toMatchObject({ actor: "system", data: { ruleId: "weekend", votesCounted: 1 } });
    const claimed = await claimApproved(database.db, MONDAY_ZURICH, op.id);
    expect(claimed?.state).toBe("executing");
    expect(await actions(op.id)).toEqual([
      "operation.proposed",
      "vote.cast",
      "operation.waiting",
      "operation.approved",
      "operation.executing",
    ]);
  });

  it("refuses a proposal a closed window denies, with the reason, and writes nothing", async () => {
    const count0 = async () => (await database.db.select({ n: count() }).from(operations))[0]?.n;
    const before = await count0();
    await expect(propose("closed", SATURDAY)).rejects.toMatchObject({
      code: "CONFLICT",
      message:
        "The policy in force refuses this operation (rule closed): denied: never on weekends (Europe/Zurich).",
    });
    expect(await count0()).toBe(before);
    // On a weekday the same proposal is stored.
    expect((await propose("closed", WEDNESDAY)).state).toBe("pending");
  });

  it("a veto during the delay rejects it; the initiator, a non-member and an approve vote are refused", async () => {
    const op = await propose("delayed", WEDNESDAY);
    const quorumAt = new Date(WEDNESDAY.getTime() + HOUR);
    const outcome = await vote(treasurer, op.id, "approve", quorumAt);
    expect(outcome.state).toBe("waiting");
    const end = new Date(quorumAt.getTime() + 72 * HOUR);
    expect(await row(op.id)).toMatchObject({ state: "waiting", hold: "delay", releaseAt: end, quorumAt });
    const [waiting] = await eventsOf(op.id, "operation.waiting");
    expect(waiting?.data).toMatchObject({ hold: "delay", vetoGroup: "security", until: end.toISOString() });

    const during = new Date(quorumAt.getTime() + 2 * HOUR);
    const forGuard = await getOperation(database.db, {
      viewer: guard.acting,
      operationId: op.id,
      now: during,
    });
    expect(forGuard.canVeto).toBe(true);
    expect(forGuard.canVote).toBe(false);
    expect(forGuard.release).toMatchObject({ hold: "delay", at: end, vetoGroup: "security" });
    for (const other of [outsider, operator, treasurer])
      expect(
        (await getOperation(database.db, { viewer: other.acting, operationId: op.id, now: during })).canVeto,
      ).toBe(false);

    await refusedVeto(outsider, op.id, during, "not_in_veto_group", "FORBIDDEN");
    await refusedVeto(operator, op.id, during, "initiator", "FORBIDDEN");
    await expect(vote(guard, op.id, "approve", during)).rejects.toMatchObject({ reason: "not_pending" });
    expect(await stateOf(op.id)).toBe("waiting");

    const vetoed = await vote(guard, op.id, "veto", during);
    expect(vetoed.state).toBe("rejected");
    expect(vetoed.evaluation.reasons).toEqual(["vetoed by Sam (security)"]);
    expect(await row(op.id)).toMatchObject({ state: "rejected", decidedAt: during });
    expect(await eventsOf(op.id, "operation.rejected")).toHaveLength(1);
    const [cast] = (await eventsOf(op.id, "vote.cast")).filter(
      (e) => (e.data as { decision?: string }).decision === "veto",
    );
    expect(cast?.data).toMatchObject({ voterId: guard.acting.id, decision: "veto" });
    // Its release job, when it comes, finds it decided and does nothing.
    expect(await releaseOperation(database.db, { operationId: op.id, now: end })).toBe("rejected");
    expect(await eventsOf(op.id, "operation.approved")).toEqual([]);
  });

  it("without a veto it is released at the delay's end; a veto then is too late; waiting never expires", async () => {
    const op = await propose("delayed", WEDNESDAY);
    await vote(treasurer, op.id, "approve", WEDNESDAY);
    const end = new Date(WEDNESDAY.getTime() + 72 * HOUR);
    // 48 h is the rule's expiry: a waiting operation is past it and still waiting.
    expect(op.expiresAt.getTime()).toBeLessThan(end.getTime());
    await expireDue(database.db, new Date(op.expiresAt.getTime() + HOUR));
    expect(await eventsOf(op.id, "operation.expired")).toEqual([]);
    expect(await stateOf(op.id)).toBe("waiting");
    // The sweep before the end leaves it waiting.
    expect(await releaseDue(database.db, new Date(end.getTime() - 1))).toBe(0);
    expect(
      await releaseOperation(database.db, { operationId: op.id, now: new Date(end.getTime() - 1) }),
    ).toBe("waiting");
    await refusedVeto(guard, op.id, end, "veto_too_late", "CONFLICT");
    expect(await stateOf(op.id)).toBe("waiting");
    expect(await releaseOperation(database.db, { operationId: op.id, now: end })).toBe("approved");
    const [approved] = await eventsOf(op.id, "operation.approved");
    expect(approved?.data).toMatchObject({ ruleId: "delayed", votesCounted: 1 });
    const view = await getOperation(database.db, { viewer: guard.acting, operationId: op.id, now: end });
    expect(view.reasons).toEqual([
      "approved: 1 of 1 from treasury",
      "the 3 days delay ended Saturday 12 December 09:00 UTC without a veto",
    ]);
    expect(view.canVeto).toBe(false);
    await refusedVeto(guard, op.id, end, "not_in_delay", "CONFLICT");
  });

  it("a veto in time counts even after the operation's expiry (waiting does not expire)", async () => {
    const op = await propose("delayed", WEDNESDAY);
    await vote(treasurer, op.id, "approve", WEDNESDAY);
    const late = new Date(op.expiresAt.getTime() + HOUR);
    expect((await vote(guard, op.id, "veto", late)).state).toBe("rejected");
  });

  it("a closed window that denies cancels an operation whose vote comes while it is closed, with the reason", async () => {
    const op = await propose("closed", WEDNESDAY);
    const outcome = await vote(treasurer, op.id, "approve", SATURDAY);
    expect(outcome.state).toBe("cancelled");
    const [cancelled] = await eventsOf(op.id, "operation.cancelled");
    expect(cancelled).toMatchObject({
      actor: `member:${treasurer.acting.id}`,
      data: { reason: "the policy now denies it: denied: never on weekends (Europe/Zurich)" },
    });
    expect(await eventsOf(op.id, "operation.approved")).toEqual([]);
  });

  it("a veto-group member without the approver role vetoes through operations.beginVeto / veto", async () => {
    const op = await propose("delayed", WEDNESDAY);
    await vote(treasurer, op.id, "approve", WEDNESDAY);
    const now = new Date(WEDNESDAY.getTime() + HOUR);
    const caller = createCaller(
      createContext({
        db: database.db,
        engine,
        clock: () => now,
        session: {
          sessionId: "00000000-0000-4000-8000-000000000001",
          tokenId: auditor.token.credentialId,
          member: { id: auditor.acting.id, name: "Ada", roles: ["auditor"], groups: ["security"] },
        },
      }),
    );
    // The approver-only procedures stay closed to an auditor.
    await expect(caller.operations.beginVote({ operationId: op.id, decision: "veto" })).rejects.toMatchObject(
      {
        code: "FORBIDDEN",
      },
    );
    const begun = await caller.operations.beginVeto({ operationId: op.id });
    const response = auditor.token.authenticate(begun.options);
    const outcome = await caller.operations.veto({ operationId: op.id, response });
    expect(outcome.state).toBe("rejected");
    expect(outcome.evaluation.reasons).toEqual(["vetoed by Ada (security)"]);
  });

  it("a key.rotate waiting out its delay is open: the due-rotation sweep proposes no second one", async () => {
    const createdAt = new Date(WEDNESDAY.getTime() - 40 * 86_400_000);
    const [key] = await database.db
      .insert(keys)
      .values({
        label: "rotating key",
        curve: "secp256k1",
        tags: ["rotating"],
        state: "active",
        hsmRef: randomBytes(16).toString("hex"),
        publicKey: `04${randomBytes(64).toString("hex")}`,
        exportable: "never",
        createdAt,
        stateChangedAt: createdAt,
      })
      .returning({ id: keys.id });
    const keyId = key?.id ?? "";
    const swept = await proposeDueRotations(database.db, WEDNESDAY);
    const [first] = swept.proposed.filter((p) => p.keyId === keyId);
    expect(first).toBeDefined();
    expect((await vote(treasurer, first?.operationId ?? "", "approve", WEDNESDAY)).state).toBe("waiting");
    const later = new Date(WEDNESDAY.getTime() + 2 * HOUR);
    expect((await proposeDueRotations(database.db, later)).proposed.filter((p) => p.keyId === keyId)).toEqual(
      [],
    );
    const rotations = await database.db
      .select({ id: operations.id })
      .from(operations)
      .where(and(eq(operations.kind, "key.rotate"), sql`${operations.payload}->>'keyId' = ${keyId}`));
    expect(rotations).toHaveLength(1);
    expect((await rotationScheduleOf(database.db, keyId, later))?.open).toMatchObject({
      operationId: first?.operationId,
      state: "waiting",
    });
  });

  it.runIf(engine === "postgres")(
    "two processes releasing the same operation at once release it once",
    async () => {
      const second = await openDatabase({ engine: "postgres", url: database.url ?? "" });
      try {
        for (let i = 0; i < 6; i++) {
          const op = await propose("weekend", SATURDAY);
          await vote(treasurer, op.id, "approve", SATURDAY);
          expect(await stateOf(op.id)).toBe("waiting");
          const results = await Promise.all([
            releaseOperation(database.db, { operationId: op.id, now: MONDAY_ZURICH }),
            releaseOperation(second.db, { operationId: op.id, now: MONDAY_ZURICH }),
            releaseDue(second.db, MONDAY_ZURICH),
          ]);
          expect(results.slice(0, 2)).toEqual(["approved", "approved"]);
          expect(await eventsOf(op.id, "operation.approved")).toHaveLength(1);
          expect(await stateOf(op.id)).toBe("approved");
        }
      } finally {
        await second.close();
      }
      expect((await verifyWholeChain(database.db)).problems).toEqual([]);
    },
    120_000,
  );
});
