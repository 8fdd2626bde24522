// Cancelling operations, on PGlite and PostgreSQL, through the tRPC procedure (zod input, declared roles) and
// cancelOperation: an admin cancels a pending operation Keyward proposed itself, only with a reason, recorded
// with operation.cancelled in the same transaction; an operator cannot; nobody cancels another person's
// operation (admins included); the initiator still cancels their own. Two admins cancelling at once on
// PostgreSQL: one cancels, the other is refused, one event.
import { randomBytes } from "node:crypto";
import { TRPCError } from "@trpc/server";
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "@/db/client";
import { auditEvents, keys, members, operations, type Role } from "@/db/schema";
import { createCaller } from "@/server/api/root";
import { createContext } from "@/server/api/trpc";
import { verifyWholeChain } from "@/server/audit/verify";
import { AppError } from "@/server/errors";
import { DEFAULT_POLICY } from "@/server/policy/document";
import type { PolicyDocument } from "@/server/policy/schema";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { cancelOperation } from "./cancel";
import { claimApproved } from "./executor/claim";
import { updatePolicy } from "./policy-store";
import { proposeOperation } from "./propose";
import { getOperation, listOperations } from "./read";
import { releaseDue, releaseOperation } from "./release";
import { proposeDueRotations } from "./rotation-due";
import { defaultHandlers } from "./scheduler/handlers";
import { startScheduler } from "./scheduler/scheduler";
import { OPERATION_RELEASE_JOB } from "./settle";
import { beginVote, completeVote } from "./vote";

const DAY = 86_400_000;

