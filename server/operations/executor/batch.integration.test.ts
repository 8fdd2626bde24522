// key.create batches on PGlite and PostgreSQL with a real SoftHSM token behind the signer facade: every key
// recorded once with its key.created and progress reaching the total; an unknown HSM outcome mid-batch repeats
// the same chunk and makes no extra HSM object; all tries lost leaves the batch executing at its recorded
// progress and a take-back resumes it; a live batch's lease is renewed so nobody takes it over (PostgreSQL:
// two pools at once); kill -9 of a child process mid-batch, then recovery, ends with exactly `count` keys and
// an intact audit chain.
import { spawn } from "node:child_process";
import path from "node:path";
import { and, eq, inArray } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Db, openDatabase } from "@/db/client";
import { auditEvents, keys, operations } from "@/db/schema";
import { verifyWholeChain } from "@/server/audit/verify";
import { HsmError } from "@/server/hsm";
import * as signerFacade from "@/server/hsm/signer";
import { batchKeyRef } from "@/server/hsm/signer";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { asUser } from "@/server/hsm/testing/test-tokens";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { batchInProcess, executeBatch, keyBatchOfOperation } from "./batch";
import { claimApproved, claimStale, DEFAULT_LEASE } from "./claim";
import { executeClaimed } from "./execute";
import { recoverExecuting } from "./recover";
import { runExecutorRound } from "./run";
import { actionsOf, insertKeyCreates, seedInitiator, useTokenForServer } from "./testing/fixtures";
import type { OperationRow, OperationSigner } from "./types";

let token: TestToken;
let server: { dataDir: string; close: () => Promise<void> };

beforeAll(() => {
  token = createTestToken("kw-batch");
  server = useTokenForServer(token);
});

afterAll(async () => {
  await server.close();
  token.cleanup();
});

/**
 * PKCS#11 objects on the token by reference (CKA_ID), in one pass: a key pair is 2 (private and public). An object
 * whose CKA_ID cannot be read (CKR_ATTRIBUTE_VALUE_INVALID: SoftHSM writes a new object's attributes after
 * creating it, and a kill -9 between the two leaves one with none) names no reference, so it is not counted.
 */
function objectsByRef(): Promise<Map<string, number>> {
  const CKA_ID = 0x102;
  return asUser(token, false, (s) => {
    const counts = new Map<string, number>();
    for (const handle of s.find([])) {
      let id: Buffer | undefined;
      try {
        id = s.attributes(handle, [CKA_ID]).get(CKA_ID);
      } catch (e) {
        if (e instanceof HsmError && /CKR_ATTRIBUTE_VALUE_INVALID/.test(e.message)) continue;
        throw e;
      }
      if (id === undefined) continue;
      const ref = id.toString("hex");
      counts.set(ref, (counts.get(ref) ?? 0) + 1);
    }
    return counts;
  });
}

/** How many objects each of the batch's references names on the token (index → objects). */
async function objectsOfBatch(operationId: string, count: number): Promise<number[]> {
  const all = await objectsByRef();
  return Array.from({ length: count }, (_, i) => all.get(batchKeyRef(operationId, i)) ?? 0);
}

const noWait = { attempts: 3, backoffMs: 0, maxBackoffMs: 0 };

/**
 * A round or a recovery answers "running" for a batch at once (neither the scheduler's next tick nor start-up
 * may wait for one); this is how the batch then ended.
 */
async function ended(outcomes: readonly { operationId: string; outcome: string }[], id: string) {
  expect(outcomes).toEqual([{ operationId: id, outcome: "running" }]);
  return batchInProcess(id);
}

function batchPayload(count: number) {
  return () => ({
    label: "acct-{n}",
    curve: "secp256k1",
    tags: ["customer"],
    exportable: "never",
    batch: { count, first: 1 },
  });
}

/** The real facade, except that the calls numbered in `lose` (1-based) lose their answer after the HSM acted. */
function losingSigner(lose: (call: number) => boolean): OperationSigner & { calls: () => number } {
  let calls = 0;
  return {
    calls: () => calls,
    findKey: signerFacade.findKey,
    operationKeyRef: signerFacade.operationKeyRef,
    createKey: async (options) => {
      const call = ++calls;
      const key = await signerFacade.createKey(options);
      if (lose(call)) {
        throw new HsmError("outcome-unknown", "the HSM's answer was lost (injected after the key was made)", {
          operation: "createKey",
        });
      }
      return key;
    },
  };
}

