// The executor on PGlite and PostgreSQL with a real SoftHSM token behind the server's signer facade: one claim
// wins, a lost HSM answer is resolved by repeating the same step (one key), a configuration error fails the
// operation with its reason, operations left executing are recovered, and two executors on two pools of one
// PostgreSQL execute each of 50 operations exactly once. Every run ends with an intact audit chain.
import { eq, inArray } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "@/db/client";
import { auditEvents, keys, operations } from "@/db/schema";
import { verifyWholeChain } from "@/server/audit/verify";
import { findKey, operationKeyRef } from "@/server/hsm/signer";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { asUser } from "@/server/hsm/testing/test-tokens";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { claimApproved, claimStale } from "./claim";
import { executeClaimed } from "./execute";
import { recoverExecuting } from "./recover";
import { runExecutorRound } from "./run";
import {
  actionsOf,
  faultySigner,
  insertKeyCreates,
  seedInitiator,
  useTokenForServer,
} from "./testing/fixtures";

let token: TestToken;
let server: { close: () => Promise<void> };

beforeAll(() => {
  token = createTestToken("kw-executor");
  server = useTokenForServer(token);
});

afterAll(async () => {
  await server.close();
  token.cleanup();
});

/** PKCS#11 objects under a key reference on the token: 2 for one key pair (private and public halves). */
function objectsWithRef(ref: string): Promise<number> {
  const CKA_ID = 0x102;
  return asUser(token, false, (s) => s.find([{ type: CKA_ID, value: Buffer.from(ref, "hex") }]).length);
}

const noWait = { attempts: 3, backoffMs: 0, maxBackoffMs: 0 };

