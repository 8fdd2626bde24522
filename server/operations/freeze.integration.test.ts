// Freeze all signing — on PGlite and PostgreSQL, with real WebAuthn taps from software authenticators and key.create
// operations executed on a SoftHSM token: one tap by an admin or approver freezes at once (audited, no operation);
// every refusal writes nothing but its refusal; while frozen the executor claims nothing but signing.unfreeze,
// approved operations stay approved, and the guard refuses signing; the quorum lifts the freeze and the held
// operations then run; two people freezing at once make one freeze; a claim or a recording transaction and a
// freeze being written are ordered by the freeze lock (PostgreSQL, truly concurrent).
import { eq, isNull, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { openDatabase } from "@/db/client";
import { queryRows } from "@/db/rows";
import { auditEvents, keys, operations, signingFreezes } from "@/db/schema";
import { verifyWholeChain } from "@/server/audit/verify";
import { AppError } from "@/server/errors";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { suspendMember } from "@/server/members/members";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { claimApproved } from "./executor/claim";
import { runExecutorRound } from "./executor/run";
import { useTokenForServer } from "./executor/testing/fixtures";
import {
  beginFreezeSigning,
  FreezeRefusedError,
  freezeInForce,
  freezeSigning,
  liftFreeze,
  lockFreezes,
  restrictionStatus,
} from "./freeze";
import { requireSigningAllowed, SigningFrozenError } from "./key-guard";
import { proposeOperation } from "./propose";
import { beginSuspendKey } from "./restrict";
import { approveInTurn } from "./testing/approve";

let token: TestToken;
let server: { close: () => Promise<void> };

beforeAll(() => {
  token = createTestToken("kw-freeze");
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
    if (e instanceof FreezeRefusedError) return { code: e.code, reason: e.reason };
    if (e instanceof AppError) return { code: e.code, reason: null };
    throw e;
  }
  throw new Error("expected a refusal");
}

describe.each(testEngines())("freezing all signing on %s", (engine) => {
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

  const executeAll = () => runExecutorRound({ db: database.db, clock: () => now }, { concurrency: 2 });

  async function stateOf(operationId: string) {
    const [row] = await database.db.select().from(operations).where(eq(operations.id, operationId));
    return row?.state;
  }

  /** A key.create proposed by the operator and approved by two: left approved, not executed. */
  async function approvedKeyCreate(label: string): Promise<string> {
    const op = await proposeOperation(database.db, {
      actor: operator.acting,
      kind: "key.create",
      payload: { label, curve: "ed25519", tags: ["hot"], exportable: "never" },
      now,
    });
    expect(await approve(op.id, [alice, bob])).toBe("approved");
    return op.id;
  }

  async function freezeWithTap(who: Person, reason: string | null = null) {
    const { options } = await beginFreezeSigning(database.db, config, { actor: who.acting, reason, now });
    const response = who.token.authenticate(options);
    return freezeSigning(database.db, config, { actor: who.acting, response, reason, now });
  }

  /** Lifts the freeze in force the only way there is: signing.unfreeze proposed, approved by two, executed. */
  async function liftByQuorum(): Promise<string> {
    const freeze = await freezeInForce(database.db);
    if (!freeze) throw new Error("nothing is frozen");
    const op = await proposeOperation(database.db, {
      actor: operator.acting,
      kind: "signing.unfreeze",
      payload: { freezeId: freeze.id },
      now,
    });
    expect(await approve(op.id, [carol, bob])).toBe("approved");
    await executeAll();
    expect(await stateOf(op.id)).toBe("executed");
    expect(await freezeInForce(database.db)).toBeNull();
    return op.id;
  }

  async function signingEvents() {
    return database.db
      .select({ action: auditEvents.action, actor: auditEvents.actor, data: auditEvents.data })
      .from(auditEvents)
      .where(eq(auditEvents.subject, "signing"))
      .orderBy(auditEvents.seq);
  }

  async function freezesInForce() {
    return database.db.select().from(signingFreezes).where(isNull(signingFreezes.liftedAt));
  }

  it("freezes at once with one tap by an approver or an admin, audited with who and which token, no operation", async () => {
    for (const who of [alice, admin]) {
      const operationsBefore = (await database.db.select({ id: operations.id }).from(operations)).length;
      const eventsBefore = (await signingEvents()).length;
      const done = await freezeWithTap(who, "card reader stolen");
      expect(done.credentialId).toBe(who.token.credentialId);
      const status = await restrictionStatus(database.db);
      expect(status.freeze).toMatchObject({
        id: done.freezeId,
        frozenBy: { id: who.acting.id },
        tokenId: who.token.credentialId,
        reason: "card reader stolen",
      });
      const events = (await signingEvents()).slice(eventsBefore);
      expect(events).toEqual([
        {
          action: "signing.frozen",
          actor: `member:${who.acting.id}`,
          data: {
            freezeId: done.freezeId,
            memberId: who.acting.id,
            credentialId: who.token.credentialId,
            reason: "card reader stolen",
          },
        },
      ]);
      // No operation record: the freeze is not a quorum decision.
      expect((await database.db.select({ id: operations.id }).from(operations)).length).toBe(
        operationsBefore,
      );
      await liftByQuorum();
    }
    expect((await verifyWholeChain(database.db)).problems).toEqual([]);
  }, 120_000);

  it("refuses a member without the role, a second freeze, and a tap asked before someone else froze", async () => {
    expect(
      await refusal(beginFreezeSigning(database.db, config, { actor: operator.acting, reason: null, now })),
    ).toEqual({
      code: "FORBIDDEN",
      reason: "not_allowed",
    });
    const late = await beginFreezeSigning(database.db, config, { actor: bob.acting, reason: null, now });
    await freezeWithTap(alice);
    // Already frozen: no tap is even asked for.
    expect(
      await refusal(beginFreezeSigning(database.db, config, { actor: carol.acting, reason: null, now })),
    ).toEqual({
      code: "CONFLICT",
      reason: "already_frozen",
    });
    const response = bob.token.authenticate(late.options);
    expect(
      await refusal(freezeSigning(database.db, config, { actor: bob.acting, response, reason: null, now })),
    ).toEqual({ code: "CONFLICT", reason: "already_frozen" });
    // The refused tap was burned: it cannot be sent again once the freeze is lifted.
    expect(await freezesInForce()).toHaveLength(1);
    await liftByQuorum();
    expect(
      await refusal(freezeSigning(database.db, config, { actor: bob.acting, response, reason: null, now })),
    ).toEqual({ code: "EXPIRED", reason: "challenge_invalid" });
    expect(await freezesInForce()).toHaveLength(0);
    const refused = (await signingEvents()).filter((e) => e.action === "restriction.refused");
    expect(refused.map((e) => e.data)).toEqual([
      {
        memberId: operator.acting.id,
        action: "signing.freeze",
        target: "all",
        reason: "not_allowed",
        credentialId: null,
      },
      {
        memberId: carol.acting.id,
        action: "signing.freeze",
        target: "all",
        reason: "already_frozen",
        credentialId: null,
      },
      {
        memberId: bob.acting.id,
        action: "signing.freeze",
        target: "all",
        reason: "already_frozen",
        credentialId: bob.token.credentialId,
      },
      {
        memberId: bob.acting.id,
        action: "signing.freeze",
        target: "all",
        reason: "challenge_invalid",
        credentialId: bob.token.credentialId,
      },
    ]);
  }, 120_000);

  it("refuses a replayed tap, a tap for a key suspension, someone else's request or token, and no user verification", async () => {
    const { options } = await beginFreezeSigning(database.db, config, {
      actor: alice.acting,
      reason: null,
      now,
    });
    const used = alice.token.authenticate(options);
    await freezeSigning(database.db, config, { actor: alice.acting, response: used, reason: null, now });
    await liftByQuorum();
    const before = (await database.db.select().from(signingFreezes)).length;

    // The same tap again: its challenge was used once.
    expect(
      await refusal(
        freezeSigning(database.db, config, { actor: alice.acting, response: used, reason: null, now }),
      ),
    ).toEqual({ code: "EXPIRED", reason: "challenge_invalid" });

    // A tap asked for suspending a key (same purpose, another action) does not freeze signing.
    const keyOp = await approvedKeyCreate("suspend tap");
    await executeAll();
    const [key] = await database.db.select().from(keys).where(eq(keys.operationId, keyOp));
    const suspend = await beginSuspendKey(database.db, config, {
      actor: alice.acting,
      keyId: key?.id ?? "",
      now,
    });
    expect(
      await refusal(
        freezeSigning(database.db, config, {
          actor: alice.acting,
          response: alice.token.authenticate(suspend.options),
          reason: null,
          now,
        }),
      ),
    ).toEqual({ code: "FORBIDDEN", reason: "wrong_binding" });

    // Alice's request answered by Bob's token (signed in as Alice), then her own tap on the burned request.
    const asked = await beginFreezeSigning(database.db, config, { actor: alice.acting, reason: null, now });
    const foreign = bob.token.authenticate({ ...asked.options, allowCredentials: [] });
    expect(
      await refusal(
        freezeSigning(database.db, config, { actor: alice.acting, response: foreign, reason: null, now }),
      ),
    ).toEqual({ code: "FORBIDDEN", reason: "wrong_member" });
    expect(
      await refusal(
        freezeSigning(database.db, config, {
          actor: alice.acting,
          response: alice.token.authenticate(asked.options),
          reason: null,
          now,
        }),
      ),
    ).toEqual({ code: "EXPIRED", reason: "challenge_invalid" });

    // The tap confirmed one reason: completing it with another text is refused (the request is then burned).
    const worded = await beginFreezeSigning(database.db, config, {
      actor: alice.acting,
      reason: "drill",
      now,
    });
    expect(
      await refusal(
        freezeSigning(database.db, config, {
          actor: alice.acting,
          response: alice.token.authenticate(worded.options),
          reason: "all keys stolen",
          now,
        }),
      ),
    ).toEqual({ code: "FORBIDDEN", reason: "wrong_binding" });

    // Bob's own session completing Alice's request with his own token: the request names Alice.
    const hers = await beginFreezeSigning(database.db, config, { actor: alice.acting, reason: null, now });
    expect(
      await refusal(
        freezeSigning(database.db, config, {
          actor: bob.acting,
          response: bob.token.authenticate({ ...hers.options, allowCredentials: [] }),
          reason: null,
          now,
        }),
      ),
    ).toEqual({ code: "FORBIDDEN", reason: "wrong_binding" });

    const noUv = await beginFreezeSigning(database.db, config, { actor: carol.acting, reason: null, now });
    expect(
      await refusal(
        freezeSigning(database.db, config, {
          actor: carol.acting,
          response: carol.token.authenticate(noUv.options, { userVerified: false }),
          reason: null,
          now,
        }),
      ),
    ).toEqual({ code: "UNAUTHENTICATED", reason: "user_verification_missing" });

    expect(await database.db.select().from(signingFreezes)).toHaveLength(before);
    expect((await verifyWholeChain(database.db)).problems).toEqual([]);
  }, 120_000);

  it("refuses a tap of a member suspended after asking for it", async () => {
    const dan = await invitedMember(database.db, admin.acting, { now, roles: ["approver"] });
    const { options } = await beginFreezeSigning(database.db, config, {
      actor: dan.acting,
      reason: null,
      now,
    });
    await suspendMember(database.db, { actor: admin.acting, memberId: dan.acting.id, now });
    expect(
      await refusal(
        freezeSigning(database.db, config, {
          actor: dan.acting,
          response: dan.token.authenticate(options),
          reason: null,
          now,
        }),
      ),
    ).toEqual({ code: "FORBIDDEN", reason: "not_allowed" });
    expect(await freezesInForce()).toHaveLength(0);
  }, 60_000);

  it("holds approved operations while frozen; the quorum lifts the freeze and the held operation then executes", async () => {
    const early = await approvedKeyCreate("approved before the freeze");
    const { freezeId } = await freezeWithTap(bob, "incident 42");
    const late = await approvedKeyCreate("approved during the freeze");
    expect(await executeAll()).toEqual([]);
    expect(await claimApproved(database.db, now, early)).toBeNull();
    expect([await stateOf(early), await stateOf(late)]).toEqual(["approved", "approved"]);
    expect(await database.db.select().from(keys).where(eq(keys.operationId, early))).toHaveLength(0);

    // Lifting needs the quorum; only admins and operators propose it, and only for the freeze in force.
    expect(
      await refusal(
        proposeOperation(database.db, {
          actor: alice.acting,
          kind: "signing.unfreeze",
          payload: { freezeId },
          now,
        }),
      ),
    ).toEqual({ code: "FORBIDDEN", reason: null });
    expect(
      await refusal(
        proposeOperation(database.db, {
          actor: operator.acting,
          kind: "signing.unfreeze",
          payload: { freezeId: "00000000-0000-4000-8000-000000000000" },
          now,
        }),
      ),
    ).toEqual({ code: "CONFLICT", reason: null });
    // The proposer names the freeze only; who froze it, when and why come from the database.
    expect(
      await refusal(
        proposeOperation(database.db, {
          actor: operator.acting,
          kind: "signing.unfreeze",
          payload: { freezeId, reason: "forged" },
          now,
        }),
      ),
    ).toEqual({ code: "BAD_INPUT", reason: null });
    const unfreeze = await proposeOperation(database.db, {
      actor: operator.acting,
      kind: "signing.unfreeze",
      payload: { freezeId },
      now,
    });
    const [bobRow] = await database.db.select().from(signingFreezes).where(eq(signingFreezes.id, freezeId));
    expect(unfreeze.payload).toEqual({
      freezeId,
      frozenAt: bobRow?.frozenAt.toISOString(),
      frozenBy: { id: bob.acting.id, name: expect.any(String) },
      reason: "incident 42",
    });
    expect(await approve(unfreeze.id, [alice])).toBe("pending");
    expect(await executeAll()).toEqual([]);
    expect((await freezeInForce(database.db))?.id).toBe(freezeId);
    expect(await approve(unfreeze.id, [carol])).toBe("approved");

    // One round: the unfreeze is claimed while frozen, then the held operations, oldest approval first.
    const outcomes = await executeAll();
    expect(outcomes.map((o) => [o.operationId, o.outcome])).toEqual(
      expect.arrayContaining([
        [unfreeze.id, "executed"],
        [early, "executed"],
        [late, "executed"],
      ]),
    );
    const [lifted] = await database.db.select().from(signingFreezes).where(eq(signingFreezes.id, freezeId));
    expect(lifted).toMatchObject({ liftedAt: now, liftedByOperation: unfreeze.id });
    const trail = await database.db
      .select({ seq: auditEvents.seq, action: auditEvents.action, subject: auditEvents.subject })
      .from(auditEvents)
      .orderBy(auditEvents.seq);
    const seqOf = (action: string, subject: string) =>
      trail.find((e) => e.action === action && e.subject === subject)?.seq ?? Number.NaN;
    const unfrozen = trail.filter((e) => e.action === "signing.unfrozen").at(-1)?.seq ?? Number.NaN;
    expect(seqOf("operation.executed", `operation:${unfreeze.id}`)).toBeGreaterThan(unfrozen);
    expect(seqOf("operation.executing", `operation:${early}`)).toBeGreaterThan(unfrozen);
    expect(seqOf("operation.executing", `operation:${late}`)).toBeGreaterThan(unfrozen);
    const [made] = await database.db.select().from(keys).where(eq(keys.operationId, late));
    expect(made?.state).toBe("active");
    expect((await verifyWholeChain(database.db)).problems).toEqual([]);
  }, 120_000);

  it("still revokes a key while frozen (revoking only takes signing away), and holds everything else", async () => {
    const made = await approvedKeyCreate("stolen while frozen");
    await executeAll();
    const [key] = await database.db.select().from(keys).where(eq(keys.operationId, made));
    if (!key) throw new Error("the key was not made");
    await freezeWithTap(alice, "token lost");
    const held = await approvedKeyCreate("held by the freeze");
    const revoke = await proposeOperation(database.db, {
      actor: operator.acting,
      kind: "key.revoke",
      payload: { keyId: key.id, reason: "its token was stolen" },
      now,
    });
    expect(await approve(revoke.id, [bob, carol])).toBe("approved");
    const outcomes = await executeAll();
    expect(outcomes.map((o) => [o.operationId, o.outcome])).toEqual([[revoke.id, "executed"]]);
    expect(await stateOf(held)).toBe("approved");
    const [after] = await database.db.select().from(keys).where(eq(keys.id, key.id));
    expect(after?.state).toBe("compromised");
    await liftByQuorum();
    await executeAll();
    expect(await stateOf(held)).toBe("executed");
  }, 120_000);

  it("counts a freeze already lifted as done: two unfreezes of one freeze, one signing.unfrozen", async () => {
    const { freezeId } = await freezeWithTap(carol);
    const ops: string[] = [];
    for (let i = 0; i < 2; i++) {
      const op = await proposeOperation(database.db, {
        actor: admin.acting,
        kind: "signing.unfreeze",
        payload: { freezeId },
        now,
      });
      expect(await approve(op.id, [alice, bob])).toBe("approved");
      ops.push(op.id);
    }
    await executeAll();
    expect([await stateOf(ops[0] ?? ""), await stateOf(ops[1] ?? "")]).toEqual(["executed", "executed"]);
    const unfrozen = (await signingEvents()).filter(
      (e) => e.action === "signing.unfrozen" && (e.data as { freezeId: string }).freezeId === freezeId,
    );
    expect(unfrozen).toHaveLength(1);
    expect(
      await database.db.transaction((tx) => liftFreeze(tx, { freezeId, operationId: ops[1] ?? "" }, now)),
    ).toBe("already-lifted");
    // Nothing is frozen: proposing a lift is refused before anything is stored.
    expect(
      await refusal(
        proposeOperation(database.db, {
          actor: operator.acting,
          kind: "signing.unfreeze",
          payload: { freezeId },
          now,
        }),
      ),
    ).toEqual({ code: "CONFLICT", reason: null });
  }, 120_000);

  it("the signing guard refuses while frozen, inside and outside the recording transaction", async () => {
    await requireSigningAllowed(database.db);
    await database.db.transaction((tx) => requireSigningAllowed(tx, { lock: true }));
    const { freezeId } = await freezeWithTap(alice);
    const outside = await requireSigningAllowed(database.db).catch((e: unknown) => e);
    expect(outside).toBeInstanceOf(SigningFrozenError);
    expect(outside).toMatchObject({ code: "CONFLICT", freezeId });
    const inside = await database.db
      .transaction((tx) => requireSigningAllowed(tx, { lock: true }))
      .catch((e: unknown) => e);
    expect(inside).toBeInstanceOf(SigningFrozenError);
    await liftByQuorum();
    await requireSigningAllowed(database.db);
  }, 120_000);

  it("two people freezing at once: one freeze, the other CONFLICT (repeated)", async () => {
    const ROUNDS = engine === "postgres" ? 8 : 2;
    for (let round = 0; round < ROUNDS; round++) {
      const taps = [];
      for (const who of [alice, bob, admin]) {
        const { options } = await beginFreezeSigning(database.db, config, {
          actor: who.acting,
          reason: `round ${round}`,
          now,
        });
        taps.push({ who, response: who.token.authenticate(options) });
      }
      const before = (await signingEvents()).filter((e) => e.action === "signing.frozen").length;
      const results = await Promise.all(
        taps.map(({ who, response }) =>
          freezeSigning(database.db, config, {
            actor: who.acting,
            response,
            reason: `round ${round}`,
            now,
          }).then(
            () => "frozen",
            (e: unknown) => (e instanceof FreezeRefusedError ? `${e.code}:${e.reason}` : String(e)),
          ),
        ),
      );
      expect(results.sort()).toEqual(["CONFLICT:already_frozen", "CONFLICT:already_frozen", "frozen"]);
      expect(await freezesInForce()).toHaveLength(1);
      expect((await signingEvents()).filter((e) => e.action === "signing.frozen")).toHaveLength(before + 1);
      await liftByQuorum();
    }
    expect((await verifyWholeChain(database.db)).problems).toEqual([]);
  }, 240_000);

  /** Waits until a backend of this database waits for an advisory lock; returns its pid. */
  async function waiterOnAdvisoryLock(): Promise<number> {
    for (let i = 0; i < 20_000; i++) {
      const rows = await queryRows(
        database.db,
        sql`SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
            WHERE a.datname = current_database() AND l.locktype = 'advisory' AND NOT l.granted`,
        z.object({ pid: z.number() }),
      );
      if (rows[0]) return rows[0].pid;
      await new Promise((resolve) => setImmediate(resolve));
    }
    throw new Error("nobody waited for the freeze lock");
  }

  // Without the shared freeze lock in claimApproved, the claim's statement would not see a freeze whose
  // transaction is still writing, and would claim the operation while the freeze commits beside it.
  it.runIf(engine === "postgres")(
    "a claim waits for a freeze being written, then sees it and claims nothing",
    async () => {
      const held = await approvedKeyCreate("claim meets a freeze in flight");
      const other = await openDatabase({ engine: "postgres", url: database.url ?? "" });
      try {
        let claim: Promise<unknown> = Promise.resolve();
        await other.db.transaction(async (tx) => {
          await lockFreezes(tx, "exclusive");
          await tx.insert(signingFreezes).values({
            frozenAt: now,
            frozenBy: alice.acting.id,
            tokenId: alice.token.credentialId,
            reason: "written by hand: the transaction under test",
          });
          claim = claimApproved(database.db, now, held);
          await waiterOnAdvisoryLock();
        });
        expect(await claim).toBeNull();
        expect(await stateOf(held)).toBe("approved");
      } finally {
        await other.close();
      }
      await liftByQuorum();
      expect(await stateOf(held)).toBe("executed");
    },
    120_000,
  );

  // The signing path's recording transaction (as the withdrawal kind will run it) takes the freeze lock shared:
  // a freeze committed between the claim and the recording is seen, and a freeze made while the recording
  // transaction runs waits for it (the signature was recorded before the freeze, which then holds what follows).
  it.runIf(engine === "postgres")(
    "a freeze between claim and completion is seen; one during the recording waits",
    async () => {
      const op = await approvedKeyCreate("signing path");
      const claimed = await claimApproved(database.db, now, op);
      expect(claimed?.id).toBe(op);
      await requireSigningAllowed(database.db); // before the HSM signs: not frozen yet
      await freezeWithTap(alice, "between claim and completion");
      const seen = await database.db
        .transaction((tx) => requireSigningAllowed(tx, { lock: true }))
        .catch((e: unknown) => e);
      expect(seen).toBeInstanceOf(SigningFrozenError);
      await liftByQuorum();

      const other = await openDatabase({ engine: "postgres", url: database.url ?? "" });
      try {
        let freezing: Promise<unknown> = Promise.resolve();
        const order: string[] = [];
        await other.db.transaction(async (tx) => {
          await requireSigningAllowed(tx, { lock: true });
          const { options } = await beginFreezeSigning(database.db, config, {
            actor: bob.acting,
            reason: null,
            now,
          });
          const response = bob.token.authenticate(options);
          freezing = freezeSigning(database.db, config, {
            actor: bob.acting,
            response,
            reason: null,
            now,
          }).then(() => {
            order.push("frozen");
          });
          await waiterOnAdvisoryLock();
          order.push("recorded");
        });
        await freezing;
        expect(order).toEqual(["recorded", "frozen"]);
      } finally {
        await other.close();
      }
      expect(await freezesInForce()).toHaveLength(1);
      await liftByQuorum();
    },
    120_000,
  );
});

describe("the one-in-force index", () => {
  it("refuses a second freeze in force even written by hand, and allows any number lifted", async () => {
    const database = await createTestDatabase("pglite");
    try {
      const now = new Date();
      const admin = await firstAdmin(database.db, { now });
      const row = { frozenAt: now, frozenBy: admin.acting.id, tokenId: admin.token.credentialId };
      await database.db.insert(signingFreezes).values({ ...row, liftedAt: now });
      await database.db.insert(signingFreezes).values({ ...row, liftedAt: now });
      await database.db.insert(signingFreezes).values(row);
      const second = await database.db
        .insert(signingFreezes)
        .values(row)
        .catch((e: unknown) => e);
      expect(second).toBeInstanceOf(Error);
      expect((second as { cause?: { code?: string } }).cause?.code).toBe("23505");
      expect(
        await database.db.select().from(signingFreezes).where(isNull(signingFreezes.liftedAt)),
      ).toHaveLength(1);
    } finally {
      await database.drop();
    }
  }, 60_000);
});
