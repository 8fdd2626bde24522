// The membership operations of a live Keyward (member.invite, member.update, member.reinstate, token.revoke) on
// PGlite and PostgreSQL with real taps: each proposed by an admin, approved by two approvers, executed with its
// effect and audit events (naming the operation); each execution safe to repeat (the change already done
// counts as done, nothing written twice); a change that would leave a rule unreachable refused at proposal
// (nothing written) and failed at execution when another change landed in between; the direct procedures
// refused once live while suspension stays immediate and reports what it made unreachable; in setup mode the
// direct procedures still work.
import { and, count, eq } from "drizzle-orm";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { type Db, openDatabase } from "@/db/client";
import { auditEvents, installationLive, invitations, members, operations, tokens } from "@/db/schema";
import { verifyWholeChain } from "@/server/audit/verify";
import { AppError } from "@/server/errors";
import {
  beginAcceptInvitation,
  completeAcceptInvitation,
  createInvitation,
  describeInvitation,
} from "@/server/members/invitations";
import { takeAdminLock } from "@/server/members/admin-lock";
import { revokeMemberToken } from "@/server/members/member-sessions";
import { membershipSteps } from "@/server/members/membership-steps";
import { reactivateMember, suspendMember, updateMember } from "@/server/members/members";
import { proposeInvitation } from "@/server/members/propose-invitation";
import { revokeToken } from "@/server/members/tokens";
import { addToken } from "@/server/testing/add-token";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { SoftAuthenticator } from "@/server/testing/soft-authenticator";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { runExecutorRound } from "../executor/run";
import { beginFreezeSigning, freezeSigning } from "../freeze";
import { ensurePolicySeeded } from "../policy-store";
import { proposeOperation } from "../propose";
import { getOperation } from "../read";
import { approveInTurn } from "../testing/approve";

const T0 = new Date("2026-12-02T10:00:00.000Z");
/** server/members/admin-lock.ts ADMIN_LOCK_KEY ("KWAD"), as pg_locks shows a one-bigint advisory lock's low half. */
const ADMIN_LOCK_OBJID = 0x4b57_4144;

type Cast = {
  db: Db;
  ada: Person;
  bea: Person;
  otto: Person;
  v1: Person;
  v2: Person;
  v3: Person;
};

async function refusal(p: Promise<unknown>): Promise<AppError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  if (!(e instanceof AppError)) throw new Error(`expected an AppError, got ${String(e)}`);
  return e;
}

async function eventsOf(db: Db, action: string) {
  return db.select().from(auditEvents).where(eq(auditEvents.action, action));
}

async function counts(db: Db) {
  const [ops] = await db.select({ n: count() }).from(operations);
  const [events] = await db.select({ n: count() }).from(auditEvents);
  return { operations: ops?.n ?? 0, events: events?.n ?? 0 };
}

async function goLive(db: Db, admins: Person[]) {
  const policy = await ensurePolicySeeded(db, T0);
  const ids = admins.map((a) => a.acting.id).sort();
  await db.insert(installationLive).values({
    since: T0,
    policyVersion: policy.version,
    policyDigest: policy.digest,
    adminSetDigest: "a".repeat(64),
    admins: ids,
    completedBy: ids[0] ?? "",
  });
}

