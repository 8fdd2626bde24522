// The scheduler on PGlite and PostgreSQL: the expiry sweep runs on time by the clock, the timer started by
// startScheduler runs it without a button, a due job is claimed by one caller however many race for it, a job
// whose process died is taken back when its lock runs out (and the old run can no longer finish it), failures
// are retried with back-off, and the execute sweep executes an approved operation on a real SoftHSM token.
import { and, eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobs, keys, operations } from "@/db/schema";
import { verifyWholeChain } from "@/server/audit/verify";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { createTestDatabase, type TestDatabase, testEngines } from "@/server/testing/test-db";
import { actionsOf, insertKeyCreates, seedInitiator, useTokenForServer } from "../executor/testing/fixtures";
import { defaultHandlers, type JobHandlers } from "./handlers";
import { claimDueJob, enqueueJob, finishJob, RECURRING, releaseExpiredLocks } from "./jobs";
import { startScheduler, type TickReport } from "./scheduler";

let token: TestToken;
let server: { close: () => Promise<void> };

beforeAll(() => {
  token = createTestToken("kw-scheduler");
  server = useTokenForServer(token);
});

afterAll(async () => {
  await server.close();
  token.cleanup();
});

const HOUR = 3_600_000;

describe.each(testEngines())("scheduler on %s", (engine) => {
  let database: TestDatabase;
  let seed: { memberId: string; policyVersion: number };
  const t0 = new Date("2026-12-01T12:00:00Z");
  const at = (ms: number) => new Date(t0.getTime() + ms);

  beforeAll(async () => {
    database = await createTestDatabase(engine);
    seed = await seedInitiator(database.db, t0);
  });
  afterAll(async () => {
    await database.drop();
  });

  it("expires a pending operation at the first tick after its deadline, not before", async () => {
    let now = t0;
    const [id = ""] = await insertKeyCreates(database.db, seed, 1, {
      now: t0,
      state: "pending",
      expiresAt: at(10_000),
    });
    const scheduler = startScheduler({ db: database.db, clock: () => now, intervalMs: HOUR });
    try {
      const first = await scheduler.tick();
      expect(first.ran.map((r) => r.kind).sort()).toEqual([
        "key.rotation-due",
        "operation.execute",
        "operation.expire",
        "operation.release-sweep",
        "withdrawal.track",
      ]);
      now = at(9_999);
      await scheduler.tick();
      expect((await database.db.select().from(operations).where(eq(operations.id, id)))[0]?.state).toBe(
        "pending",
      );
      now = at(10_000);
      const due = await scheduler.tick();
      expect(due.ran).toContainEqual({ kind: "operation.expire", subject: RECURRING, ok: true });
      expect((await database.db.select().from(operations).where(eq(operations.id, id)))[0]?.state).toBe(
        "expired",
      );
      expect(await actionsOf(database.db, id)).toEqual(["operation.expired"]);
      const [row] = await database.db
        .select()
        .from(jobs)
        .where(and(eq(jobs.kind, "operation.expire"), eq(jobs.subject, RECURRING)));
      // The sweep's row waits for its next slot on its one-second grid; a tick before then runs nothing.
      expect(row).toMatchObject({ state: "waiting", runAt: at(11_000), lockedUntil: null });
      expect((await scheduler.tick()).ran).toEqual([]);
      // One row per recurring kind, however many schedulers start.
      const other = startScheduler({ db: database.db, clock: () => now, intervalMs: HOUR });
      await other.tick();
      await other.stop();
      expect(await database.db.select().from(jobs).where(eq(jobs.subject, RECURRING))).toHaveLength(5);
    } finally {
      await scheduler.stop();
    }
    expect((await verifyWholeChain(database.db)).problems).toEqual([]);
  });

  it("the execute sweep executes an approved operation on the HSM", async () => {
    const [id = ""] = await insertKeyCreates(database.db, seed, 1, { now: t0 });
    let now = at(20_000);
    const scheduler = startScheduler({ db: database.db, clock: () => now, intervalMs: HOUR });
    try {
      const report = await scheduler.tick();
      expect(report.ran).toContainEqual({ kind: "operation.execute", subject: RECURRING, ok: true });
      expect((await database.db.select().from(operations).where(eq(operations.id, id)))[0]?.state).toBe(
        "executed",
      );
      expect(await database.db.select().from(keys).where(eq(keys.operationId, id))).toHaveLength(1);
      now = at(30_000);
    } finally {
      await scheduler.stop();
    }
  });

  it("gives a due job to one claimer however many claim it at once", async () => {
    for (let round = 0; round < 10; round++) {
      const job = await enqueueJob(database.db, {
        kind: "test.once",
        runAt: at(-1),
        subject: `s${round}`,
        now: t0,
      });
      const claims = await Promise.all(Array.from({ length: 6 }, () => claimDueJob(database.db, t0, 60_000)));
      const winners = claims.filter((c) => c !== null);
      expect(winners).toHaveLength(1);
      expect(winners[0]).toMatchObject({
        id: job.id,
        state: "running",
        attempts: 1,
        lockedUntil: at(60_000),
      });
      await finishJob(database.db, winners[0] ?? job, { ok: true, nextRunAt: null });
    }
    expect(await claimDueJob(database.db, t0, 60_000)).toBeNull();
  });

  it("takes back a job whose lock ran out; the old run can no longer finish it", async () => {
    const job = await enqueueJob(database.db, { kind: "test.once", runAt: t0, subject: "stale", now: t0 });
    const first = await claimDueJob(database.db, t0, 1000);
    expect(first?.id).toBe(job.id);
    expect(await releaseExpiredLocks(database.db, at(1000))).toBe(0);
    expect(await releaseExpiredLocks(database.db, at(1001))).toBe(1);
    const second = await claimDueJob(database.db, at(1001), 1000);
    expect(second).toMatchObject({ id: job.id, attempts: 2 });
    if (first === null || second === null) throw new Error("not claimed");
    expect(await finishJob(database.db, first, { ok: true, nextRunAt: null })).toBe(false);
    expect(await finishJob(database.db, second, { ok: true, nextRunAt: null })).toBe(true);
    expect((await database.db.select().from(jobs).where(eq(jobs.id, job.id)))[0]?.state).toBe("done");
  });

  it("retries a failing one-off job with back-off, fails it after its tries, and leaves unknown kinds waiting", async () => {
    let now = at(HOUR);
    let runs = 0;
    const handlers: JobHandlers = {
      "test.flaky": {
        maxAttempts: 2,
        run: async () => {
          runs++;
          throw new Error("still broken");
        },
      },
    };
    const failing = await enqueueJob(database.db, { kind: "test.flaky", runAt: now, subject: "f", now });
    const unknown = await enqueueJob(database.db, { kind: "test.unknown", runAt: now, subject: "u", now });
    const scheduler = startScheduler({ db: database.db, clock: () => now, intervalMs: HOUR, handlers });
    try {
      const first = await scheduler.tick();
      expect(first.ran).toContainEqual({
        kind: "test.flaky",
        subject: "f",
        ok: false,
        error: "still broken",
      });
      const [retry] = await database.db.select().from(jobs).where(eq(jobs.id, failing.id));
      expect(retry).toMatchObject({
        state: "waiting",
        runAt: new Date(now.getTime() + 2000),
        lastError: "still broken",
      });
      now = new Date(now.getTime() + 2000);
      await scheduler.tick();
      expect(runs).toBe(2);
      const [failed] = await database.db.select().from(jobs).where(eq(jobs.id, failing.id));
      expect(failed).toMatchObject({ state: "failed", lastError: "still broken" });
      const [left] = await database.db.select().from(jobs).where(eq(jobs.id, unknown.id));
      expect(left?.state).toBe("waiting");
      expect(left?.lastError).toMatch(/no handler for job kind 'test.unknown'/);
    } finally {
      await scheduler.stop();
    }
    expect(defaultHandlers()["operation.expire"]?.everyMs).toBe(1000);
  });
  it("runs the sweeps from its own timer, without anyone asking", async () => {
    const [id = ""] = await insertKeyCreates(database.db, seed, 1, {
      now: new Date(Date.now() - 2 * HOUR),
      state: "pending",
      expiresAt: new Date(Date.now() - HOUR),
    });
    let resolve: (r: TickReport) => void = () => {};
    const expired = new Promise<TickReport>((r) => {
      resolve = r;
    });
    const scheduler = startScheduler({
      db: database.db,
      clock: () => new Date(),
      intervalMs: 20,
      onTick: (report) => {
        if (report.ran.some((r) => r.kind === "operation.expire" && r.ok)) resolve(report);
      },
    });
    await expired;
    await scheduler.stop();
    expect((await database.db.select().from(operations).where(eq(operations.id, id)))[0]?.state).toBe(
      "expired",
    );
  });
});