describe.each(testEngines())("cancelling operations on %s", (engine) => {
  let database: TestDatabase;
  let admin: Person;
  let admin2: Person;
  let operator: Person;
  let approver: Person;
  const t0 = new Date("2027-04-01T08:00:00.000Z");
  let round = 0;

  beforeAll(async () => {
    database = await createTestDatabase(engine);
    admin = await firstAdmin(database.db, { now: t0 });
    admin2 = await invitedMember(database.db, admin.acting, { now: t0, roles: ["admin"] });
    operator = await invitedMember(database.db, admin.acting, { now: t0, roles: ["operator", "admin"] });
    approver = await invitedMember(database.db, admin.acting, { now: t0, roles: ["approver"] });
    await updatePolicy(database.db, {
      actor: admin.acting,
      document: { ...DEFAULT_POLICY, rotation: [{ tag: "hot", everyDays: 30 }] },
      now: t0,
    });
  }, 60_000);
  afterAll(async () => {
    await database.drop();
  });

  /** The procedure as the browser calls it, signed in as `who` with `roles`. */
  function callerFor(who: Person, roles: Role[], name = "Tester") {
    const member = { id: who.acting.id, name, roles, groups: [] };
    return createCaller(
      createContext({
        db: database.db,
        engine,
        clock: () => now(),
        session: { sessionId: "00000000-0000-4000-8000-000000000001", tokenId: "credential", member },
      }),
    );
  }
  let at = t0;
  const now = () => at;

  /** A pending key.rotate Keyward proposed for a fresh due key. */
  async function systemProposal(): Promise<string> {
    round++;
    const [key] = await database.db
      .insert(keys)
      .values({
        label: `due ${round}`,
        curve: "secp256k1",
        tags: ["hot"],
        state: "active",
        hsmRef: randomBytes(16).toString("hex"),
        publicKey: `04${randomBytes(64).toString("hex")}`,
        exportable: "never",
        createdAt: new Date(at.getTime() - 31 * DAY),
      })
      .returning({ id: keys.id });
    const swept = await proposeDueRotations(database.db, at);
    const mine = swept.proposed.find((p) => p.keyId === key?.id);
    if (!mine) throw new Error("the sweep proposed nothing for the key");
    return mine.operationId;
  }

  async function opRow(id: string) {
    const [row] = await database.db.select().from(operations).where(eq(operations.id, id));
    return row;
  }

  async function cancelledEvents(id: string) {
    return database.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, "operation.cancelled"), eq(auditEvents.subject, `operation:${id}`)));
  }

  async function codeOf(p: Promise<unknown>): Promise<string> {
    try {
      await p;
    } catch (e) {
      if (e instanceof TRPCError) return e.code;
      if (e instanceof AppError) return e.code;
      throw e;
    }
    throw new Error("expected a refusal");
  }

  it("an admin cancels Keyward's pending proposal with a reason, audited with it", async () => {
    const id = await systemProposal();
    const done = await callerFor(admin, ["admin"]).operations.cancel({
      operationId: id,
      reason: "  we rotate this key by hand after the audit  ",
    });
    expect(done.state).toBe("cancelled");
    const row = await opRow(id);
    expect(row).toMatchObject({ state: "cancelled", decidedAt: at, initiatorId: null });
    expect(row?.result).toEqual({
      cancellation: { by: admin.acting.id, reason: "we rotate this key by hand after the audit" },
    });
    const events = await cancelledEvents(id);
    expect(events).toHaveLength(1);
    // The trail keeps why, not only who: a regulator reads the reason from the event itself.
    expect(events[0]).toMatchObject({
      actor: `member:${admin.acting.id}`,
      data: { operationId: id, reason: "we rotate this key by hand after the audit" },
    });
    expect((await verifyWholeChain(database.db)).problems).toEqual([]);
  });

  it("refuses without a reason or with a bad one, naming it, and writes nothing", async () => {
    const id = await systemProposal();
    const caller = callerFor(admin, ["admin"]);
    for (const reason of [undefined, "", "   "]) {
      const refused = await caller.operations.cancel({ operationId: id, reason }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(TRPCError);
      expect((refused as TRPCError).code).toBe("BAD_REQUEST");
      expect((refused as TRPCError).message).toContain("reason");
    }
    for (const reason of ["line\nbreak", "x".repeat(501)])
      expect(await codeOf(caller.operations.cancel({ operationId: id, reason }))).toBe("BAD_REQUEST");
    expect((await opRow(id))?.state).toBe("pending");
    expect(await cancelledEvents(id)).toEqual([]);
  });

  it("refuses an operator or approver, a suspended admin, and an admin a role short since sign-in", async () => {
    const id = await systemProposal();
    // The procedure's declared roles: an approver is refused before anything is read.
    expect(
      await codeOf(callerFor(approver, ["approver"]).operations.cancel({ operationId: id, reason: "no" })),
    ).toBe("FORBIDDEN");
    // An operator passes the procedure's roles; cancel.ts re-reads them: only an admin cancels Keyward's.
    const plainOperator = await invitedMember(database.db, admin.acting, { now: at, roles: ["operator"] });
    expect(
      await codeOf(
        callerFor(plainOperator, ["operator"]).operations.cancel({ operationId: id, reason: "not mine" }),
      ),
    ).toBe("FORBIDDEN");
    // A session that still says admin after the role was taken away: the roles as they are now count.
    const demoted = await invitedMember(database.db, admin.acting, { now: at, roles: ["admin"] });
    await database.db
      .update(members)
      .set({ roles: ["operator"] })
      .where(eq(members.id, demoted.acting.id));
    expect(
      await codeOf(
        callerFor(demoted, ["admin"]).operations.cancel({ operationId: id, reason: "stale session" }),
      ),
    ).toBe("FORBIDDEN");
    const suspended = await invitedMember(database.db, admin.acting, { now: at, roles: ["admin"] });
    await database.db.update(members).set({ status: "suspended" }).where(eq(members.id, suspended.acting.id));
    expect(
      await codeOf(
        cancelOperation(database.db, { actor: suspended.acting, operationId: id, reason: "gone", now: at }),
      ),
    ).toBe("FORBIDDEN");
    expect((await opRow(id))?.state).toBe("pending");
    expect(await cancelledEvents(id)).toEqual([]);
  });

  it("keeps other people's operations out of an admin's reach; the initiator still cancels their own", async () => {
    const keyId = (
      await database.db
        .insert(keys)
        .values({
          label: `mine ${++round}`,
          curve: "secp256k1",
          tags: ["warm"],
          state: "active",
          hsmRef: randomBytes(16).toString("hex"),
          publicKey: `04${randomBytes(64).toString("hex")}`,
          exportable: "never",
        })
        .returning({ id: keys.id })
    )[0]?.id;
    const op = await proposeOperation(database.db, {
      actor: operator.acting,
      kind: "key.rotate",
      payload: { keyId },
      now: at,
    });
    expect(
      await codeOf(callerFor(admin, ["admin"]).operations.cancel({ operationId: op.id, reason: "mine now" })),
    ).toBe("FORBIDDEN");
    expect((await opRow(op.id))?.state).toBe("pending");
    const own = await callerFor(operator, ["operator", "admin"]).operations.cancel({ operationId: op.id });
    expect(own.state).toBe("cancelled");
    expect((await opRow(op.id))?.result).toEqual({ cancellation: { by: operator.acting.id } });
  });

  it("refuses once it is no longer pending or past its expiry", async () => {
    const id = await systemProposal();
    const caller = callerFor(admin, ["admin"]);
    await caller.operations.cancel({ operationId: id, reason: "first" });
    expect(await codeOf(caller.operations.cancel({ operationId: id, reason: "again" }))).toBe("CONFLICT");
    const late = await systemProposal();
    const row = await opRow(late);
    at = row?.expiresAt ?? at;
    try {
      expect(await codeOf(caller.operations.cancel({ operationId: late, reason: "too late" }))).toBe(
        "CONFLICT",
      );
    } finally {
      at = t0;
    }
    expect(await cancelledEvents(id)).toHaveLength(1);
  });

  it.runIf(engine === "postgres")(
    "two admins cancelling at once on two pools: one cancels, the other is refused, one event",
    async () => {
      const second = await openDatabase({ engine: "postgres", url: database.url ?? "" });
      try {
        for (let i = 0; i < 8; i++) {
          const id = await systemProposal();
          const results = await Promise.allSettled([
            cancelOperation(database.db, { actor: admin.acting, operationId: id, reason: "a", now: at }),
            cancelOperation(second.db, { actor: admin2.acting, operationId: id, reason: "b", now: at }),
          ]);
          expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
          const refused = results.find((r) => r.status === "rejected");
          expect(refused?.status === "rejected" && refused.reason).toMatchObject({ code: "CONFLICT" });
          expect(await cancelledEvents(id)).toHaveLength(1);
        }
        expect((await verifyWholeChain(database.db)).problems).toEqual([]);
      } finally {
        await second.close();
      }
    },
    120_000,
  );
});

