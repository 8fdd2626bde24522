// The key lifecycle kinds key.revoke, key.destroy and key.rotate, on PGlite and PostgreSQL, with keys made by
// real key.create operations on two SoftHSM tokens (the primary and a replica sharing the backup KEK, so a
// wrapped key lives on both) and real WebAuthn taps: every transition and the refused ones; a destruction
// scheduled by the quorum and run by the scheduler at its instant (test clock), gone from every token; a token
// not reached keeps the key deactivated and the job retrying; cancellation by one tap (and its refusals, and
// the race with the job on PostgreSQL); a rotation's successor made once after a lost HSM answer; due rotations
// proposed by Keyward itself, exactly once even from two processes at once (PostgreSQL).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { and, eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { openDatabase } from "@/db/client";
import { auditEvents, jobs, keys, operations } from "@/db/schema";
import { verifyWholeChain } from "@/server/audit/verify";
import { AppError } from "@/server/errors";
import { closeHsm, closeServerTokenSet, HsmError, TokenSetError } from "@/server/hsm";
import * as signerFacade from "@/server/hsm/signer";
import type { TestToken } from "@/server/hsm/testing/test-token";
import { createReplicatedTestTokens, destroyOnToken } from "@/server/hsm/testing/replicated-tokens";
import { asUser } from "@/server/hsm/testing/test-tokens";
import { DEFAULT_POLICY } from "@/server/policy/document";
import {
  TEST_WEBAUTHN_CONFIG as config,
  firstAdmin,
  invitedMember,
  type Person,
} from "@/server/testing/identity-fixtures";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { operationDigest } from "./digest";
import { runExecutorRound } from "./executor/run";
import type { OperationSigner } from "./executor/types";
import { KeyNotActiveError, requireActiveKey } from "./key-guard";
import {
  beginCancelDestruction,
  CancelDestructionRefusedError,
  cancelDestruction,
  type KeyDestroyer,
} from "./key-destruction";
import { updatePolicy } from "./policy-store";
import { proposeOperation } from "./propose";
import { getOperation } from "./read";
import { beginSuspendKey, suspendKey } from "./restrict";
import { proposeDueRotations } from "./rotation-due";
import { defaultHandlers } from "./scheduler/handlers";
import { startScheduler } from "./scheduler/scheduler";
import { approveInTurn } from "./testing/approve";

const DAY = 86_400_000;
let a: TestToken;
let b: TestToken;
let dataDir: string;

beforeAll(async () => {
  [a, b] = await createReplicatedTestTokens("kw-life");
  dataDir = mkdtempSync(path.join(tmpdir(), "keyward-lifecycle-"));
  vi.stubEnv("KEYWARD_DATA_DIR", dataDir);
  vi.stubEnv("AUTH_SECRET", "s".repeat(32));
  vi.stubEnv("SOFTHSM2_CONF", a.conf);
  vi.stubEnv(
    "KEYWARD_HSM_TOKENS",
    JSON.stringify([
      { label: a.label, pinEnv: "KW_LIFE_PIN_A" },
      { label: b.label, pinEnv: "KW_LIFE_PIN_B" },
    ]),
  );
  vi.stubEnv("KW_LIFE_PIN_A", a.pin);
  vi.stubEnv("KW_LIFE_PIN_B", b.pin);
  vi.stubEnv("KEYWARD_HSM_POOL_SIZE", "1");
}, 60_000);

afterAll(async () => {
  await closeServerTokenSet();
  closeHsm();
  vi.unstubAllEnvs();
  a.cleanup();
  rmSync(dataDir, { recursive: true, force: true });
});

/** PKCS#11 objects under a key reference on one token: 2 for a key pair, 0 once destroyed. */
function objectsOn(token: TestToken, ref: string): Promise<number> {
  const CKA_ID = 0x102;
  return asUser(token, false, (s) => s.find([{ type: CKA_ID, value: Buffer.from(ref, "hex") }]).length);
}

/** The code (and refusal reason) a call was refused with; fails the test if it was not refused. */
async function refusal(
  p: Promise<unknown>,
): Promise<{ code: string; reason: string | null; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CancelDestructionRefusedError)
      return { code: e.code, reason: e.reason, message: e.message };
    if (e instanceof AppError) return { code: e.code, reason: null, message: e.message };
    throw e;
  }
  throw new Error("expected a refusal");
}