async function expectBatchRecorded(db: Db, operationId: string, count: number) {
  const rows = await db.select().from(keys).where(eq(keys.operationId, operationId)).orderBy(keys.batchIndex);
  expect(rows.map((r) => r.batchIndex)).toEqual(Array.from({ length: count }, (_, i) => i));
  const width = String(count).length;
  expect(rows.map((r) => r.label)).toEqual(
    Array.from({ length: count }, (_, i) => `acct-${String(i + 1).padStart(width, "0")}`),
  );
  expect(rows.map((r) => r.hsmRef)).toEqual(
    Array.from({ length: count }, (_, i) => batchKeyRef(operationId, i)),
  );
  expect(new Set(rows.map((r) => r.state))).toEqual(new Set(["active"]));
  // One key.created per key, naming it.
  const created = await db
    .select({ subject: auditEvents.subject })
    .from(auditEvents)
    .where(
      and(
        eq(auditEvents.action, "key.created"),
        inArray(
          auditEvents.subject,
          rows.map((r) => `key:${r.id}`),
        ),
      ),
    );
  expect(created).toHaveLength(count);
  // Every key on the token once: its two halves, nothing more.
  expect(await objectsOfBatch(operationId, count)).toEqual(rows.map(() => 2));
  const [op] = await db.select().from(operations).where(eq(operations.id, operationId));
  expect(op?.state).toBe("executed");
  expect(op?.progress).toEqual({ done: count, total: count });
  expect(op?.result).toEqual({ keys: count, first: rows[0]?.label, last: rows.at(-1)?.label });
}

