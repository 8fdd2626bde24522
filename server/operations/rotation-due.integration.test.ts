// The due-rotation sweep's back-off, on PGlite and PostgreSQL: a key.rotate for a key that ended rejected,
// expired or cancelled holds Keyward's next proposal for that key back ROTATION_BACKOFF_DAYS from that end
// (not one hourly sweep later); the key page's schedule says when the next proposal comes; sweeps racing on
// PostgreSQL propose at most once. The sweep touches no HSM, so the keys are rows as key.create leaves them.
import { randomBytes } from "node:crypto";
import { and, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "@/db/client";
import { keys, operations } from "@/db/schema";
import { verifyWholeChain } from "@/server/audit/verify";
import { DEFAULT_POLICY } from "@/server/policy/document";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { cancelOperation } from "./cancel";
import { expireDue } from "./expire";
import { updatePolicy } from "./policy-store";
import { proposeOperation } from "./propose";
import { proposeDueRotations, ROTATION_BACKOFF_DAYS, rotationScheduleOf } from "./rotation-due";
import { beginVote, completeVote } from "./vote";

const DAY = 86_400_000;
const HOUR = 3_600_000;
const BACKOFF = ROTATION_BACKOFF_DAYS * DAY;

describe.each(testEngines())("due rotations held back after a declined one on %s", (engine) => {
  let database: TestDatabase;
  let admin: Person;
  let operator: Person;
  let alice: Person;
  const t0 = new Date("2027-03-01T08:00:00.000Z");

  beforeAll(async () => {
    database = await createTestDatabase(engine);
    admin = await firstAdmin(database.db, { now: t0 });
    operator = await invitedMember(database.db, admin.acting, { now: t0, roles: ["operator"] });
    alice = await invitedMember(database.db, admin.acting, { now: t0, roles: ["approver"] });
    await updatePolicy(database.db, {
      actor: admin.acting,
      document: { ...DEFAULT_POLICY, rotation: [{ tag: "hot", everyDays: 30 }] },
      now: t0,
    });
  }, 60_000);
  afterAll(async () => {
    await database.drop();
  });

  /** An active key tagged hot, made at `createdAt`, as key.create records it. */
  async function activeKey(label: string, createdAt: Date = t0): Promise<string> {
    const [row] = await database.db
      .insert(keys)
      .values({
        label,
        curve: "secp256k1",
        tags: ["hot"],
        state: "active",
        hsmRef: randomBytes(16).toString("hex"),
        publicKey: `04${randomBytes(64).toString("hex")}`,
        exportable: "never",
        createdAt,
        stateChangedAt: createdAt,
      })
      .returning({ id: keys.id });
    return row?.id ?? "";
  }

  /** The operations the sweep proposed for `keyId` at `at`. */
  async function sweepFor(keyId: string, at: Date, db = database.db): Promise<string[]> {
    const swept = await proposeDueRotations(db, at);
    return swept.proposed.filter((p) => p.keyId === keyId).map((p) => p.operationId);
  }

  async function reject(operationId: string, now: Date) {
    const vote = { voter: alice.acting, operationId, decision: "reject" as const, now };
    const begun = await beginVote(database.db, config, vote);
    const done = await completeVote(database.db, config, {
      ...vote,
      response: alice.token.authenticate(begun.options),
    });
    expect(done.state).toBe("rejected");
  }

  /** The key.rotate operations naming `keyId`, whoever proposed them. */
  async function rotationsOf(keyId: string) {
    return database.db
      .select({ id: operations.id, state: operations.state })
      .from(operations)
      .where(and(eq(operations.kind, "key.rotate"), sql`${operations.payload}->>'keyId' = ${keyId}`));
  }

  it("after a rejection: nothing for the back-off, not one hour later; then proposed once again", async () => {
    const keyId = await activeKey("rejected rotation");
    const due = new Date(t0.getTime() + 30 * DAY);
    const [first] = await sweepFor(keyId, due);
    expect(first).toBeDefined();
    const rejectedAt = new Date(due.getTime() + 2 * HOUR);
    await reject(first ?? "", rejectedAt);

    // The key page: due, held back by the rejection, next proposal when the back-off ends.
    const held = await rotationScheduleOf(database.db, keyId, rejectedAt);
    expect(held).toMatchObject({
      everyDays: 30,
      dueAt: due,
      open: null,
      declined: { operationId: first, state: "rejected", decidedAt: rejectedAt },
      nextProposalAt: new Date(rejectedAt.getTime() + BACKOFF),
    });

    for (const at of [
      rejectedAt.getTime() + HOUR,
      rejectedAt.getTime() + 3 * DAY,
      rejectedAt.getTime() + BACKOFF - 1,
    ])
      expect(await sweepFor(keyId, new Date(at))).toEqual([]);
    const again = new Date(rejectedAt.getTime() + BACKOFF);
    const second = await sweepFor(keyId, again);
    expect(second).toHaveLength(1);
    expect(await sweepFor(keyId, new Date(again.getTime() + HOUR))).toEqual([]);
    expect((await rotationsOf(keyId)).map((r) => r.state).sort()).toEqual(["pending", "rejected"]);
    // While the new one is open the page says no further proposal is coming.
    expect(await rotationScheduleOf(database.db, keyId, again)).toMatchObject({
      open: { operationId: second[0], state: "pending" },
      declined: null,
      nextProposalAt: null,
    });
  });

  it("after an expiry: held back from the expiry, then proposed again", async () => {
    const keyId = await activeKey("expired rotation");
    const due = new Date(t0.getTime() + 30 * DAY);
    const [first] = await sweepFor(keyId, due);
    const [row] = await database.db
      .select()
      .from(operations)
      .where(eq(operations.id, first ?? ""));
    const expiredAt = row?.expiresAt ?? due;
    await expireDue(database.db, expiredAt);
    expect((await rotationsOf(keyId)).map((r) => r.state)).toEqual(["expired"]);
    expect(await sweepFor(keyId, new Date(expiredAt.getTime() + HOUR))).toEqual([]);
    expect((await rotationScheduleOf(database.db, keyId, expiredAt))?.nextProposalAt).toEqual(
      new Date(expiredAt.getTime() + BACKOFF),
    );
    expect(await sweepFor(keyId, new Date(expiredAt.getTime() + BACKOFF - 1))).toEqual([]);
    expect(await sweepFor(keyId, new Date(expiredAt.getTime() + BACKOFF))).toHaveLength(1);
  });

  it("after an admin cancelled Keyward's proposal, and after a person's rotation was rejected", async () => {
    const cancelled = await activeKey("cancelled rotation");
    const due = new Date(t0.getTime() + 30 * DAY);
    const [first] = await sweepFor(cancelled, due);
    await cancelOperation(database.db, {
      actor: admin.acting,
      operationId: first ?? "",
      reason: "rotating after the audit next week",
      now: due,
    });
    expect(await sweepFor(cancelled, new Date(due.getTime() + HOUR))).toEqual([]);
    expect(await sweepFor(cancelled, new Date(due.getTime() + BACKOFF))).toHaveLength(1);

    // The approvers' no is the same whoever asked: a person's rotation rejected holds Keyward back too.
    const byPerson = await activeKey("person's rotation rejected");
    const proposed = await proposeOperation(database.db, {
      actor: operator.acting,
      kind: "key.rotate",
      payload: { keyId: byPerson },
      now: due,
    });
    await reject(proposed.id, due);
    expect(await sweepFor(byPerson, new Date(due.getTime() + HOUR))).toEqual([]);
    expect(await sweepFor(byPerson, new Date(due.getTime() + BACKOFF))).toHaveLength(1);
  });

  it("the schedule: due date for a key not yet due, nothing for a key no period applies to", async () => {
    const young = await activeKey("young key", new Date(t0.getTime() + 10 * DAY));
    expect(await rotationScheduleOf(database.db, young, t0)).toEqual({
      everyDays: 30,
      dueAt: new Date(t0.getTime() + 40 * DAY),
      open: null,
      declined: null,
      nextProposalAt: new Date(t0.getTime() + 40 * DAY),
    });
    const [untagged] = await database.db
      .insert(keys)
      .values({
        label: "untagged",
        curve: "secp256k1",
        tags: ["cold"],
        state: "active",
        hsmRef: randomBytes(16).toString("hex"),
        publicKey: "04ab",
        exportable: "never",
      })
      .returning({ id: keys.id });
    expect(await rotationScheduleOf(database.db, untagged?.id ?? "", t0)).toBeNull();
    expect((await verifyWholeChain(database.db)).problems).toEqual([]);
  });

  it.runIf(engine === "postgres")(
    "sweeps racing on two pools propose each held-back rotation at most once, and none during the back-off",
    async () => {
      const second = await openDatabase({ engine: "postgres", url: database.url ?? "" });
      try {
        for (let round = 0; round < 5; round++) {
          const keyId = await activeKey(`raced ${round}`);
          const due = new Date(t0.getTime() + 30 * DAY);
          const [first] = await sweepFor(keyId, due);
          await reject(first ?? "", due);
          const race = (at: Date) =>
            Promise.all([
              sweepFor(keyId, at),
              sweepFor(keyId, at, second.db),
              sweepFor(keyId, at, second.db),
            ]).then((all) => all.flat());
          expect(await race(new Date(due.getTime() + HOUR))).toEqual([]);
          expect(await race(new Date(due.getTime() + BACKOFF))).toHaveLength(1);
          expect((await rotationsOf(keyId)).map((r) => r.state).sort()).toEqual(["pending", "rejected"]);
        }
      } finally {
        await second.close();
      }
    },
    120_000,
  );
});