/** The real facade, except that the first `lose` createKey calls lose their answer after the HSM acted. */
function losingSigner(lose: number): OperationSigner & { calls: () => number } {
  let calls = 0;
  return {
    calls: () => calls,
    findKey: signerFacade.findKey,
    operationKeyRef: signerFacade.operationKeyRef,
    createKey: async (options) => {
      calls++;
      const key = await signerFacade.createKey(options);
      if (calls <= lose)
        throw new HsmError("outcome-unknown", "the HSM's answer was lost (injected after the key was made)", {
          operation: "createKey",
        });
      return key;
    },
  };
}

/** The real destroyKey, except that the first `lose` calls lose the answer after the tokens destroyed the key. */
function losingDestroyer(lose: number): KeyDestroyer & { calls: () => number } {
  let calls = 0;
  return {
    calls: () => calls,
    destroyKey: async (ref) => {
      calls++;
      const done = await signerFacade.destroyKey(ref);
      if (calls <= lose)
        throw new HsmError("outcome-unknown", "the HSM's answer was lost (injected after the destroy)", {
          operation: "destroyKey",
        });
      return done;
    },
  };
}

/** The real destroyKey, except that the first `unreachable` calls find a token not reached (nothing done). */
function unreachableDestroyer(unreachable: number): KeyDestroyer & { calls: () => number } {
  let calls = 0;
  return {
    calls: () => calls,
    destroyKey: async (ref) => {
      calls++;
      if (calls <= unreachable)
        throw new TokenSetError(
          "device-failed",
          "kw-life-b could not be reached (injected)",
          [],
          "destroyKey",
        );
      return signerFacade.destroyKey(ref);
    },
  };
}