describe.each(testEngines())("membership operations on %s", (engine) => {
  let database: TestDatabase | undefined;
  afterEach(async () => {
    await database?.drop();
    database = undefined;
  });

  /** Two admins, an operator and three approvers (the default rule: 2 approvals from the approvers), live or not. */
  async function cast(options: { live: boolean }): Promise<Cast> {
    database = await createTestDatabase(engine);
    const db = database.db;
    const ada = await firstAdmin(db, { now: T0 });
    const bea = await invitedMember(db, ada.acting, { now: T0, roles: ["admin"], name: "Bea Admin" });
    const otto = await invitedMember(db, ada.acting, { now: T0, roles: ["operator"], name: "Otto Operator" });
    const v1 = await invitedMember(db, ada.acting, { now: T0, roles: ["approver"], name: "Vera One" });
    const v2 = await invitedMember(db, ada.acting, { now: T0, roles: ["approver"], name: "Vic Two" });
    const v3 = await invitedMember(db, ada.acting, { now: T0, roles: ["approver"], name: "Val Three" });
    if (options.live) await goLive(db, [ada, bea]);
    return { db, ada, bea, otto, v1, v2, v3 };
  }

  const execute = (db: Db, maxOperations?: number) =>
    runExecutorRound(
      { db, clock: () => T0 },
      { concurrency: 1, ...(maxOperations ? { maxOperations } : {}) },
    );

  async function opRow(db: Db, id: string) {
    const [row] = await db.select().from(operations).where(eq(operations.id, id));
    if (!row) throw new Error("no such operation");
    return row;
  }

  async function propose(db: Db, who: Person, kind: string, payload: unknown) {
    return proposeOperation(db, { actor: who.acting, kind, payload, now: T0 });
  }

  const approve = (db: Db, operationId: string, voters: Person[]) =>
    approveInTurn(db, config, { operationId, voters, now: T0 });

  it("member.update: proposed with before → after in words, approved by the quorum, executed with member.updated", async () => {
    const { db, ada, otto, v1, v2 } = await cast({ live: true });
    const op = await propose(db, ada, "member.update", {
      memberId: otto.acting.id,
      roles: ["approver", "operator"],
      groups: ["treasury"],
    });
    expect(op.payload).toEqual({
      memberId: otto.acting.id,
      name: "Otto Operator",
      before: { roles: ["operator"], groups: [] },
      after: { roles: ["operator", "approver"], groups: ["treasury"] },
    });
    const shown = await getOperation(db, { viewer: v1.acting, operationId: op.id, now: T0 });
    const lines = Object.fromEntries(shown.display.lines.map((l) => [l.label, l.value]));
    expect(lines.Roles).toBe("operator → operator, approver");
    expect(lines.Groups).toBe("none → treasury");
    expect(lines.Effect).toBe("adds the approver role and the group treasury");
    expect(await approve(db, op.id, [v1, v2])).toBe("approved");
    const [outcome] = await execute(db);
    expect(outcome).toMatchObject({ operationId: op.id, outcome: "executed" });
    const [otto2] = await db.select().from(members).where(eq(members.id, otto.acting.id));
    expect(otto2?.roles).toEqual(["operator", "approver"]);
    expect(otto2?.groups).toEqual(["treasury"]);
    const [event] = await eventsOf(db, "member.updated");
    expect(event).toMatchObject({
      actor: "system",
      subject: `member:${otto.acting.id}`,
      data: { memberId: otto.acting.id, operationId: op.id, previousRoles: ["operator"] },
    });
    expect((await verifyWholeChain(db)).problems).toEqual([]);
  });

  it("member.invite: the link is handed out at proposal, works only once executed, and only its hash is stored", async () => {
    const { db, ada, v1, v2 } = await cast({ live: true });
    const { operationId, secret } = await proposeInvitation(db, {
      actor: ada.acting,
      name: "Nina New",
      roles: ["approver"],
      groups: ["compliance"],
      validHours: 24,
      now: T0,
    });
    const op = await opRow(db, operationId);
    expect(JSON.stringify(op.payload)).not.toContain(secret);
    expect(op.payload).toMatchObject({
      name: "Nina New",
      roles: ["approver"],
      groups: ["compliance"],
      validHours: 24,
    });
    const [proposed] = await eventsOf(db, "operation.proposed");
    expect(JSON.stringify(proposed)).not.toContain(secret);
    // Not usable before the quorum approved and the executor created it.
    expect((await refusal(describeInvitation(db, secret, T0))).code).toBe("NOT_FOUND");
    expect(await approve(db, operationId, [v1, v2])).toBe("approved");
    expect((await refusal(describeInvitation(db, secret, T0))).code).toBe("NOT_FOUND");
    const later = new Date(T0.getTime() + 60_000);
    const [outcome] = await runExecutorRound({ db, clock: () => later }, { concurrency: 1 });
    expect(outcome).toMatchObject({ outcome: "executed" });
    const described = await describeInvitation(db, secret, later);
    expect(described).toMatchObject({ name: "Nina New", roles: ["approver"], groups: ["compliance"] });
    expect(described.expiresAt.getTime()).toBe(later.getTime() + 24 * 3_600_000);
    const [row] = await db.select().from(invitations).where(eq(invitations.name, "Nina New"));
    expect(row?.createdBy).toBe(ada.acting.id);
    const created = (await eventsOf(db, "invitation.created")).filter((e) => e.actor === "system");
    expect(created).toHaveLength(1);
    expect(created[0]?.data).toMatchObject({ invitationId: row?.id, operationId });
    // The invited person accepts it as any invitation.
    const token = new SoftAuthenticator();
    const registration = await beginAcceptInvitation(db, config, { secret, now: later });
    const { memberId } = await completeAcceptInvitation(db, config, {
      secret,
      tokenName: "Key",
      response: token.register(registration),
      now: later,
    });
    const [nina] = await db.select().from(members).where(eq(members.id, memberId));
    expect(nina).toMatchObject({ roles: ["approver"], groups: ["compliance"], status: "active" });
  });

  it("member.reinstate: a suspension is immediate when live, its reversal needs the quorum", async () => {
    const { db, ada, v1, v2, v3 } = await cast({ live: true });
    const suspended = await suspendMember(db, { actor: ada.acting, memberId: v3.acting.id, now: T0 });
    expect(suspended.unreachable).toEqual([]);
    const [row] = await db.select().from(members).where(eq(members.id, v3.acting.id));
    expect(row?.status).toBe("suspended");
    expect((await eventsOf(db, "member.suspended")).length).toBe(1);
    const refused = await refusal(
      reactivateMember(db, { actor: ada.acting, memberId: v3.acting.id, now: T0 }),
    );
    expect(refused.code).toBe("CONFLICT");
    expect(refused.message).toContain("needs the quorum");

    const op = await propose(db, ada, "member.reinstate", { memberId: v3.acting.id });
    expect(op.payload).toEqual({
      memberId: v3.acting.id,
      name: "Val Three",
      roles: ["approver"],
      groups: [],
    });
    expect(await approve(db, op.id, [v1, v2])).toBe("approved");
    expect((await execute(db))[0]).toMatchObject({ outcome: "executed" });
    const [back] = await db.select().from(members).where(eq(members.id, v3.acting.id));
    expect(back?.status).toBe("active");
    const [event] = await eventsOf(db, "member.reactivated");
    expect(event).toMatchObject({ actor: "system", data: { memberId: v3.acting.id, operationId: op.id } });
    // An active member is not proposed for reinstatement.
    expect((await refusal(propose(db, ada, "member.reinstate", { memberId: v3.acting.id }))).code).toBe(
      "CONFLICT",
    );
  });

  it("token.revoke: another member's token is revoked by the quorum, its sessions end, token.revoked names the operation", async () => {
    const { db, bea, v1, v2, v3 } = await cast({ live: true });
    const [token] = await db.select().from(tokens).where(eq(tokens.memberId, v3.acting.id));
    if (!token) throw new Error("no token");
    const op = await propose(db, bea, "token.revoke", { memberId: v3.acting.id, credentialId: token.id });
    expect(op.payload).toEqual({
      memberId: v3.acting.id,
      name: "Val Three",
      credentialId: token.id,
      nickname: "Key",
    });
    expect(await approve(db, op.id, [v1, v2])).toBe("approved");
    expect((await execute(db))[0]).toMatchObject({ outcome: "executed" });
    const [after] = await db.select().from(tokens).where(eq(tokens.id, token.id));
    expect(after?.revokedAt).not.toBeNull();
    expect(after?.revokedBy).toBe(bea.acting.id);
    const [event] = await eventsOf(db, "token.revoked");
    expect(event).toMatchObject({ actor: "system", data: { credentialId: token.id, operationId: op.id } });
  });

  it("after a membership operation executes, open operations are judged again (cause membership)", async () => {
    const { db, ada, bea, otto, v1, v2, v3 } = await cast({ live: true });
    // P has Val's approval; Val is then suspended, so Vera's approval leaves P one short.
    const p = await propose(db, ada, "member.update", {
      memberId: otto.acting.id,
      roles: ["operator", "auditor"],
      groups: [],
    });
    expect(await approve(db, p.id, [v3])).toBe("pending");
    await suspendMember(db, { actor: ada.acting, memberId: v3.acting.id, now: T0 });
    expect(await approve(db, p.id, [v1])).toBe("pending");
    // Reinstating Val by the quorum makes her vote count again: P is approved by the re-judging.
    const r = await propose(db, bea, "member.reinstate", { memberId: v3.acting.id });
    expect(await approve(db, r.id, [v1, v2])).toBe("approved");
    const [outcome] = await execute(db, 1);
    expect(outcome).toMatchObject({ operationId: r.id, outcome: "executed" });
    expect((await opRow(db, p.id)).state).toBe("approved");
    const rejudged = (await eventsOf(db, "operation.rejudged")).filter(
      (e) => (e.data as { operationId?: string }).operationId === p.id,
    );
    expect(rejudged).toHaveLength(1);
    expect(rejudged[0]?.data).toMatchObject({ cause: "membership", outcome: "approved" });
  });

  it("while signing is frozen, a token.revoke still runs (it only takes access away); other membership changes wait", async () => {
    const { db, ada, otto, v1, v2, v3 } = await cast({ live: true });
    const [token] = await db.select().from(tokens).where(eq(tokens.memberId, otto.acting.id));
    const revoke = await propose(db, ada, "token.revoke", {
      memberId: otto.acting.id,
      credentialId: token?.id ?? "",
    });
    const update = await propose(db, ada, "member.update", {
      memberId: otto.acting.id,
      roles: ["auditor"],
      groups: [],
    });
    expect(await approve(db, revoke.id, [v1, v2])).toBe("approved");
    expect(await approve(db, update.id, [v1, v2])).toBe("approved");
    const { options } = await beginFreezeSigning(db, config, {
      actor: v3.acting,
      reason: "a thief",
      now: T0,
    });
    await freezeSigning(db, config, {
      actor: v3.acting,
      response: v3.token.authenticate(options),
      reason: "a thief",
      now: T0,
    });
    const outcomes = await execute(db);
    expect(outcomes).toEqual([{ operationId: revoke.id, outcome: "executed" }]);
    expect((await opRow(db, update.id)).state).toBe("approved");
  });

  it("each execution is safe to repeat: the change already done counts as done and writes nothing", async () => {
    const { db, ada, bea, otto, v1, v2, v3 } = await cast({ live: true });
    await suspendMember(db, { actor: ada.acting, memberId: v3.acting.id, now: T0 });
    const [token] = await db.select().from(tokens).where(eq(tokens.memberId, otto.acting.id));
    if (!token) throw new Error("no token");
    const update = { memberId: otto.acting.id, roles: ["operator", "auditor"], groups: ["ops"] };
    const secretHash = "c".repeat(64);
    const invite = { name: "Ian Twice", roles: ["operator"], groups: [], validHours: 5, secretHash };
    // Each change proposed twice (by the two admins), both approved before either runs.
    const pairs = [
      ["member.update", update],
      ["member.reinstate", { memberId: v3.acting.id }],
      ["token.revoke", { memberId: otto.acting.id, credentialId: token.id }],
      ["member.invite", invite],
    ] as const;
    const ids: string[] = [];
    for (const [kind, payload] of pairs) {
      for (const who of [ada, bea]) {
        const op = await propose(db, who, kind, payload);
        expect(await approve(db, op.id, [v1, v2])).toBe("approved");
        ids.push(op.id);
      }
    }
    const outcomes = await execute(db);
    expect(outcomes.map((o) => o.outcome)).toEqual(Array(8).fill("executed"));
    for (const action of ["member.updated", "member.reactivated", "token.revoked"]) {
      expect((await eventsOf(db, action)).filter((e) => e.actor === "system")).toHaveLength(1);
    }
    expect((await eventsOf(db, "invitation.created")).filter((e) => e.actor === "system")).toHaveLength(1);
    expect(await db.select().from(invitations).where(eq(invitations.secretHash, secretHash))).toHaveLength(1);
    // The record itself, run again in a transaction of its own after the change: done already, nothing written.
    const steps = membershipSteps(db);
    const before = await counts(db);
    const first = await opRow(db, ids[0] ?? "");
    const again = await db.transaction((tx) =>
      steps.apply(
        tx,
        {
          change: "update",
          memberId: otto.acting.id,
          before: { roles: ["operator"], groups: [] },
          roles: ["operator", "auditor"],
          groups: ["ops"],
        },
        { id: first.id, initiatorId: first.initiatorId },
        T0,
      ),
    );
    expect(again).toBe("already-done");
    expect(await counts(db)).toEqual(before);
    expect((await verifyWholeChain(db)).problems).toEqual([]);
  });

  it("refuses at proposal a change that would leave a rule unreachable, with the reason, writing nothing", async () => {
    const { db, ada, v2, v3 } = await cast({ live: true });
    // A suspension may leave the policy short-handed... it does not here: two approvers remain for 2 approvals.
    await suspendMember(db, { actor: ada.acting, memberId: v3.acting.id, now: T0 });
    const before = await counts(db);
    const refused = await refusal(
      propose(db, ada, "member.update", { memberId: v2.acting.id, roles: ["operator"], groups: [] }),
    );
    expect(refused.code).toBe("CONFLICT");
    expect(refused.message).toContain("unreachable");
    expect(refused.message).toContain(
      "needs 2 approvals from the approvers, but only 1 eligible member of the approvers holds a live token",
    );
    const [token] = await db.select().from(tokens).where(eq(tokens.memberId, v2.acting.id));
    const tokenRefused = await refusal(
      propose(db, ada, "token.revoke", { memberId: v2.acting.id, credentialId: token?.id ?? "" }),
    );
    expect(tokenRefused.message).toContain("unreachable");
    expect(await counts(db)).toEqual(before);
    // Changes that leave it reachable pass: adding a group to an approver.
    await propose(db, ada, "member.update", {
      memberId: v2.acting.id,
      roles: ["approver"],
      groups: ["treasury"],
    });
  });

  it("fails at execution, with the reason, a change another change made unsafe since its proposal", async () => {
    const { db, ada, bea, v1, v2, v3 } = await cast({ live: true });
    // Each alone leaves two approvers; both together would leave one.
    const demote = await propose(db, ada, "member.update", {
      memberId: v3.acting.id,
      roles: ["operator"],
      groups: [],
    });
    const [token] = await db.select().from(tokens).where(eq(tokens.memberId, v2.acting.id));
    const revoke = await propose(db, bea, "token.revoke", {
      memberId: v2.acting.id,
      credentialId: token?.id ?? "",
    });
    expect(await approve(db, demote.id, [v1, v2])).toBe("approved");
    expect(await approve(db, revoke.id, [v1, v3])).toBe("approved");
    // Whichever the executor runs first lands; the other finds the rule it would break and fails with the reason.
    const [first] = await execute(db, 1);
    const [second] = await execute(db, 1);
    expect(first?.outcome).toBe("executed");
    expect(second?.outcome).toBe("failed");
    const failedId = second?.operationId ?? "";
    expect([demote.id, revoke.id].sort()).toEqual([first?.operationId, failedId].sort());
    const failed = await opRow(db, failedId);
    expect(failed.state).toBe("failed");
    expect(failed.failure).toContain("unreachable");
    expect(failed.failure).toContain("needs 2 approvals from the approvers, but only 1 eligible member");
    const failures = (await eventsOf(db, "operation.failed")).map((e) => JSON.stringify(e.data));
    expect(failures.filter((d) => d.includes(failedId) && d.includes("unreachable"))).toHaveLength(1);
    // Only the landed change is in force: two approvers remain.
    const [v3row] = await db.select().from(members).where(eq(members.id, v3.acting.id));
    const [v2token] = await db
      .select()
      .from(tokens)
      .where(eq(tokens.id, token?.id ?? ""));
    const demoted = !v3row?.roles.includes("approver");
    const revoked = v2token?.revokedAt !== null;
    expect([demoted, revoked].filter(Boolean)).toHaveLength(1);
    expect(demoted).toBe(first?.operationId === demote.id);
    expect(await eventsOf(db, "token.revoked")).toHaveLength(revoked ? 1 : 0);
  });

  it.runIf(engine === "postgres")(
    "two executors on two pools at once: their records wait for the admin lock, so only one of two changes that together break a rule lands",
    async () => {
      const { db, ada, bea, v1, v2, v3 } = await cast({ live: true });
      const url = database?.url ?? "";
      const demote = await propose(db, ada, "member.update", {
        memberId: v3.acting.id,
        roles: ["operator"],
        groups: [],
      });
      const [token] = await db.select().from(tokens).where(eq(tokens.memberId, v2.acting.id));
      const revoke = await propose(db, bea, "token.revoke", {
        memberId: v2.acting.id,
        credentialId: token?.id ?? "",
      });
      expect(await approve(db, demote.id, [v1, v2])).toBe("approved");
      expect(await approve(db, revoke.id, [v1, v3])).toBe("approved");
      const second = await openDatabase({ engine: "postgres", url });
      const holder = await openDatabase({ engine: "postgres", url });
      const locks = new pg.Client({ connectionString: url });
      await locks.connect();
      try {
        // A third connection holds the admin lock: both executions pass their step's check (each change alone is
        // fine), then wait for the lock in their completing transactions, before checking again.
        let release = () => {};
        const released = new Promise<void>((resolve) => {
          release = resolve;
        });
        let holding = () => {};
        const isHeld = new Promise<void>((resolve) => {
          holding = resolve;
        });
        const held = holder.db.transaction(async (tx) => {
          await takeAdminLock(tx);
          holding();
          await released;
        });
        await isHeld;
        const rounds = Promise.all([
          runExecutorRound({ db, clock: () => T0 }, { concurrency: 1, maxOperations: 1 }),
          runExecutorRound({ db: second.db, clock: () => T0 }, { concurrency: 1, maxOperations: 1 }),
        ]);
        // Waits (polling the lock table, no fixed sleep) until both completing transactions wait for the admin lock.
        const deadline = Date.now() + 30_000;
        let waiting = 0;
        while (waiting < 2 && Date.now() < deadline) {
          const result = await locks.query<{ n: number }>(
            "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = 0 AND objid = $1",
            [ADMIN_LOCK_OBJID],
          );
          waiting = result.rows[0]?.n ?? 0;
        }
        expect(waiting).toBe(2);
        const states = await db.select({ state: operations.state }).from(operations);
        expect(states.map((r) => r.state).sort()).toEqual(["executing", "executing"]);
        release();
        await held;
        const outcomes = (await rounds).flat().map((o) => o.outcome);
        expect(outcomes.sort()).toEqual(["executed", "failed"]);
      } finally {
        await second.close();
        await holder.close();
        await locks.end();
      }
      const [v3row] = await db.select().from(members).where(eq(members.id, v3.acting.id));
      const [v2token] = await db
        .select()
        .from(tokens)
        .where(eq(tokens.id, token?.id ?? ""));
      // Exactly one of the two changes is in force: two approvers still hold a live token.
      expect([!v3row?.roles.includes("approver"), v2token?.revokedAt !== null].filter(Boolean)).toHaveLength(
        1,
      );
      expect((await verifyWholeChain(db)).problems).toEqual([]);
    },
    120_000,
  );

  it("once live, the direct procedures refuse with CONFLICT; suspension stays immediate and reports what it left unreachable", async () => {
    const { db, ada, otto, v1, v2, v3 } = await cast({ live: true });
    const [ottoToken] = await db.select().from(tokens).where(eq(tokens.memberId, otto.acting.id));
    // Thunks, called one at a time: promises started together would reject before `refusal` awaits them
    // (an unhandled rejection that fails the run).
    const direct = [
      () =>
        createInvitation(db, {
          actor: ada.acting,
          name: "Direct Dan",
          roles: ["admin"],
          groups: [],
          ttlMs: 3_600_000,
          now: T0,
        }),
      () =>
        updateMember(db, {
          actor: ada.acting,
          memberId: otto.acting.id,
          roles: ["admin"],
          groups: [],
          now: T0,
        }),
      () => revokeToken(db, { actor: ada.acting, credentialId: ottoToken?.id ?? "", now: T0 }),
      () =>
        revokeMemberToken(db, {
          actor: ada.acting,
          memberId: otto.acting.id,
          credentialId: ottoToken?.id ?? "",
          now: T0,
        }),
    ];
    for (const call of direct) {
      const e = await refusal(call());
      expect(e.code).toBe("CONFLICT");
      expect(e.message).toMatch(/^Keyward is live: .* needs the quorum now/);
    }
    await suspendMember(db, { actor: ada.acting, memberId: v3.acting.id, now: T0 });
    expect(
      (await refusal(reactivateMember(db, { actor: ada.acting, memberId: v3.acting.id, now: T0 }))).code,
    ).toBe("CONFLICT");
    expect(await db.select().from(invitations).where(eq(invitations.name, "Direct Dan"))).toHaveLength(0);
    const [otto2] = await db.select().from(members).where(eq(members.id, otto.acting.id));
    expect(otto2?.roles).toEqual(["operator"]);
    // A thief must be stoppable: suspending below the quorum is allowed, and says what can no longer be approved.
    const { unreachable } = await suspendMember(db, { actor: ada.acting, memberId: v2.acting.id, now: T0 });
    expect(unreachable.map((u) => u.reason).join(" ")).toContain(
      "needs 2 approvals from the approvers, but only 1 eligible member of the approvers holds a live token",
    );
    const [v2row] = await db.select().from(members).where(eq(members.id, v2.acting.id));
    expect(v2row?.status).toBe("suspended");
    // Your own token stays yours to revoke (not your last one).
    const second = await addToken(db, config, {
      memberId: v1.acting.id,
      approver: v1.token,
      token: new SoftAuthenticator(),
      nickname: "Spare",
      now: T0,
    });
    await revokeToken(db, { actor: v1.acting, credentialId: second.credentialId, now: T0 });
  });

  it("an invitation made in setup mode stops working once live", async () => {
    database = await createTestDatabase(engine);
    const db = database.db;
    const ada = await firstAdmin(db, { now: T0 });
    const bea = await invitedMember(db, ada.acting, { now: T0, roles: ["admin"] });
    const early = new Date(T0.getTime() - 60_000);
    const { secret } = await createInvitation(db, {
      actor: ada.acting,
      name: "Early Ed",
      roles: ["approver"],
      groups: [],
      ttlMs: 3_600_000,
      now: early,
    });
    await describeInvitation(db, secret, T0);
    await goLive(db, [ada, bea]);
    const e = await refusal(describeInvitation(db, secret, T0));
    expect(e.code).toBe("EXPIRED");
    expect(e.message).toContain("before Keyward went live");
  });

  it("in setup mode the direct procedures work as before", async () => {
    const { db, ada, otto, v3 } = await cast({ live: false });
    await updateMember(db, {
      actor: ada.acting,
      memberId: otto.acting.id,
      roles: ["operator", "approver"],
      groups: [],
      now: T0,
    });
    await suspendMember(db, { actor: ada.acting, memberId: v3.acting.id, now: T0 });
    await reactivateMember(db, { actor: ada.acting, memberId: v3.acting.id, now: T0 });
    const [token] = await db.select().from(tokens).where(eq(tokens.memberId, otto.acting.id));
    await revokeMemberToken(db, {
      actor: ada.acting,
      memberId: otto.acting.id,
      credentialId: token?.id ?? "",
      now: T0,
    });
    const { secret } = await createInvitation(db, {
      actor: ada.acting,
      name: "Setup Sam",
      roles: ["operator"],
      groups: [],
      ttlMs: 3_600_000,
      now: T0,
    });
    expect(await describeInvitation(db, secret, T0)).toMatchObject({ name: "Setup Sam" });
    const updated = await db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, "member.updated"), eq(auditEvents.actor, `member:${ada.acting.id}`)));
    expect(updated).toHaveLength(1);
  });
});