describe.each(testEngines())("key.create batch on %s", (engine) => {
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
    expect((await verifyWholeChain(database.db)).problems).toEqual([]);
  }

  it("executes 250 keys in chunks: each recorded once with key.created, progress reaching the total", {
    timeout: 300_000,
  }, async () => {
    const [id = ""] = await insertKeyCreates(database.db, seed, 1, { now: t0, payload: batchPayload(250) });
    const outcomes = await runExecutorRound({ db: database.db, clock, retry: noWait });
    expect(await ended(outcomes, id)).toEqual({ operationId: id, outcome: "executed" });
    await expectBatchRecorded(database.db, id, 250);
    expect(await actionsOf(database.db, id)).toEqual(["operation.executing", "operation.executed"]);
    // The unique index behind the fence: a second row for a batch index is refused.
    const again = {
      operationId: id,
      batchIndex: 7,
      label: "acct-008",
      curve: "secp256k1",
      state: "active" as const,
      hsmRef: "0".repeat(32),
      publicKey: "04",
      exportable: "never" as const,
    };
    await expect(database.db.insert(keys).values(again)).rejects.toThrow();
    await chainIntact();
  });

  it("repeats the same chunk after an unknown HSM outcome mid-batch: no extra HSM object", {
    timeout: 300_000,
  }, async () => {
    const [id = ""] = await insertKeyCreates(database.db, seed, 1, { now: t0, payload: batchPayload(130) });
    // Call 115 is in the second chunk (keys 100…129): its key is made, its answer lost.
    const signer = losingSigner((call) => call === 115);
    const outcomes = await runExecutorRound({ db: database.db, clock, retry: noWait, signer });
    expect(await ended(outcomes, id)).toEqual({ operationId: id, outcome: "executed" });
    // The second chunk ran again from its start (its first 15 keys found by reference), the first chunk once;
    // the call in flight beside the lost one may have finished too.
    expect(signer.calls()).toBeGreaterThanOrEqual(100 + 15 + 30);
    expect(signer.calls()).toBeLessThanOrEqual(100 + 16 + 30);
    await expectBatchRecorded(database.db, id, 130);
    expect(await actionsOf(database.db, id)).toEqual(["operation.executing", "operation.executed"]);
    await chainIntact();
  });

  it("stays executing at its recorded progress when every try is lost, and a take-back resumes it", {
    timeout: 300_000,
  }, async () => {
    const [id = ""] = await insertKeyCreates(database.db, seed, 1, { now: t0, payload: batchPayload(150) });
    const signer = losingSigner((call) => call > 100);
    const op = await claimApproved(database.db, t0, id);
    expect(op).not.toBeNull();
    const started = await executeClaimed(
      { db: database.db, clock, retry: noWait, signer },
      op as OperationRow,
    );
    expect((await ended([started], id))?.outcome).toBe("unresolved");
    const [left] = await database.db.select().from(operations).where(eq(operations.id, id));
    expect(left).toMatchObject({ state: "executing", progress: { done: 100, total: 150 } });
    expect(await database.db.select().from(keys).where(eq(keys.operationId, id))).toHaveLength(100);
    // Keys 100…149 are on the HSM, unrecorded; not taken back before the lease runs out.
    expect(await claimStale(database.db, new Date(t0.getTime() + 1000), DEFAULT_LEASE, [])).toBeNull();
    const later = new Date(t0.getTime() + DEFAULT_LEASE.ms);
    const outcomes = await recoverExecuting(
      { db: database.db, clock: () => later, retry: noWait },
      DEFAULT_LEASE,
    );
    expect(await ended(outcomes, id)).toEqual({ operationId: id, outcome: "executed" });
    await expectBatchRecorded(database.db, id, 150);
    expect(await actionsOf(database.db, id)).toEqual([
      "operation.executing",
      "operation.recovered",
      "operation.executed",
    ]);
    await chainIntact();
  });

  it("renews the claim's lease while the batch runs, so it is never taken back alive", {
    timeout: 300_000,
  }, async () => {
    const [id = ""] = await insertKeyCreates(database.db, seed, 1, { now: t0, payload: batchPayload(30) });
    // Each key takes 20 s of this clock: a chunk (10 keys) takes 200 s, past the 60 s lease, so only the
    // renewals between calls keep the claim; after each key a second server tries to take it back.
    let now = t0.getTime();
    const moving = () => new Date(now);
    const takenBack: string[] = [];
    const signer: OperationSigner = {
      ...signerFacade,
      createKey: async (options) => {
        now += 20_000;
        const stale = await claimStale(database.db, moving(), DEFAULT_LEASE, []);
        if (stale !== null) takenBack.push(stale.id);
        return signerFacade.createKey(options);
      },
    };
    const op = await claimApproved(database.db, moving(), id);
    const plan = op === null ? null : keyBatchOfOperation(op);
    if (op === null || plan === null) throw new Error("no batch claimed");
    const outcome = await executeBatch({ db: database.db, clock: moving, retry: noWait, signer }, op, plan, {
      chunk: 10,
      inFlight: 1,
      renewEveryMs: 5,
    });
    expect(takenBack).toEqual([]);
    expect(outcome).toEqual({ operationId: id, outcome: "executed" });
    await expectBatchRecorded(database.db, id, 30);
    await chainIntact();
  });

  it("completes a batch after kill -9 of its server mid-batch: exactly count keys, audit chain intact", {
    timeout: 300_000,
  }, async () => {
    const count = 150;
    const pg = engine === "postgres" ? await createTestDatabase("postgres") : null;
    const folder = `${server.dataDir}/batch-kill-pglite-${Date.now()}`;
    const closers: (() => Promise<void>)[] = [];
    const openHere = async () => {
      if (pg !== null) return pg.db;
      const here = await openDatabase({ engine: "pglite", folder });
      closers.push(here.close);
      return here.db;
    };
    const closeHere = async () => {
      for (const close of closers.splice(0)) await close();
    };
    try {
      let db = await openHere();
      const s = await seedInitiator(db, new Date());
      const [id = ""] = await insertKeyCreates(db, s, 1, { now: new Date(), payload: batchPayload(count) });
      await closeHere();
      const childEnv: Record<string, string> =
        pg?.url !== undefined ? { KW_CHILD_DATABASE_URL: pg.url } : { KW_CHILD_PGLITE: folder };
      // Killed a little after its first chunk was recorded: in the middle of making the second.
      const printed = await runBatchChildAndKill(childEnv, "progress 100", 300);
      expect(printed).toContain(`claimed ${id}`);
      expect(printed.some((l) => l.startsWith("executed"))).toBe(false);
      db = await openHere();
      const [left] = await db.select().from(operations).where(eq(operations.id, id));
      expect(left?.state).toBe("executing");
      const done = left?.progress?.done ?? 0;
      expect(done).toBeGreaterThanOrEqual(100);
      expect(done).toBeLessThan(count);
      // Whatever the child made past its progress stays unrecorded; one more is made here as a dead process
      // might have (found by reference, if it already exists): recovery must find them, never make a second.
      await signerFacade.createKey({
        curve: "secp256k1",
        label: "acct-x",
        exportable: "never",
        ref: batchKeyRef(id, done),
      });
      const later = () => new Date(Date.now() + DEFAULT_LEASE.ms);
      const lease = engine === "pglite" ? { ms: 0, maxMs: 0 } : DEFAULT_LEASE;
      const outcomes = await recoverExecuting({ db, clock: later }, lease);
      expect(await ended(outcomes, id)).toEqual({ operationId: id, outcome: "executed" });
      await expectBatchRecorded(db, id, count);
      expect(await actionsOf(db, id)).toEqual([
        "operation.executing",
        "operation.recovered",
        "operation.executed",
      ]);
      expect((await verifyWholeChain(db)).problems).toEqual([]);
    } finally {
      await closeHere();
      await pg?.drop();
    }
  });
});

