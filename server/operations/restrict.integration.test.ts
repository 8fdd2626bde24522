// Restricting is immediate, loosening needs the quorum — on PGlite and PostgreSQL, with keys made by real
// key.create operations on a SoftHSM token and real WebAuthn taps from software authenticators:
// one tap by an admin or approver suspends an active key at once (audited, no operation); every refusal
// (key not active, a member without the role, a replayed, foreign or misbound tap, no user verification) writes
// nothing but its refusal; key.resume needs two approvals under the default policy, then the key is active;
// two people suspending one key at once make one suspension and one CONFLICT; signing paths refuse a key
// that is not active.
import { and, eq, inArray, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { openDatabase } from "@/db/client";
import { queryRows } from "@/db/rows";
import { auditEvents, keys, operations } from "@/db/schema";
import { verifyWholeChain } from "@/server/audit/verify";
import { AppError } from "@/server/errors";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { resumeKey } from "./executor/keys";
import { runExecutorRound } from "./executor/run";
import { useTokenForServer } from "./executor/testing/fixtures";
import { KeyNotActiveError, requireActiveKey } from "./key-guard";
import { proposeOperation } from "./propose";
import { beginSuspendKey, RestrictionRefusedError, suspendKey } from "./restrict";
import { approveInTurn } from "./testing/approve";

let token: TestToken;
let server: { close: () => Promise<void> };

beforeAll(() => {
  token = createTestToken("kw-restrict");
  server = useTokenForServer(token);
});

afterAll(async () => {
  await server.close();
  token.cleanup();
});

/** The code and reason a call was refused with (fails the test if it was not refused). */
async function refusal(p: Promise<unknown>): Promise<{ code: string; reason: string | null }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RestrictionRefusedError) return { code: e.code, reason: e.reason };
    if (e instanceof AppError) return { code: e.code, reason: null };
    throw e;
  }
  throw new Error("expected a refusal");
}