describe.each(testEngines())("key lifecycle on %s", (engine) => {
  let database: TestDatabase;
  let admin: Person;
  let operator: Person;
  let alice: Person;
  let bob: Person;
  let carol: Person;
  const t0 = new Date("2027-01-04T09:00:00.000Z");
  let now = t0;
  const clock = () => now;

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

  const approve = (operationId: string, voters: Person[] = [alice, bob]) =>
    approveInTurn(database.db, config, { operationId, voters, now });

  const noWait = { attempts: 3, backoffMs: 0, maxBackoffMs: 0 };
  async function executeAll(signer?: OperationSigner) {
    return runExecutorRound({ db: database.db, clock, signer, retry: noWait }, { concurrency: 2 });
  }

  function propose(kind: string, payload: unknown, who: Person = operator) {
    return proposeOperation(database.db, { actor: who.acting, kind, payload, now });
  }

  /** Proposed, approved by two, executed: the operation row after. */
  async function passed(kind: string, payload: unknown, signer?: OperationSigner) {
    const op = await propose(kind, payload);
    expect(await approve(op.id)).toBe("approved");
    await executeAll(signer);
    return opRow(op.id);
  }

  async function opRow(id: string) {
    const [row] = await database.db.select().from(operations).where(eq(operations.id, id));
    if (!row) throw new Error("no operation");
    return row;
  }

  /** A key made the real way, wrapped-exportable so it is cloned into the replica: on both tokens. */
  async function activeKey(label: string, tags: string[] = ["hot"]): Promise<string> {
    const op = await passed("key.create", { label, curve: "secp256k1", tags, exportable: "wrapped" });
    const [row] = await database.db.select().from(keys).where(eq(keys.operationId, op.id));
    expect(row?.state).toBe("active");
    return row?.id ?? "";
  }

  async function keyRow(keyId: string) {
    const [row] = await database.db.select().from(keys).where(eq(keys.id, keyId));
    if (!row) throw new Error("no key");
    return row;
  }

  async function keyEvents(keyId: string) {
    const rows = await database.db
      .select()
      .from(auditEvents)
      .where(eq(auditEvents.subject, `key:${keyId}`))
      .orderBy(auditEvents.seq);
    return rows;
  }

  async function suspend(keyId: string, who: Person = alice) {
    const begun = await beginSuspendKey(database.db, config, { actor: who.acting, keyId, now });
    await suspendKey(database.db, config, {
      actor: who.acting,
      keyId,
      response: who.token.authenticate(begun.options),
      now,
    });
  }

  async function cancel(keyId: string, who: Person = carol) {
    const begun = await beginCancelDestruction(database.db, config, { actor: who.acting, keyId, now });
    return cancelDestruction(database.db, config, {
      actor: who.acting,
      keyId,
      response: who.token.authenticate(begun.options),
      now,
    });
  }

  async function destroyJobs(keyId: string) {
    return database.db
      .select()
      .from(jobs)
      .where(and(eq(jobs.kind, "key.destroy"), eq(jobs.subject, `key:${keyId}`)));
  }

  async function chainIntact() {
    const report = await verifyWholeChain(database.db);
    expect(report.problems).toEqual([]);
  }

  describe("key.revoke", () => {
    it("moves an active key to compromised with key.revoked and its reason; it never signs again", async () => {
      const keyId = await activeKey("revoke me");
      const op = await passed("key.revoke", { keyId, reason: "seed phrase seen on a screenshot" });
      expect(op.state).toBe("executed");
      expect((await keyRow(keyId)).state).toBe("compromised");
      const revoked = (await keyEvents(keyId)).filter((e) => e.action === "key.revoked");
      expect(revoked.map((e) => e.data)).toEqual([
        { keyId, operationId: op.id, reason: "seed phrase seen on a screenshot", previousState: "active" },
      ]);
      await expect(requireActiveKey(database.db, keyId)).rejects.toBeInstanceOf(KeyNotActiveError);
      // Compromised is final: not revoked again, not resumed, not rotated.
      for (const kind of ["key.revoke", "key.resume", "key.rotate"]) {
        const payload = kind === "key.revoke" ? { keyId, reason: "again" } : { keyId };
        expect((await refusal(propose(kind, payload))).code).toBe("CONFLICT");
      }
      await chainIntact();
    });

    it("revokes a suspended key and a deactivated (rotated) one", async () => {
      const suspended = await activeKey("suspended then revoked");
      await suspend(suspended);
      await passed("key.revoke", { keyId: suspended, reason: "token stolen" });
      expect((await keyRow(suspended)).state).toBe("compromised");

      const rotated = await activeKey("rotated then revoked");
      await passed("key.rotate", { keyId: rotated });
      expect((await keyRow(rotated)).state).toBe("deactivated");
      await passed("key.revoke", { keyId: rotated, reason: "backup tape lost" });
      expect((await keyRow(rotated)).state).toBe("compromised");
    });

    it("needs a reason, refused with the field named and nothing written", async () => {
      const keyId = await activeKey("no reason given");
      const before = await database.db.select().from(operations);
      for (const reason of [undefined, "", "   ", "line\nbreak"]) {
        const refused = await refusal(propose("key.revoke", { keyId, reason }));
        expect(refused.code).toBe("BAD_INPUT");
        expect(refused.message).toContain("payload.reason");
      }
      expect(await database.db.select().from(operations)).toHaveLength(before.length);
    });

    it("counts an already compromised key as done: two approved revocations write one key.revoked", async () => {
      const keyId = await activeKey("revoked twice at once");
      const first = await propose("key.revoke", { keyId, reason: "first report" });
      const second = await propose("key.revoke", { keyId, reason: "second report" });
      await approve(first.id);
      await approve(second.id);
      await executeAll();
      expect((await opRow(first.id)).state).toBe("executed");
      expect((await opRow(second.id)).state).toBe("executed");
      expect((await keyEvents(keyId)).filter((e) => e.action === "key.revoked")).toHaveLength(1);
    });
  });

  describe("key.destroy", () => {
    it("refuses a waiting period outside 7 to 30 days (7 by default), naming the field", async () => {
      const keyId = await activeKey("waiting period");
      for (const waitingDays of [6, 31, 7.5, "7"]) {
        const refused = await refusal(propose("key.destroy", { keyId, waitingDays }));
        expect(refused.code).toBe("BAD_INPUT");
        expect(refused.message).toContain("payload.waitingDays");
      }
      const op = await propose("key.destroy", { keyId });
      expect(op.payload).toMatchObject({ keyId, waitingDays: 7, label: "waiting period" });
    });

    it("schedules the destruction; the scheduler destroys the key on every token at its instant, not before", async () => {
      const keyId = await activeKey("destroy me");
      const { hsmRef } = await keyRow(keyId);
      expect([await objectsOn(a, hsmRef), await objectsOn(b, hsmRef)]).toEqual([2, 2]);
      const op = await passed("key.destroy", { keyId, waitingDays: 10 });
      expect(op.state).toBe("executed");
      const destroyAfter = new Date((op.executedAt ?? now).getTime() + 10 * DAY);
      const scheduled = await keyRow(keyId);
      expect(scheduled).toMatchObject({ state: "deactivated", destroyAfter });
      await expect(requireActiveKey(database.db, keyId)).rejects.toBeInstanceOf(KeyNotActiveError);
      const [job] = await destroyJobs(keyId);
      expect(job).toMatchObject({ state: "waiting", runAt: destroyAfter, attempts: 0 });
      const events = await keyEvents(keyId);
      expect(events.map((e) => e.action)).toContain("key.destruction_scheduled");

      // Destroying twice: a second key.destroy (the key is deactivated, so it can be proposed) fails.
      const again = await passed("key.destroy", { keyId, waitingDays: 7 });
      expect(again.state).toBe("failed");
      expect(again.failure).toContain("already scheduled");
      expect(await destroyJobs(keyId)).toHaveLength(1);

      const scheduler = startScheduler({
        db: database.db,
        clock,
        intervalMs: 3_600_000,
        handlers: defaultHandlers({ retry: noWait }),
      });
      try {
        now = new Date(destroyAfter.getTime() - 1);
        const early = await scheduler.tick();
        expect(early.ran.filter((r) => r.kind === "key.destroy")).toEqual([]);
        expect((await keyRow(keyId)).state).toBe("deactivated");
        expect(await signerFacade.findKey(hsmRef)).not.toBeNull();

        now = destroyAfter;
        const due = await scheduler.tick();
        expect(due.ran.filter((r) => r.kind === "key.destroy")).toEqual([
          { kind: "key.destroy", subject: `key:${keyId}`, ok: true },
        ]);
      } finally {
        await scheduler.stop();
        now = t0;
      }
      expect(await keyRow(keyId)).toMatchObject({ state: "destroyed", destroyAfter: null });
      expect(await signerFacade.findKey(hsmRef)).toBeNull();
      expect([await objectsOn(a, hsmRef), await objectsOn(b, hsmRef)]).toEqual([0, 0]);
      const destroyed = (await keyEvents(keyId)).filter((e) => e.action === "key.destroyed");
      expect(destroyed.map((e) => e.data)).toEqual([
        {
          keyId,
          operationId: op.id,
          hsmRef,
          destroyed: [a.label, b.label],
          absent: [],
          previousState: "deactivated",
        },
      ]);
      expect((await destroyJobs(keyId))[0]?.state).toBe("done");

      // A destroyed key is final: nothing can be proposed for it.
      for (const [kind, payload] of [
        ["key.destroy", { keyId }],
        ["key.revoke", { keyId, reason: "too late" }],
        ["key.rotate", { keyId }],
        ["key.resume", { keyId }],
      ] as const) {
        expect((await refusal(propose(kind, payload))).code).toBe("CONFLICT");
      }
      await chainIntact();
    });

    it("fails a revocation approved before the key was destroyed", async () => {
      const keyId = await activeKey("revoked too late");
      const destroy = await passed("key.destroy", { keyId });
      const revoke = await propose("key.revoke", { keyId, reason: "late report" });
      expect(await approve(revoke.id)).toBe("approved");
      const scheduler = startScheduler({ db: database.db, clock, intervalMs: 3_600_000 });
      try {
        now = new Date((destroy.executedAt ?? t0).getTime() + 7 * DAY);
        await scheduler.tick();
      } finally {
        await scheduler.stop();
      }
      expect((await keyRow(keyId)).state).toBe("destroyed");
      await executeAll();
      now = t0;
      const row = await opRow(revoke.id);
      expect(row.state).toBe("failed");
      expect(row.failure).toContain("destroyed");
    });

    it("keeps the key deactivated and retries while a token is not reached; a key already gone counts as done", async () => {
      const keyId = await activeKey("token down");
      const { hsmRef } = await keyRow(keyId);
      const op = await passed("key.destroy", { keyId });
      const destroyer = unreachableDestroyer(1);
      const scheduler = startScheduler({
        db: database.db,
        clock,
        intervalMs: 3_600_000,
        handlers: defaultHandlers({ retry: noWait }, { destroyer }),
      });
      try {
        const due = new Date((op.executedAt ?? t0).getTime() + 7 * DAY);
        now = due;
        const first = await scheduler.tick();
        expect(first.ran.find((r) => r.kind === "key.destroy")).toMatchObject({ ok: false });
        expect((await keyRow(keyId)).state).toBe("deactivated");
        const [job] = await destroyJobs(keyId);
        expect(job).toMatchObject({ state: "waiting", attempts: 1 });
        expect(job?.lastError).toContain("could not be reached");
        expect(job?.runAt.getTime()).toBeGreaterThan(due.getTime());
        // Started once: no longer cancellable (some token may already have lost the key).
        expect((await refusal(cancel(keyId))).reason).toBe("already_started");

        // Meanwhile the key disappears from the primary by other means: that token counts as done.
        expect(await destroyOnToken(a, hsmRef)).toBe(true);
        now = job?.runAt ?? due;
        const second = await scheduler.tick();
        expect(second.ran.find((r) => r.kind === "key.destroy")).toMatchObject({ ok: true });
      } finally {
        await scheduler.stop();
        now = t0;
      }
      expect(destroyer.calls()).toBe(2);
      expect((await keyRow(keyId)).state).toBe("destroyed");
      const [destroyed] = (await keyEvents(keyId)).filter((e) => e.action === "key.destroyed");
      expect(destroyed?.data).toMatchObject({ destroyed: [b.label], absent: [a.label] });
      expect([await objectsOn(a, hsmRef), await objectsOn(b, hsmRef)]).toEqual([0, 0]);
    });
    it("repeats the job after a lost answer: the tokens report the key absent and it is recorded destroyed once", async () => {
      const keyId = await activeKey("answer lost on destroy");
      const { hsmRef } = await keyRow(keyId);
      const op = await passed("key.destroy", { keyId });
      const destroyer = losingDestroyer(1);
      const scheduler = startScheduler({
        db: database.db,
        clock,
        intervalMs: 3_600_000,
        handlers: defaultHandlers({ retry: noWait }, { destroyer }),
      });
      try {
        now = new Date((op.executedAt ?? t0).getTime() + 7 * DAY);
        expect((await scheduler.tick()).ran.find((r) => r.kind === "key.destroy")).toMatchObject({
          ok: false,
        });
        // Gone from the tokens already, but not recorded: the key is still deactivated, not destroyed.
        expect([await objectsOn(a, hsmRef), await objectsOn(b, hsmRef)]).toEqual([0, 0]);
        expect((await keyRow(keyId)).state).toBe("deactivated");
        const [job] = await destroyJobs(keyId);
        now = job?.runAt ?? now;
        expect((await scheduler.tick()).ran.find((r) => r.kind === "key.destroy")).toMatchObject({
          ok: true,
        });
      } finally {
        await scheduler.stop();
        now = t0;
      }
      expect((await keyRow(keyId)).state).toBe("destroyed");
      const destroyed = (await keyEvents(keyId)).filter((e) => e.action === "key.destroyed");
      expect(destroyed.map((e) => e.data)).toEqual([
        expect.objectContaining({ destroyed: [], absent: [a.label, b.label] }),
      ]);
    });
  });

  describe("cancelling a destruction (one tap)", () => {
    it("keeps the key, suspended, with the job removed and key.destruction_cancelled; resuming needs the quorum", async () => {
      const keyId = await activeKey("saved by a tap");
      const { hsmRef } = await keyRow(keyId);
      const op = await passed("key.destroy", { keyId, waitingDays: 30 });
      const done = await cancel(keyId, carol);
      expect(done.state).toBe("suspended");
      expect(await keyRow(keyId)).toMatchObject({ state: "suspended", destroyAfter: null });
      expect(await destroyJobs(keyId)).toEqual([]);
      const [cancelled] = (await keyEvents(keyId)).filter((e) => e.action === "key.destruction_cancelled");
      expect(cancelled?.actor).toBe(`member:${carol.acting.id}`);
      expect(cancelled?.data).toMatchObject({ keyId, memberId: carol.acting.id, operationId: op.id });
      expect(await signerFacade.findKey(hsmRef)).not.toBeNull();
      // Nothing to cancel any more.
      expect((await refusal(cancel(keyId))).reason).toBe("not_scheduled");
      // Back to signing only by key.resume's quorum.
      await passed("key.resume", { keyId });
      expect((await keyRow(keyId)).state).toBe("active");
    });

    it("returns a rotated key to deactivated (sweep only), and leaves a compromised key compromised", async () => {
      const rotated = await activeKey("rotated, destroy cancelled");
      await passed("key.rotate", { keyId: rotated });
      await passed("key.destroy", { keyId: rotated });
      expect((await cancel(rotated)).state).toBe("deactivated");

      const compromised = await activeKey("compromised, destroy cancelled");
      await passed("key.destroy", { keyId: compromised });
      await passed("key.revoke", { keyId: compromised, reason: "found on a laptop" });
      expect((await keyRow(compromised)).state).toBe("compromised");
      expect((await cancel(compromised)).state).toBe("compromised");
    });

    it("refuses an operator, a tap bound to another key, and a replay, writing only the refusal", async () => {
      const keyId = await activeKey("cancel refusals");
      const other = await activeKey("cancel refusals, other key");
      await passed("key.destroy", { keyId });
      await passed("key.destroy", { keyId: other });
      expect(
        (await refusal(beginCancelDestruction(database.db, config, { actor: operator.acting, keyId, now })))
          .reason,
      ).toBe("not_allowed");
      const forOther = await beginCancelDestruction(database.db, config, {
        actor: alice.acting,
        keyId: other,
        now,
      });
      const misbound = await refusal(
        cancelDestruction(database.db, config, {
          actor: alice.acting,
          keyId,
          response: alice.token.authenticate(forOther.options),
          now,
        }),
      );
      expect(misbound.reason).toBe("wrong_binding");
      const begun = await beginCancelDestruction(database.db, config, { actor: alice.acting, keyId, now });
      const response = alice.token.authenticate(begun.options);
      await cancelDestruction(database.db, config, { actor: alice.acting, keyId, response, now });
      expect(
        (await refusal(cancelDestruction(database.db, config, { actor: alice.acting, keyId, response, now })))
          .reason,
      ).toBe("challenge_invalid");
      expect((await keyRow(other)).destroyAfter).not.toBeNull();
      expect(await destroyJobs(other)).toHaveLength(1);
      const refused = await database.db
        .select()
        .from(auditEvents)
        .where(eq(auditEvents.action, "restriction.refused"));
      expect(refused.map((e) => (e.data as { reason: string }).reason)).toEqual(
        expect.arrayContaining(["not_allowed", "wrong_binding", "challenge_invalid"]),
      );
      await chainIntact();
    });

    it.runIf(engine === "postgres")(
      "either the cancellation or the job wins, never both, when they race (two pools)",
      async () => {
        const second = await openDatabase({ engine: "postgres", url: database.url ?? "" });
        try {
          const outcomes: string[] = [];
          const destroyHandler = defaultHandlers()["key.destroy"];
          if (destroyHandler === undefined) throw new Error("no key.destroy handler");
          // Other kinds' rows due in this database (left by earlier schedulers) are claimed once, out of the way.
          const aside = startScheduler({
            db: second.db,
            clock: () => new Date(t0.getTime() + 7 * DAY - 1),
            intervalMs: 3_600_000,
            handlers: {},
          });
          await aside.tick();
          await aside.stop();
          for (let round = 0; round < 12; round++) {
            const keyId = await activeKey(`race ${round}`);
            const { hsmRef } = await keyRow(keyId);
            const op = await passed("key.destroy", { keyId });
            const begun = await beginCancelDestruction(database.db, config, {
              actor: carol.acting,
              keyId,
              now,
            });
            const response = carol.token.authenticate(begun.options);
            const due = new Date((op.executedAt ?? t0).getTime() + 7 * DAY);
            // Only the destroy job, so the tick's first claim is it (other kinds' rows are pushed aside first).
            const scheduler = startScheduler({
              db: second.db,
              clock: () => due,
              intervalMs: 3_600_000,
              handlers: { "key.destroy": destroyHandler },
            });
            try {
              // The tick starts after a varying number of round trips on its own pool, so the two meet at
              // different points of the cancellation's transaction across rounds (no timers).
              const tickLater = async () => {
                for (let i = 0; i < round % 6; i++) await second.db.execute(sql`SELECT 1`);
                return scheduler.tick();
              };
              const [tick, cancelled] = await Promise.allSettled([
                tickLater(),
                cancelDestruction(database.db, config, { actor: carol.acting, keyId, response, now }),
              ]);
              expect(tick.status).toBe("fulfilled");
              const ran =
                tick.status === "fulfilled" ? tick.value.ran.filter((r) => r.subject === `key:${keyId}`) : [];
              const row = await keyRow(keyId);
              if (cancelled.status === "fulfilled") {
                outcomes.push("cancelled");
                expect(ran).toEqual([]);
                expect(row).toMatchObject({ state: "suspended", destroyAfter: null });
                expect(await signerFacade.findKey(hsmRef)).not.toBeNull();
                expect(await destroyJobs(keyId)).toEqual([]);
              } else {
                outcomes.push("destroyed");
                expect(cancelled.reason).toBeInstanceOf(CancelDestructionRefusedError);
                expect(ran).toEqual([{ kind: "key.destroy", subject: `key:${keyId}`, ok: true }]);
                expect(row).toMatchObject({ state: "destroyed", destroyAfter: null });
                expect(await signerFacade.findKey(hsmRef)).toBeNull();
              }
              const events = (await keyEvents(keyId)).map((e) => e.action);
              expect(
                events.filter((e) => e === "key.destroyed" || e === "key.destruction_cancelled"),
              ).toHaveLength(1);
            } finally {
              await scheduler.stop();
            }
          }
          console.log(`cancel vs job: ${outcomes.join(", ")}`);
          await chainIntact();
        } finally {
          await second.close();
        }
      },
      240_000,
    );
  });

  describe("key.rotate", () => {
    it("makes a successor with the same curve, tags and exportability once, after a lost HSM answer", async () => {
      const keyId = await activeKey("rotate me", ["hot", "btc"]);
      const signer = losingSigner(1);
      const op = await passed(
        "key.rotate",
        { keyId, successorLabel: "rotate me (rotated 2027-01-04)" },
        signer,
      );
      expect(op.state).toBe("executed");
      expect(signer.calls()).toBe(2);
      const old = await keyRow(keyId);
      expect(old.state).toBe("deactivated");
      const successors = await database.db.select().from(keys).where(eq(keys.predecessorId, keyId));
      expect(successors).toHaveLength(1);
      const [successor] = successors;
      expect(successor).toMatchObject({
        state: "active",
        operationId: op.id,
        label: "rotate me (rotated 2027-01-04)",
        curve: old.curve,
        tags: ["hot", "btc"],
        exportable: "wrapped",
        hsmRef: signerFacade.operationKeyRef(op.id),
      });
      expect(successor?.publicKey).not.toBe(old.publicKey);
      // One key pair under the operation's reference on each token, whatever the lost answer.
      const ref = signerFacade.operationKeyRef(op.id);
      expect([await objectsOn(a, ref), await objectsOn(b, ref)]).toEqual([2, 2]);
      const successorId = successor?.id ?? "";
      for (const subject of [keyId, successorId]) {
        const rotated = (await keyEvents(subject)).filter((e) => e.action === "key.rotated");
        expect(rotated).toHaveLength(1);
        expect(rotated[0]?.data).toMatchObject({
          keyId: successorId,
          predecessorId: keyId,
          operationId: op.id,
        });
      }
      await expect(requireActiveKey(database.db, keyId)).rejects.toBeInstanceOf(KeyNotActiveError);
      await expect(requireActiveKey(database.db, successorId)).resolves.toMatchObject({ id: successorId });
      // The old key is rotated once: no second successor.
      expect((await refusal(propose("key.rotate", { keyId }))).code).toBe("CONFLICT");
      await chainIntact();
    });

    it("refuses a suspended key, and fails a rotation whose key was suspended after approval", async () => {
      const keyId = await activeKey("suspended, not rotated");
      const op = await propose("key.rotate", { keyId });
      await approve(op.id);
      await suspend(keyId);
      expect((await refusal(propose("key.rotate", { keyId }))).code).toBe("CONFLICT");
      await executeAll();
      const row = await opRow(op.id);
      expect(row.state).toBe("failed");
      expect(row.failure).toContain("suspended");
      expect(await database.db.select().from(keys).where(eq(keys.predecessorId, keyId))).toEqual([]);
    });
  });

  it("stores no operation without an initiator, and none with both a member and the system", async () => {
    const [op] = await database.db.select().from(operations).limit(1);
    if (!op) throw new Error("no operation yet");
    const copy = { ...op, id: crypto.randomUUID(), digest: "0".repeat(64) };
    for (const initiator of [
      { initiatorId: null, systemInitiator: null },
      { initiatorId: operator.acting.id, systemInitiator: "rotation-due" as const },
    ]) {
      await expect(database.db.insert(operations).values({ ...copy, ...initiator })).rejects.toMatchObject({
        cause: expect.objectContaining({ message: expect.stringContaining("operations_one_initiator") }),
      });
    }
  });

  describe("due rotations", () => {
    it("are proposed by Keyward once a tag's period has passed, once, and still need the quorum", async () => {
      await updatePolicy(database.db, {
        actor: admin.acting,
        document: {
          ...DEFAULT_POLICY,
          rotation: [
            { tag: "hot", everyDays: 90 },
            { tag: "cold", everyDays: 365 },
          ],
        },
        now,
      });
      const created = now;
      const hot = await activeKey("hot wallet", ["hot", "cold"]);
      const untagged = await activeKey("no period", ["warm"]);
      // Keys made by earlier tests are older and due too; count only these two from here.
      const mine = (r: { proposed: { keyId: string; operationId: string }[] }) =>
        r.proposed.filter((p) => p.keyId === hot || p.keyId === untagged);

      now = new Date(created.getTime() + 90 * DAY - 1);
      expect(mine(await proposeDueRotations(database.db, now))).toEqual([]);
      now = new Date(created.getTime() + 90 * DAY);
      const swept = mine(await proposeDueRotations(database.db, now));
      expect(swept.map((p) => p.keyId)).toEqual([hot]);
      expect(mine(await proposeDueRotations(database.db, now))).toEqual([]);

      const op = await opRow(swept[0]?.operationId ?? "");
      expect(op).toMatchObject({
        kind: "key.rotate",
        state: "pending",
        initiatorId: null,
        systemInitiator: "rotation-due",
      });
      expect(op.digest).toBe(operationDigest(op));
      expect(op.payload).toMatchObject({
        keyId: hot,
        successorLabel: `hot wallet (rotated ${now.toISOString().slice(0, 10)})`,
      });
      const [proposed] = await database.db
        .select()
        .from(auditEvents)
        .where(
          and(eq(auditEvents.action, "operation.proposed"), eq(auditEvents.subject, `operation:${op.id}`)),
        );
      expect(proposed?.actor).toBe("system");
      expect(proposed?.data).toMatchObject({ systemInitiator: "rotation-due" });
      const view = await getOperation(database.db, { viewer: carol.acting, operationId: op.id, now });
      expect(view.initiator).toEqual({ id: null, name: "Keyward (rotation due)" });
      expect(view.canVote).toBe(true);
      expect(view.reasons).toEqual(["needs 2 more approvals from the approvers"]);

      // Still the quorum: one approval leaves it pending, the second approves it, then it executes.
      expect(await approve(op.id, [carol])).toBe("pending");
      expect(await approve(op.id, [alice])).toBe("approved");
      await executeAll();
      expect((await opRow(op.id)).state).toBe("executed");
      expect((await keyRow(hot)).state).toBe("deactivated");
      // The successor's period starts at its own creation.
      const [successor] = await database.db.select().from(keys).where(eq(keys.predecessorId, hot));
      expect(successor?.createdAt).toEqual(now);
      const later = mine(await proposeDueRotations(database.db, new Date(now.getTime() + 89 * DAY)));
      expect(later).toEqual([]);
      now = t0;
      await chainIntact();
    });

    it.runIf(engine === "postgres")(
      "two processes sweeping at once propose each due rotation exactly once",
      async () => {
        const second = await openDatabase({ engine: "postgres", url: database.url ?? "" });
        try {
          await updatePolicy(database.db, {
            actor: admin.acting,
            document: { ...DEFAULT_POLICY, rotation: [{ tag: "hot", everyDays: 90 }] },
            now,
          });
          const at = new Date(t0.getTime() + 400 * DAY);
          // Rotations left due by earlier tests are proposed first, so each round below sees only its own two keys.
          await proposeDueRotations(database.db, at);
          for (let round = 0; round < 5; round++) {
            // One after another: the same approvers' tokens vote on both (their counters must move in order).
            await activeKey(`due ${round}a`);
            await activeKey(`due ${round}b`);
            const sweeps = await Promise.all([
              proposeDueRotations(database.db, at),
              proposeDueRotations(second.db, at),
              proposeDueRotations(second.db, at),
            ]);
            const proposed = sweeps.flatMap((s) => s.proposed.map((p) => p.keyId));
            expect(proposed).toHaveLength(2);
            expect(new Set(proposed).size).toBe(proposed.length);
            const open = await database.db
              .select({ keyId: operations.payload })
              .from(operations)
              .where(and(eq(operations.kind, "key.rotate"), eq(operations.state, "pending")));
            const perKey = new Map<string, number>();
            for (const o of open) {
              const id = (o.keyId as { keyId: string }).keyId;
              perKey.set(id, (perKey.get(id) ?? 0) + 1);
            }
            expect([...perKey.values()].every((n) => n === 1)).toBe(true);
          }
        } finally {
          await second.close();
        }
      },
      240_000,
    );
  });
});