describe.runIf(testEngines().includes("postgres"))("two servers on one PostgreSQL", () => {
  it("never both work the same batch", { timeout: 300_000 }, async () => {
    const a = await createTestDatabase("postgres");
    const b = await openDatabase({ engine: "postgres", url: a.url ?? "" });
    try {
      const seed = await seedInitiator(a.db, new Date());
      const [id = ""] = await insertKeyCreates(a.db, seed, 1, {
        now: new Date(),
        payload: batchPayload(120),
      });
      // Both servers claim at once: one wins. The winner runs the batch renewing its lease every 20 ms; the
      // other runs executor rounds meanwhile, truly concurrently, taking back any claim older than 500 ms.
      // A chunk (100 keys) takes seconds, so only the renewals keep the batch its first server's.
      const clock = () => new Date();
      const claims = await Promise.all([claimApproved(a.db, clock(), id), claimApproved(b.db, clock(), id)]);
      expect(claims.filter((c) => c !== null)).toHaveLength(1);
      const winner = claims[0] ?? claims[1];
      const plan = winner === null || winner === undefined ? null : keyBatchOfOperation(winner);
      if (winner === null || winner === undefined || plan === null)
        throw new Error("nobody claimed the batch");
      const [mine, other] = claims[0] === null ? [b.db, a.db] : [a.db, b.db];
      let stop = false;
      const seenByOther: string[] = [];
      const roundsOfOther = (async () => {
        while (!stop) {
          const round = await runExecutorRound(
            { db: other, clock, retry: noWait },
            { lease: { ms: 500, maxMs: 500 } },
          );
          seenByOther.push(...round.map((o) => o.outcome));
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      })();
      const outcome = await executeBatch({ db: mine, clock, retry: noWait }, winner, plan, {
        chunk: 100,
        inFlight: 2,
        renewEveryMs: 20,
      });
      stop = true;
      await roundsOfOther;
      expect(outcome).toEqual({ operationId: id, outcome: "executed" });
      expect(seenByOther).toEqual([]);
      expect(await actionsOf(a.db, id)).toEqual(["operation.executing", "operation.executed"]);
      await expectBatchRecorded(a.db, id, 120);
      expect((await verifyWholeChain(a.db)).problems).toEqual([]);
    } finally {
      await b.close();
      await a.drop();
    }
  });
});

const BATCH_CHILD = path.resolve("server/operations/executor/testing/batch-child.ts");

/** Runs batch-child.ts, kills it with SIGKILL `delayMs` after it printed a line starting with `at`. */
function runBatchChildAndKill(env: Record<string, string>, at: string, delayMs: number): Promise<string[]> {
  const child = spawn(process.execPath, ["--conditions=react-server", "--import", "tsx", BATCH_CHILD], {
    cwd: path.resolve("."),
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  let stderr = "";
  let killing = false;
  return new Promise((resolve, reject) => {
    let buffer = "";
    child.stdout.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("utf8");
      for (let i = buffer.indexOf("\n"); i >= 0; i = buffer.indexOf("\n")) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 1);
        lines.push(line);
        if (!killing && line.startsWith(at)) {
          killing = true;
          setTimeout(() => child.kill("SIGKILL"), delayMs);
        }
      }
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    child.on("exit", (code, signal) => {
      if (killing && signal === "SIGKILL") resolve(lines);
      else
        reject(
          new Error(`child ended by itself (code ${code}, signal ${signal}): ${lines.join(" | ")} ${stderr}`),
        );
    });
  });
}