describe.each(testEngines())("restrictions on %s", (engine) => {
  let database: TestDatabase;
  let admin: Person;
  let operator: Person;
  let alice: Person;
  let bob: Person;
  let carol: Person;
  const now = new Date();

  beforeAll(async () => {
    database = await createTestDatabase(engine);
    admin = await firstAdmin(database.db, { now });
    operator = await invitedMember(database.db, admin.acting, { now, roles: ["operator"] });
    alice = await invitedMember(database.db, admin.acting, { now, roles: ["approver"] });
    bob = await invitedMember(database.db, admin.acting, { now, roles: ["approver"] });
    carol = await invitedMember(database.db, admin.acting, { now, roles: ["approver"] });
  }, 60_000);
  afterAll(async () => {
    await database.drop();
  });

  const approve = (operationId: string, voters: Person[]) =>
    approveInTurn(database.db, config, { operationId, voters, now });

  async function executeAll() {
    return runExecutorRound({ db: database.db, clock: () => now }, { concurrency: 2 });
  }

  /** A key made the real way: key.create proposed, approved by two, executed on the SoftHSM token. */
  async function activeKey(label: string, tags: string[] = ["hot"]): Promise<string> {
    const op = await proposeOperation(database.db, {
      actor: operator.acting,
      kind: "key.create",
      payload: { label, curve: "ed25519", tags, exportable: "never" },
      now,
    });
    expect(await approve(op.id, [alice, bob])).toBe("approved");
    await executeAll();
    const [row] = await database.db.select().from(keys).where(eq(keys.operationId, op.id));
    expect(row?.state).toBe("active");
    return row?.id ?? "";
  }

  async function keyRow(keyId: string) {
    const [row] = await database.db.select().from(keys).where(eq(keys.id, keyId));
    return row;
  }

  async function keyEvents(keyId: string) {
    return database.db
      .select({ action: auditEvents.action, actor: auditEvents.actor, data: auditEvents.data })
      .from(auditEvents)
      .where(eq(auditEvents.subject, `key:${keyId}`))
      .orderBy(auditEvents.seq);
  }

  async function suspendWithTap(who: Person, keyId: string) {
    const { options } = await beginSuspendKey(database.db, config, { actor: who.acting, keyId, now });
    const response = who.token.authenticate(options);
    return suspendKey(database.db, config, { actor: who.acting, keyId, response, now });
  }

  it("suspends an active key at once with one tap by an approver or an admin, audited, no quorum", async () => {
    for (const who of [alice, admin]) {
      const keyId = await activeKey(`suspend by ${who.acting.roles[0]}`);
      const operationsBefore = (await database.db.select({ id: operations.id }).from(operations)).length;
      const done = await suspendWithTap(who, keyId);
      expect(done).toEqual({ keyId, state: "suspended", credentialId: who.token.credentialId });
      expect((await keyRow(keyId))?.state).toBe("suspended");
      const events = await keyEvents(keyId);
      expect(events.map((e) => e.action)).toEqual(["key.created", "key.suspended"]);
      expect(events[1]).toEqual({
        action: "key.suspended",
        actor: `member:${who.acting.id}`,
        data: {
          keyId,
          memberId: who.acting.id,
          credentialId: who.token.credentialId,
          previousState: "active",
        },
      });
      // No operation record: the suspension is not a quorum decision.
      expect((await database.db.select({ id: operations.id }).from(operations)).length).toBe(
        operationsBefore,
      );
    }
    expect((await verifyWholeChain(database.db)).problems).toEqual([]);
  }, 60_000);

  it("refuses a key that is not active, a member without the role, and an unknown key", async () => {
    const keyId = await activeKey("refusals");
    await suspendWithTap(alice, keyId);
    // Already suspended: no tap is even asked for.
    expect(await refusal(beginSuspendKey(database.db, config, { actor: bob.acting, keyId, now }))).toEqual({
      code: "CONFLICT",
      reason: "key_not_active",
    });
    const other = await activeKey("operator cannot");
    expect(
      await refusal(beginSuspendKey(database.db, config, { actor: operator.acting, keyId: other, now })),
    ).toEqual({ code: "FORBIDDEN", reason: "not_allowed" });
    expect(
      await refusal(
        beginSuspendKey(database.db, config, {
          actor: alice.acting,
          keyId: "00000000-0000-4000-8000-000000000000",
          now,
        }),
      ),
    ).toEqual({ code: "NOT_FOUND", reason: "key_not_found" });
    expect((await keyRow(other))?.state).toBe("active");
    const refused = await keyEvents(other);
    expect(refused.map((e) => e.action)).toEqual(["key.created", "restriction.refused"]);
    expect(refused[1]?.data).toMatchObject({ memberId: operator.acting.id, reason: "not_allowed" });
  }, 60_000);

  it("refuses a tap asked while the key was active once someone else suspended it (CONFLICT, burned)", async () => {
    const keyId = await activeKey("late tap");
    const late = await beginSuspendKey(database.db, config, { actor: bob.acting, keyId, now });
    await suspendWithTap(alice, keyId);
    const response = bob.token.authenticate(late.options);
    expect(
      await refusal(suspendKey(database.db, config, { actor: bob.acting, keyId, response, now })),
    ).toEqual({ code: "CONFLICT", reason: "key_not_active" });
    expect((await keyEvents(keyId)).filter((e) => e.action === "key.suspended")).toHaveLength(1);
  }, 60_000);

  it("refuses a replayed tap, a foreign tap, a tap bound to another key or person, and no user verification", async () => {
    const first = await activeKey("replay");
    const { options } = await beginSuspendKey(database.db, config, {
      actor: alice.acting,
      keyId: first,
      now,
    });
    const response = alice.token.authenticate(options);
    await suspendKey(database.db, config, { actor: alice.acting, keyId: first, response, now });
    const target = await activeKey("target");
    // The same tap again, on this key or on another: its challenge was used once.
    expect(
      await refusal(suspendKey(database.db, config, { actor: alice.acting, keyId: first, response, now })),
    ).toEqual({ code: "EXPIRED", reason: "challenge_invalid" });
    expect(
      await refusal(suspendKey(database.db, config, { actor: alice.acting, keyId: target, response, now })),
    ).toEqual({ code: "EXPIRED", reason: "challenge_invalid" });

    // A tap asked for one key does not suspend another.
    const forFirst = await activeKey("bound elsewhere");
    const bound = await beginSuspendKey(database.db, config, { actor: alice.acting, keyId: forFirst, now });
    expect(
      await refusal(
        suspendKey(database.db, config, {
          actor: alice.acting,
          keyId: target,
          response: alice.token.authenticate(bound.options),
          now,
        }),
      ),
    ).toEqual({ code: "FORBIDDEN", reason: "wrong_binding" });

    // Alice's request answered by Bob's token (signed in as Alice): someone else's tap; then burned for Alice too.
    const asked = await beginSuspendKey(database.db, config, { actor: alice.acting, keyId: target, now });
    const foreign = bob.token.authenticate({ ...asked.options, allowCredentials: [] });
    expect(
      await refusal(
        suspendKey(database.db, config, { actor: alice.acting, keyId: target, response: foreign, now }),
      ),
    ).toEqual({ code: "FORBIDDEN", reason: "wrong_member" });
    expect(
      await refusal(
        suspendKey(database.db, config, {
          actor: alice.acting,
          keyId: target,
          response: alice.token.authenticate(asked.options),
          now,
        }),
      ),
    ).toEqual({ code: "EXPIRED", reason: "challenge_invalid" });

    // Bob's own session completing Alice's request with his own token: the request names Alice.
    const hers = await beginSuspendKey(database.db, config, { actor: alice.acting, keyId: target, now });
    expect(
      await refusal(
        suspendKey(database.db, config, {
          actor: bob.acting,
          keyId: target,
          response: bob.token.authenticate({ ...hers.options, allowCredentials: [] }),
          now,
        }),
      ),
    ).toEqual({ code: "FORBIDDEN", reason: "wrong_binding" });

    const noUv = await beginSuspendKey(database.db, config, { actor: carol.acting, keyId: target, now });
    expect(
      await refusal(
        suspendKey(database.db, config, {
          actor: carol.acting,
          keyId: target,
          response: carol.token.authenticate(noUv.options, { userVerified: false }),
          now,
        }),
      ),
    ).toEqual({ code: "UNAUTHENTICATED", reason: "user_verification_missing" });

    expect((await keyRow(target))?.state).toBe("active");
    const events = await keyEvents(target);
    expect(events.filter((e) => e.action === "key.suspended")).toHaveLength(0);
    expect(events.filter((e) => e.action === "restriction.refused")).toHaveLength(6);
    expect((await verifyWholeChain(database.db)).problems).toEqual([]);
  }, 60_000);

  it("resumes a suspended key only by the quorum: two approvals, then the executor makes it active", async () => {
    const keyId = await activeKey("resume me", ["cold", "treasury"]);
    // Resuming an active key is refused before anything is stored.
    expect(
      await refusal(
        proposeOperation(database.db, {
          actor: operator.acting,
          kind: "key.resume",
          payload: { keyId },
          now,
        }),
      ),
    ).toEqual({ code: "CONFLICT", reason: null });
    await suspendWithTap(carol, keyId);
    const op = await proposeOperation(database.db, {
      actor: operator.acting,
      kind: "key.resume",
      payload: { keyId, tags: ["forged"] },
      now,
    }).catch((e: unknown) => e);
    // The proposer names the key only; its label and tags come from the database.
    expect(op).toBeInstanceOf(AppError);
    expect(op).toMatchObject({ code: "BAD_INPUT" });
    const resume = await proposeOperation(database.db, {
      actor: operator.acting,
      kind: "key.resume",
      payload: { keyId },
      now,
    });
    expect(resume.payload).toEqual({ keyId, label: "resume me", tags: ["cold", "treasury"] });
    expect(resume.state).toBe("pending");
    expect(await approve(resume.id, [alice])).toBe("pending");
    await executeAll();
    expect((await keyRow(keyId))?.state).toBe("suspended");
    expect(await approve(resume.id, [bob])).toBe("approved");
    await executeAll();
    const [after] = await database.db.select().from(operations).where(eq(operations.id, resume.id));
    expect(after?.state).toBe("executed");
    expect((await keyRow(keyId))?.state).toBe("active");
    const events = await keyEvents(keyId);
    expect(events.map((e) => e.action)).toEqual(["key.created", "key.suspended", "key.resumed"]);
    expect(events[2]?.data).toEqual({ keyId, operationId: resume.id });
    expect((await verifyWholeChain(database.db)).problems).toEqual([]);
  }, 60_000);

  it("refuses a resume of an unknown key, and counts an already active key as resumed (once)", async () => {
    expect(
      await refusal(
        proposeOperation(database.db, {
          actor: operator.acting,
          kind: "key.resume",
          payload: { keyId: "00000000-0000-4000-8000-000000000000" },
          now,
        }),
      ),
    ).toEqual({ code: "NOT_FOUND", reason: null });
    const keyId = await activeKey("twice");
    await suspendWithTap(alice, keyId);
    const ops: string[] = [];
    for (let i = 0; i < 2; i++) {
      const op = await proposeOperation(database.db, {
        actor: operator.acting,
        kind: "key.resume",
        payload: { keyId },
        now,
      });
      expect(await approve(op.id, [bob, carol])).toBe("approved");
      ops.push(op.id);
    }
    await executeAll();
    const rows = await database.db.select().from(operations).where(inArray(operations.id, ops));
    expect(rows.map((r) => r.state)).toEqual(["executed", "executed"]);
    expect((await keyEvents(keyId)).filter((e) => e.action === "key.resumed")).toHaveLength(1);
    // The record step itself, repeated on an active key: done, nothing more written.
    expect(
      await database.db.transaction((tx) => resumeKey(tx, { keyId, operationId: ops[0] ?? "" }, now)),
    ).toBe("already-active");
    expect((await keyEvents(keyId)).filter((e) => e.action === "key.resumed")).toHaveLength(1);
  }, 60_000);

  it("fails a resume whose key can never be resumed (moved on to compromised)", async () => {
    const keyId = await activeKey("lost");
    await suspendWithTap(alice, keyId);
    const op = await proposeOperation(database.db, {
      actor: operator.acting,
      kind: "key.resume",
      payload: { keyId },
      now,
    });
    expect(await approve(op.id, [bob, carol])).toBe("approved");
    // No key.revoke kind exists yet: the state it will leave is set by hand.
    await database.db.update(keys).set({ state: "compromised" }).where(eq(keys.id, keyId));
    const [outcome] = (await executeAll()).filter((o) => o.operationId === op.id);
    expect(outcome).toMatchObject({ outcome: "failed" });
    expect((await keyRow(keyId))?.state).toBe("compromised");
  }, 60_000);

  it("lets a signing path use an active key only", async () => {
    const keyId = await activeKey("signs");
    expect((await requireActiveKey(database.db, keyId)).id).toBe(keyId);
    await suspendWithTap(bob, keyId);
    const refused = await requireActiveKey(database.db, keyId).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(KeyNotActiveError);
    expect(refused).toMatchObject({ code: "CONFLICT", state: "suspended" });
    const locked = await database.db
      .transaction((tx) => requireActiveKey(tx, keyId, { lock: true }))
      .catch((e: unknown) => e);
    expect(locked).toBeInstanceOf(KeyNotActiveError);
    expect(await refusal(requireActiveKey(database.db, "00000000-0000-4000-8000-000000000000"))).toEqual({
      code: "NOT_FOUND",
      reason: null,
    });
  }, 60_000);

  // A key.resume records its key row in the executor's completion while a suspension of that key may be
  // writing: both must take the key's row lock before the audit append lock, or each waits for the other
  // (a deadlock PostgreSQL breaks by aborting one). Shown by holding the key row and looking at the blocked
  // executor's locks: it waits for the key without holding the audit lock.
  it.runIf(engine === "postgres")(
    "the executor waits for a key row without holding the audit lock",
    async () => {
      const keyId = await activeKey("lock order");
      await suspendWithTap(alice, keyId);
      const op = await proposeOperation(database.db, {
        actor: operator.acting,
        kind: "key.resume",
        payload: { keyId },
        now,
      });
      expect(await approve(op.id, [bob, carol])).toBe("approved");
      const other = await openDatabase({ engine: "postgres", url: database.url ?? "" });
      try {
        let round: Promise<unknown> = Promise.resolve();
        await other.db.transaction(async (tx) => {
          await tx.select({ id: keys.id }).from(keys).where(eq(keys.id, keyId)).for("update");
          round = executeAll();
          // The executor's completion, blocked on the key row this transaction holds.
          let blocked: number | null = null;
          for (let i = 0; i < 10_000 && blocked === null; i++) {
            const rows = await queryRows(
              database.db,
              sql`SELECT pid FROM pg_stat_activity WHERE datname = current_database()
                AND wait_event_type = 'Lock' AND query ILIKE 'update "keys"%'`,
              z.object({ pid: z.number() }),
            );
            blocked = rows[0]?.pid ?? null;
            if (blocked === null) await new Promise((resolve) => setImmediate(resolve));
          }
          expect(blocked).not.toBeNull();
          const advisory = await queryRows(
            database.db,
            sql`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = ${blocked}`,
            z.object({ n: z.number() }),
          );
          expect(advisory).toEqual([{ n: 0 }]);
        });
        await round;
      } finally {
        await other.close();
      }
      expect((await keyRow(keyId))?.state).toBe("active");
    },
    60_000,
  );

  it("two people suspending one key at once: one suspension, the other CONFLICT (repeated)", async () => {
    const ROUNDS = engine === "postgres" ? 10 : 3;
    for (let round = 0; round < ROUNDS; round++) {
      const keyId = await activeKey(`race ${round}`);
      const taps = [];
      for (const who of [alice, bob]) {
        const { options } = await beginSuspendKey(database.db, config, { actor: who.acting, keyId, now });
        taps.push({ who, response: who.token.authenticate(options) });
      }
      const results = await Promise.all(
        taps.map(({ who, response }) =>
          suspendKey(database.db, config, { actor: who.acting, keyId, response, now }).then(
            () => "suspended",
            (e: unknown) => (e instanceof RestrictionRefusedError ? `${e.code}:${e.reason}` : String(e)),
          ),
        ),
      );
      expect(results.sort()).toEqual(["CONFLICT:key_not_active", "suspended"]);
      const suspended = await database.db
        .select({ seq: auditEvents.seq })
        .from(auditEvents)
        .where(and(eq(auditEvents.subject, `key:${keyId}`), eq(auditEvents.action, "key.suspended")));
      expect(suspended).toHaveLength(1);
    }
    expect((await verifyWholeChain(database.db)).problems).toEqual([]);
  }, 120_000);
});