// Cancelling while waiting (issue 13): the votes met a rule with a 72 h delay, so the operation waits for its
// release. Its initiator cancels it (also past its expiry: waiting never expires), an admin cancels one Keyward
// proposed with a reason, nobody else; the release job at its time then finds it cancelled and does nothing.
// On PostgreSQL the initiator's cancel and the release job at the same instant on two pools: one of the two.
const HOUR = 3_600_000;
const delayed = {
  ...DEFAULT_POLICY,
  rotation: [{ tag: "rotating", everyDays: 30 }],
  rules: [
    {
      id: "delayed",
      description: "Three days for security to look",
      match: { kinds: ["key.create"], keyTags: ["delayed"] },
      require: [{ group: "treasury", approvals: 1 }],
      delay: { hours: 72, vetoGroup: "security" },
    },
    {
      id: "rotations",
      description: "Rotations wait three days for security",
      match: { kinds: ["key.rotate"], keyTags: ["rotating"] },
      require: [{ group: "treasury", approvals: 1 }],
      delay: { hours: 72, vetoGroup: "security" },
    },
  ],
} as unknown as PolicyDocument;

describe.each(testEngines())("cancelling waiting operations on %s", (engine) => {
  let database: TestDatabase;
  let admin: Person;
  let operator: Person;
  let treasurer: Person;
  /** In the veto group: the home page lists the waiting operation for them (listOperations' canVeto). */
  let guard: Person;
  const t0 = new Date("2027-04-05T08:00:00.000Z");
  let round = 0;

  beforeAll(async () => {
    database = await createTestDatabase(engine);
    admin = await firstAdmin(database.db, { now: t0 });
    operator = await invitedMember(database.db, admin.acting, { now: t0, roles: ["operator"] });
    treasurer = await invitedMember(database.db, admin.acting, {
      now: t0,
      roles: ["approver"],
      groups: ["treasury"],
    });
    guard = await invitedMember(database.db, admin.acting, {
      now: t0,
      roles: ["auditor"],
      groups: ["security"],
    });
    await updatePolicy(database.db, { actor: admin.acting, document: delayed, now: t0 });
  }, 60_000);
  afterAll(async () => {
    await database.drop();
  });

  async function approve(operationId: string, now: Date) {
    const decision = "approve" as const;
    const voter = treasurer.acting;
    const begun = await beginVote(database.db, config, { voter, operationId, decision, now });
    const response = treasurer.token.authenticate(begun.options);
    return completeVote(database.db, config, { voter, operationId, decision, response, now });
  }

  /** An operator's key.create under the delay, approved at t0: waiting until t0 + 72 h. */
  async function waitingOperation(): Promise<{ id: string; releaseAt: Date }> {
    const op = await proposeOperation(database.db, {
      actor: operator.acting,
      kind: "key.create",
      payload: { label: `delayed ${++round}`, curve: "secp256k1", tags: ["delayed"], exportable: "never" },
      now: t0,
    });
    expect((await approve(op.id, t0)).state).toBe("waiting");
    return { id: op.id, releaseAt: new Date(t0.getTime() + 72 * HOUR) };
  }

  async function opRow(id: string) {
    const [row] = await database.db.select().from(operations).where(eq(operations.id, id));
    if (!row) throw new Error(`no operation ${id}`);
    return row;
  }

  async function eventsOf(id: string, action: "operation.cancelled" | "operation.approved") {
    return database.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, action), eq(auditEvents.subject, `operation:${id}`)));
  }

  it("the initiator cancels their own waiting operation past its expiry; the release job then does nothing", async () => {
    const { id, releaseAt } = await waitingOperation();
    const during = new Date(t0.getTime() + 60 * HOUR);
    expect((await opRow(id)).expiresAt <= during).toBe(true);
    // The page offers Cancel to the initiator only.
    const view = (viewer: Person) =>
      getOperation(database.db, { viewer: viewer.acting, operationId: id, now: during });
    expect((await view(operator)).canCancel).toBe(true);
    expect((await view(treasurer)).canCancel).toBe(false);
    expect((await view(admin)).canCancel).toBe(false);
    const listed = await listOperations(database.db, {
      viewer: operator.acting,
      state: "waiting",
      limit: 50,
      now: during,
    });
    expect(listed.find((r) => r.id === id)?.canCancel).toBe(true);
    // What the home page lists as the guard's to veto now: waiting in the delay, in the veto group, not theirs.
    const vetoable = async (viewer: Person, now: Date) =>
      (await listOperations(database.db, { viewer: viewer.acting, state: "waiting", limit: 50, now })).find(
        (r) => r.id === id && r.canVeto,
      )?.release?.at;
    expect(await vetoable(guard, during)).toEqual(releaseAt);
    expect(await vetoable(operator, during)).toBeUndefined();
    expect(await vetoable(treasurer, during)).toBeUndefined();
    expect(await vetoable(guard, releaseAt)).toBeUndefined();
    // An admin cannot cancel another person's waiting operation either.
    await expect(
      cancelOperation(database.db, { actor: admin.acting, operationId: id, reason: "mine", now: during }),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });

    const done = await cancelOperation(database.db, { actor: operator.acting, operationId: id, now: during });
    expect(done).toMatchObject({
      state: "cancelled",
      decidedAt: during,
      result: { cancellation: { by: operator.acting.id } },
    });
    expect(await eventsOf(id, "operation.cancelled")).toHaveLength(1);
    expect((await view(operator)).canCancel).toBe(false);
    expect(await vetoable(guard, during)).toBeUndefined();

    // The release job at its time: it runs, finds the operation cancelled, and leaves it so.
    const release = defaultHandlers()[OPERATION_RELEASE_JOB];
    if (release === undefined) throw new Error("no release handler");
    let now = releaseAt;
    const scheduler = startScheduler({
      db: database.db,
      clock: () => now,
      intervalMs: HOUR,
      handlers: { [OPERATION_RELEASE_JOB]: release },
    });
    try {
      const report = await scheduler.tick();
      expect(report.ran).toEqual([{ kind: OPERATION_RELEASE_JOB, subject: `operation:${id}`, ok: true }]);
    } finally {
      await scheduler.stop();
    }
    now = new Date(releaseAt.getTime() + HOUR);
    expect(await releaseOperation(database.db, { operationId: id, now })).toBe("cancelled");
    expect(await releaseDue(database.db, now)).toBe(0);
    expect(await opRow(id)).toMatchObject({ state: "cancelled", decidedAt: during });
    expect(await eventsOf(id, "operation.approved")).toEqual([]);
    expect(await claimApproved(database.db, now, id)).toBeNull();
    expect((await verifyWholeChain(database.db)).problems).toEqual([]);
  });

  it("an admin cancels Keyward's waiting rotation only with a reason; once approved, nobody cancels", async () => {
    const [key] = await database.db
      .insert(keys)
      .values({
        label: `rotating ${++round}`,
        curve: "secp256k1",
        tags: ["rotating"],
        state: "active",
        hsmRef: randomBytes(16).toString("hex"),
        publicKey: `04${randomBytes(64).toString("hex")}`,
        exportable: "never",
        createdAt: new Date(t0.getTime() - 31 * 86_400_000),
      })
      .returning({ id: keys.id });
    const swept = await proposeDueRotations(database.db, t0);
    const id = swept.proposed.find((p) => p.keyId === key?.id)?.operationId;
    if (!id) throw new Error("the sweep proposed nothing for the key");
    expect((await approve(id, t0)).state).toBe("waiting");
    const during = new Date(t0.getTime() + HOUR);
    await expect(
      cancelOperation(database.db, { actor: admin.acting, operationId: id, now: during }),
    ).rejects.toMatchObject({ code: "BAD_INPUT" });
    await expect(
      cancelOperation(database.db, { actor: operator.acting, operationId: id, reason: "no", now: during }),
    ).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect((await opRow(id)).state).toBe("waiting");
    const done = await cancelOperation(database.db, {
      actor: admin.acting,
      operationId: id,
      reason: "rotated by hand",
      now: during,
    });
    expect(done.result).toEqual({ cancellation: { by: admin.acting.id, reason: "rotated by hand" } });
    expect((await eventsOf(id, "operation.cancelled"))[0]?.data).toMatchObject({ reason: "rotated by hand" });

    // Released (approved) at the end of the delay: no longer the initiator's to cancel.
    const other = await waitingOperation();
    expect(await releaseOperation(database.db, { operationId: other.id, now: other.releaseAt })).toBe(
      "approved",
    );
    await expect(
      cancelOperation(database.db, { actor: operator.acting, operationId: other.id, now: other.releaseAt }),
    ).rejects.toMatchObject({ code: "CONFLICT" });
    expect(await eventsOf(other.id, "operation.cancelled")).toEqual([]);
  });

  it.runIf(engine === "postgres")(
    "the initiator cancelling while the release job runs at the same instant on two pools: exactly one wins",
    async () => {
      const second = await openDatabase({ engine: "postgres", url: database.url ?? "" });
      const outcomes = { cancelled: 0, approved: 0 };
      try {
        for (let i = 0; i < 8; i++) {
          const { id, releaseAt } = await waitingOperation();
          const [cancel, release] = await Promise.allSettled([
            cancelOperation(database.db, { actor: operator.acting, operationId: id, now: releaseAt }),
            releaseOperation(second.db, { operationId: id, now: releaseAt }),
          ]);
          const state = (await opRow(id)).state;
          expect(["cancelled", "approved"]).toContain(state);
          outcomes[state as "cancelled" | "approved"]++;
          const cancelledEvents = await eventsOf(id, "operation.cancelled");
          const approvedEvents = await eventsOf(id, "operation.approved");
          expect(cancelledEvents.length + approvedEvents.length).toBe(1);
          // The release never throws: it finds the row cancelled, or approves it.
          expect(release).toEqual({ status: "fulfilled", value: state });
          if (state === "cancelled") {
            expect(cancel.status).toBe("fulfilled");
            expect(cancelledEvents).toHaveLength(1);
          } else {
            expect(cancel.status === "rejected" && cancel.reason).toMatchObject({ code: "CONFLICT" });
            expect(approvedEvents).toHaveLength(1);
          }
        }
        expect(outcomes.cancelled + outcomes.approved).toBe(8);
        expect((await verifyWholeChain(database.db)).problems).toEqual([]);
      } finally {
        await second.close();
      }
    },
    120_000,
  );
});
