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
import { firstAdmin, invitedMember, type Person } from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { cancelOperation } from "./cancel";
import { updatePolicy } from "./policy-store";
import { proposeOperation } from "./propose";
import { proposeDueRotations } from "./rotation-due";

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