describe.each(testEngines())("executor on %s", (engine) => {
  let database: TestDatabase;
  let seed: { memberId: string; policyVersion: number };
  const t0 = new Date("2026-12-01T12:00:00Z");
  const clock = () => t0;

  beforeAll(async () => {
    database = await createTestDatabase(engine);
    seed = await seedInitiator(database.db, t0);
  });
  afterAll(async () => {
    await database.drop();
  });

  async function chainIntact() {
    const report = await verifyWholeChain(database.db);
    expect(report.problems).toEqual([]);
  }

  it("claims an approved operation once, however many claim it at once", async () => {
    for (let round = 0; round < 20; round++) {
      const [id] = await insertKeyCreates(database.db, seed, 1, { now: t0 });
      const claims = await Promise.all(Array.from({ length: 6 }, () => claimApproved(database.db, t0, id)));
      const winners = claims.filter((c) => c !== null);
      expect(winners).toHaveLength(1);
      expect(winners[0]).toMatchObject({ id, state: "executing", attempts: 1, executingSince: t0 });
      expect(await actionsOf(database.db, id ?? "")).toEqual(["operation.executing"]);
    }
    // Left executing on purpose: the recovery test below finishes them.
    await chainIntact();
  });

  it("recovers every operation left executing at start-up by repeating its step", async () => {
    const left = await database.db
      .select({ id: operations.id })
      .from(operations)
      .where(eq(operations.state, "executing"));
    expect(left.length).toBeGreaterThan(0);
    // One of them had its key made before the process died: recovery must find it, not make a second.
    const first = left[0]?.id ?? "";
    const made = await faultySigner({}).createKey({
      curve: "secp256k1",
      label: "key 0",
      exportable: "never",
      ref: operationKeyRef(first),
    });
    const outcomes = await recoverExecuting({ db: database.db, clock, retry: noWait }, { ms: 0, maxMs: 0 });
    expect(outcomes.map((o) => o.outcome)).toEqual(left.map(() => "executed"));
    const [row] = await database.db.select().from(keys).where(eq(keys.operationId, first));
    expect(row?.publicKey).toBe(made.publicKey.toString("hex"));
    expect(await objectsWithRef(operationKeyRef(first))).toBe(2);
    expect(await actionsOf(database.db, first)).toEqual([
      "operation.executing",
      "operation.recovered",
      "operation.executed",
    ]);
    // Nothing is left to recover, and a second start-up does nothing.
    expect(await recoverExecuting({ db: database.db, clock, retry: noWait }, { ms: 0, maxMs: 0 })).toEqual(
      [],
    );
    await chainIntact();
  });

  it("resolves a lost HSM answer by repeating the same step: one key, one keys row, one executed event", async () => {
    const [id = ""] = await insertKeyCreates(database.db, seed, 1, { now: t0 });
    const signer = faultySigner({ lose: 2 });
    const op = await claimApproved(database.db, t0, id);
    if (op === null) throw new Error("not claimed");
    const outcome = await executeClaimed({ db: database.db, clock, signer, retry: noWait }, op);
    expect(outcome).toEqual({ operationId: id, outcome: "executed" });
    expect(signer.calls()).toBe(3);
    const ref = operationKeyRef(id);
    expect(await objectsWithRef(ref)).toBe(2);
    const rows = await database.db.select().from(keys).where(eq(keys.operationId, id));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ hsmRef: ref, state: "active", curve: "secp256k1", label: "key 0" });
    const onHsm = await findKey(ref);
    expect(onHsm?.publicKey.toString("hex")).toBe(rows[0]?.publicKey);
    const [stored] = await database.db.select().from(operations).where(eq(operations.id, id));
    expect(stored).toMatchObject({ state: "executed", executedAt: t0, attempts: 1 });
    expect(stored?.result).toMatchObject({ hsmRef: ref, publicKey: rows[0]?.publicKey });
    expect(await actionsOf(database.db, id)).toEqual(["operation.executing", "operation.executed"]);
    const created = await database.db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.subject, `key:${rows[0]?.id}`));
    expect(created.map((e) => e.action)).toEqual(["key.created"]);
    await chainIntact();
  });

  it("stays executing when every try is lost, and a later claim repeats the same step", async () => {
    const [id = ""] = await insertKeyCreates(database.db, seed, 1, { now: t0 });
    const op = await claimApproved(database.db, t0, id);
    if (op === null) throw new Error("not claimed");
    const lost = await executeClaimed(
      { db: database.db, clock, signer: faultySigner({ lose: 3 }), retry: noWait },
      op,
    );
    expect(lost).toMatchObject({ operationId: id, outcome: "unresolved" });
    const [still] = await database.db.select().from(operations).where(eq(operations.id, id));
    expect(still?.state).toBe("executing");
    // Within its lease nobody takes it back; after it, the claim moves on and the old one can no longer finish.
    const lease = { ms: 60_000, maxMs: 3_600_000 };
    expect(await claimStale(database.db, new Date(t0.getTime() + 59_000), lease)).toBeNull();
    const later = new Date(t0.getTime() + 60_000);
    const retaken = await claimStale(database.db, later, lease);
    expect(retaken).toMatchObject({ id, attempts: 2, executingSince: later });
    const late = await executeClaimed(
      { db: database.db, clock, signer: faultySigner({}), retry: noWait },
      op,
    );
    expect(late).toEqual({ operationId: id, outcome: "superseded" });
    if (retaken === null) throw new Error("not retaken");
    const done = await executeClaimed({ db: database.db, clock, retry: noWait }, retaken);
    expect(done).toEqual({ operationId: id, outcome: "executed" });
    expect(await objectsWithRef(operationKeyRef(id))).toBe(2);
    expect(await database.db.select().from(keys).where(eq(keys.operationId, id))).toHaveLength(1);
    expect(await actionsOf(database.db, id)).toEqual([
      "operation.executing",
      "operation.recovered",
      "operation.executed",
    ]);
    await chainIntact();
  });

  it("fails the operation with the reason of a configuration error, without repeating it", async () => {
    const [id = ""] = await insertKeyCreates(database.db, seed, 1, { now: t0 });
    const signer = faultySigner({ refuse: true });
    const op = await claimApproved(database.db, t0, id);
    if (op === null) throw new Error("not claimed");
    const outcome = await executeClaimed({ db: database.db, clock, signer, retry: noWait }, op);
    expect(outcome).toMatchObject({ operationId: id, outcome: "failed" });
    expect(signer.calls()).toBe(1);
    const [row] = await database.db.select().from(operations).where(eq(operations.id, id));
    expect(row?.state).toBe("failed");
    expect(row?.failure).toMatch(/^mechanism-unsupported: /);
    expect(await actionsOf(database.db, id)).toEqual(["operation.executing", "operation.failed"]);
    expect(await database.db.select().from(keys).where(eq(keys.operationId, id))).toHaveLength(0);
    await chainIntact();
  });

  it("keeps an operation executing while no HSM token can serve (set aside), and executes it once one can", async () => {
    const [id = ""] = await insertKeyCreates(database.db, seed, 1, { now: t0 });
    const op = await claimApproved(database.db, t0, id);
    if (op === null) throw new Error("not claimed");
    const signer = faultySigner({ unavailable: 3 });
    const outcome = await executeClaimed({ db: database.db, clock, signer, retry: noWait }, op);
    expect(outcome).toMatchObject({
      operationId: id,
      outcome: "unresolved",
      error: expect.stringMatching(/^misconfigured: /),
    });
    const [row] = await database.db.select().from(operations).where(eq(operations.id, id));
    expect(row).toMatchObject({ state: "executing", failure: null });
    // Fixed: the next claim (after the lease) goes through with the same step.
    const retaken = await claimStale(database.db, new Date(t0.getTime() + 60_000), {
      ms: 60_000,
      maxMs: 3_600_000,
    });
    if (retaken === null) throw new Error("not retaken");
    expect(await executeClaimed({ db: database.db, clock, signer, retry: noWait }, retaken)).toEqual({
      operationId: id,
      outcome: "executed",
    });
    expect(signer.calls()).toBe(4);
    await chainIntact();
  });

  it("fails an operation whose stored payload its kind refuses, naming the field", async () => {
    const [id = ""] = await insertKeyCreates(database.db, seed, 1, {
      now: t0,
      payload: () => ({ label: "x", curve: "rsa", tags: [], exportable: "never" }),
    });
    const op = await claimApproved(database.db, t0, id);
    if (op === null) throw new Error("not claimed");
    const outcome = await executeClaimed({ db: database.db, clock, retry: noWait }, op);
    expect(outcome).toMatchObject({
      outcome: "failed",
      reason: expect.stringMatching(/^invalid payload: curve /),
    });
    await chainIntact();
  });

  it("does not claim an operation that is not approved", async () => {
    const ids = await insertKeyCreates(database.db, seed, 1, { now: t0, state: "pending" });
    expect(await claimApproved(database.db, t0, ids[0])).toBeNull();
  });

  it("one round executes every approved operation, four at a time", async () => {
    const ids = await insertKeyCreates(database.db, seed, 12, { now: t0 });
    const outcomes = await runExecutorRound({ db: database.db, clock, retry: noWait }, { concurrency: 4 });
    expect(outcomes.filter((o) => ids.includes(o.operationId)).map((o) => o.outcome)).toEqual(
      ids.map(() => "executed"),
    );
    expect(await database.db.select().from(keys).where(inArray(keys.operationId, ids))).toHaveLength(12);
    expect(await runExecutorRound({ db: database.db, clock, retry: noWait })).toEqual([]);
    await chainIntact();
  });

  it.runIf(engine === "postgres")(
    "two executors on two pools of one PostgreSQL execute each of 50 operations exactly once",
    async () => {
      const ids = await insertKeyCreates(database.db, seed, 50, { now: t0 });
      const url = database.url ?? "";
      const second = await openDatabase({ engine: "postgres", url });
      try {
        const deps = (db: typeof database.db) => ({ db, clock, retry: noWait });
        const [a, b] = await Promise.all([
          runExecutorRound(deps(database.db), { concurrency: 4 }),
          runExecutorRound(deps(second.db), { concurrency: 4 }),
        ]);
        const executed = [...a, ...b].filter((o) => o.outcome === "executed").map((o) => o.operationId);
        expect(executed.sort()).toEqual([...ids].sort());
        // Both took part (each claimed some), and no operation was claimed twice.
        expect(a.length).toBeGreaterThan(0);
        expect(b.length).toBeGreaterThan(0);
        const rows = await database.db.select().from(operations).where(inArray(operations.id, ids));
        expect(rows.every((r) => r.state === "executed" && r.attempts === 1)).toBe(true);
        expect(await database.db.select().from(keys).where(inArray(keys.operationId, ids))).toHaveLength(50);
        const events = await database.db
          .select({ action: auditEvents.action })
          .from(auditEvents)
          .where(
            inArray(
              auditEvents.subject,
              ids.map((id) => `operation:${id}`),
            ),
          );
        expect(events.filter((e) => e.action === "operation.executing")).toHaveLength(50);
        expect(events.filter((e) => e.action === "operation.executed")).toHaveLength(50);
        for (const id of ids.slice(0, 5)) expect(await objectsWithRef(operationKeyRef(id))).toBe(2);
      } finally {
        await second.close();
      }
      await chainIntact();
    },
  );
});
