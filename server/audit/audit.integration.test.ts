// The audit trail on real databases: staged by the writer in the change's transaction, numbered and chained
// by the integration round its commit starts (the writer does not wait; sealedSoFar does), append-only by
// trigger (one sealing per row),
// committed with the change it records or not at all, and gap-free under concurrent writers and integrators.
import { asc, count, eq, gt, sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditEvents, members } from "@/db/schema";
import { secondServer, testEngines, useTestDatabase } from "@/server/testing/test-db";
import { type AppendInput, appendAudit } from "./append";
import { GENESIS_HASH } from "./chain";
import { INTEGRATOR_LOCK_KEY, integrateAudit, sealedSoFar } from "./integrate";
import { type SealedEvent, sealed, verifyStoredChain } from "./read";

const AT = new Date("2026-03-01T10:00:00.123Z");

let unique = 0;
/** An event about a member id no other test uses. */
function reactivated(): AppendInput {
  unique++;
  const memberId = `member-${unique}-${Math.random().toString(36).slice(2)}`;
  return {
    action: "member.reactivated",
    actor: "system",
    subject: `member:${memberId}`,
    at: AT,
    data: { memberId },
  };
}

/** The stored row of an event, by its staging id. */
async function stored(db: Db, id: number) {
  const [row] = await db.select().from(auditEvents).where(eq(auditEvents.id, id));
  if (!row) throw new Error(`audit event ${id} missing`);
  return row;
}

/** Appends in a transaction of its own and returns the event once sealed. */
async function append(db: Db, input: AppendInput = reactivated()): Promise<SealedEvent> {
  const { id } = await db.transaction((tx) => appendAudit(tx, input));
  await sealedSoFar(db);
  return sealed(await stored(db, id));
}

async function eventCount(db: Db): Promise<number> {
  const [row] = await db.select({ n: count() }).from(auditEvents);
  return row?.n ?? 0;
}

/** The driver's error under drizzle's wrapper: drizzle puts the database's message and SQLSTATE on `cause`. */
async function driverError(attempt: Promise<unknown>): Promise<{ message: string; code: unknown }> {
  const err = await attempt.then(
    () => {
      throw new Error("expected the database to refuse the statement");
    },
    (e: unknown) => e,
  );
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  if (!(cause instanceof Error)) throw new Error(`unexpected rejection: ${String(cause)}`);
  return { message: cause.message, code: "code" in cause ? cause.code : undefined };
}

describe.each(testEngines())("the audit trail on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;

  beforeAll(() => {
    db = database();
  });

  it("seals an event after the transaction that wrote it commits, never before", async () => {
    const before = await verifyStoredChain(db);
    let inside: Awaited<ReturnType<typeof stored>> | undefined;
    const { id } = await db.transaction(async (tx) => {
      const written = await appendAudit(tx, reactivated());
      [inside] = await tx.select().from(auditEvents).where(eq(auditEvents.id, written.id));
      return written;
    });
    // Inside its transaction the event is staged: no seq, no hash, nothing chained to it yet.
    expect(inside).toMatchObject({ seq: null, prevHash: null, hash: null });
    // Once the round its commit started (or sealedSoFar's) has run, it has the next place in the chain.
    await sealedSoFar(db);
    expect(await stored(db, id)).toMatchObject({ seq: before.headSeq + 1, prevHash: before.headHash });
  });

  it.skipIf(engine !== "postgres")(
    "a writer does not wait for the integrator: its transaction returns while a round cannot run",
    async () => {
      // Another server's integrator holds the lock (as a long round would): the change still returns at once.
      const other = await secondServer(db);
      try {
        let release: () => void = () => {};
        const held = new Promise<void>((resolve) => {
          release = resolve;
        });
        let locked: () => void = () => {};
        const lockTaken = new Promise<void>((resolve) => {
          locked = resolve;
        });
        const holder = other.db.transaction(async (tx) => {
          await tx.execute(sql`SELECT pg_advisory_xact_lock(${INTEGRATOR_LOCK_KEY})`);
          locked();
          await held;
        });
        await lockTaken;
        const { id } = await db.transaction((tx) => appendAudit(tx, reactivated()));
        expect(await stored(db, id)).toMatchObject({ seq: null, hash: null });
        release();
        await holder;
        await sealedSoFar(db);
        expect((await stored(db, id)).seq).not.toBeNull();
      } finally {
        await other.close();
      }
    },
  );

  it("numbers events 1, 2, 3… and links each to the previous event's hash", async () => {
    const before = await verifyStoredChain(db);
    const written = [await append(db), await append(db), await append(db)];
    expect(written.map((w) => w.seq)).toEqual([before.headSeq + 1, before.headSeq + 2, before.headSeq + 3]);

    const rows = await db
      .select()
      .from(auditEvents)
      .where(gt(auditEvents.seq, before.headSeq))
      .orderBy(asc(auditEvents.seq));
    expect(rows.map((r) => r.seq)).toEqual(written.map((w) => w.seq));
    expect(rows.map((r) => r.prevHash)).toEqual([before.headHash, written[0]?.hash, written[1]?.hash]);
    expect(rows.map((r) => r.hash)).toEqual(written.map((w) => w.hash));
    if (before.headSeq === 0) expect(rows[0]?.prevHash).toBe(GENESIS_HASH);
    // The stored time keeps its milliseconds, so the hash re-computes from what was stored.
    expect(rows[0]?.at.toISOString()).toBe(AT.toISOString());
  });

  it("re-checks every stored hash, including payloads whose keys jsonb stores in its own order", async () => {
    await append(db, {
      action: "member.updated",
      actor: "member:5b2a9d1e-0000-4000-8000-000000000001",
      subject: "member:5b2a9d1e-0000-4000-8000-000000000002",
      at: AT,
      data: {
        previousGroups: [],
        previousRoles: ["operator"],
        roles: ["operator", "approver"],
        groups: ["treasury", "ops"],
        memberId: "5b2a9d1e-0000-4000-8000-000000000002",
      },
    });
    await append(db, {
      action: "auth.sign_in_failed",
      actor: "anonymous",
      subject: "token:unknown",
      at: AT,
      data: { reason: "unknown_token", credentialId: null },
    });
    const report = await verifyStoredChain(db);
    const [head] = await db.select().from(auditEvents).orderBy(sql`${auditEvents.seq} desc`).limit(1);
    expect(report.problems).toEqual([]);
    expect(report.events).toBe(await eventCount(db));
    expect(report.headSeq).toBe(head?.seq);
    expect(report.headHash).toBe(head?.hash);
  });

  it.each([
    ["UPDATE", (d: Db) => d.update(auditEvents).set({ actor: "system", data: { memberId: "mallory" } })],
    // The one write a row allows is its sealing, once: re-numbering a sealed row is a change like any other.
    [
      "UPDATE",
      (d: Db) => d.update(auditEvents).set({ seq: 999_999, prevHash: "0".repeat(64), hash: "f".repeat(64) }),
    ],
    ["DELETE", (d: Db) => d.delete(auditEvents).where(gt(auditEvents.seq, 0))],
    ["TRUNCATE", (d: Db) => d.execute(sql`TRUNCATE audit_events`)],
  ])(
    "refuses %s with the append-only trigger and leaves the trail as it was",
    async (operation, statement) => {
      await append(db); // the row triggers fire per row: make sure there is one
      const before = await verifyStoredChain(db);
      const err = await driverError(Promise.resolve(statement(db)));
      expect(err.message).toContain(`audit_events is append-only: ${operation} refused`);
      expect(err.code).toBe("42501"); // insufficient_privilege
      const after = await verifyStoredChain(db);
      expect(after).toEqual(before);
      expect(after.problems).toEqual([]);
    },
  );

  it("refuses an event inserted with a place in the chain: only the integrator numbers events", async () => {
    const before = await verifyStoredChain(db);
    const forged = {
      at: AT,
      actor: "system",
      action: "member.reactivated",
      subject: "member:forged",
      data: { memberId: "forged" },
      seq: before.headSeq + 1,
      prevHash: before.headHash,
      hash: "a".repeat(64),
    };
    const err = await driverError(Promise.resolve(db.insert(auditEvents).values(forged)));
    expect(err.message).toContain("only the integrator numbers them");
    expect(err.code).toBe("42501");
    expect(await verifyStoredChain(db)).toEqual(before);
  });

  it("refuses changing a staged event's content: the integrator may only seal it", async () => {
    const before = await verifyStoredChain(db);
    const staged = db.transaction(async (tx) => {
      const { id } = await appendAudit(tx, reactivated());
      await tx
        .update(auditEvents)
        .set({ data: { memberId: "mallory" } })
        .where(eq(auditEvents.id, id));
    });
    const err = await driverError(staged);
    expect(err.message).toContain("audit_events is append-only: UPDATE refused");
    expect(await verifyStoredChain(db)).toEqual(before);
  });

  it("seals events a process staged but never integrated (it died after its commit) at the next round", async () => {
    const before = await verifyStoredChain(db);
    // A plain insert asks for no integration round: the event stays staged, as a dead process would leave it.
    const subject = `member:left-staged-${Math.random().toString(36).slice(2)}`;
    await db.transaction(async (tx) => {
      await tx.insert(auditEvents).values({ ...reactivated(), subject });
    });
    const [orphan] = await db.select().from(auditEvents).where(eq(auditEvents.subject, subject));
    expect(orphan?.seq).toBeNull();
    const round = await integrateAudit(db);
    expect(round.sequenced).toBe(1);
    expect(await stored(db, orphan?.id ?? -1)).toMatchObject({
      seq: before.headSeq + 1,
      prevHash: before.headHash,
    });
    expect((await verifyStoredChain(db)).problems).toEqual([]);
  });

  it("leaves no event behind when the transaction that appended it fails", async () => {
    const before = await verifyStoredChain(db);
    const name = `Rolled Back ${Math.random()}`;
    const failed = db.transaction(async (tx) => {
      await tx.insert(members).values({ name, userHandle: `handle-${name}` });
      await appendAudit(tx, reactivated());
      throw new Error("the change failed after its audit record was written");
    });
    await expect(failed).rejects.toThrow("the change failed");
    expect(await verifyStoredChain(db)).toEqual(before);
    expect(await db.select().from(members).where(eq(members.name, name))).toEqual([]);
    // The number the failed event would have had is taken by the next one: no hole in the trail.
    expect((await append(db)).seq).toBe(before.headSeq + 1);
  });

  it("fails the change when its audit record cannot be written", async () => {
    const before = await eventCount(db);
    const name = `Unaudited ${Math.random()}`;
    const failed = db.transaction(async (tx) => {
      await tx.insert(members).values({ name, userHandle: `handle-${name}` });
      // An empty member id does not satisfy the event's payload schema.
      await appendAudit(tx, {
        action: "member.reactivated",
        actor: "system",
        subject: "member:",
        at: AT,
        data: { memberId: "" },
      });
    });
    await expect(failed).rejects.toThrow();
    expect(await db.select().from(members).where(eq(members.name, name))).toEqual([]);
    expect(await eventCount(db)).toBe(before);
  });

  // Last in this block: it breaks the chain on purpose (as a database owner could) and restores it.
  it("detects a changed or deleted row when someone with owner rights bypasses the trigger", async () => {
    await append(db);
    const victim = (await append(db)).seq;
    await append(db);
    const [original] = await db.select().from(auditEvents).where(eq(auditEvents.seq, victim));
    if (!original) throw new Error("victim row missing");
    // DISABLE TRIGGER USER: the row triggers, including the one refusing sealed inserts, as an owner could.
    await db.execute(sql`ALTER TABLE audit_events DISABLE TRIGGER USER`);
    try {
      await db
        .update(auditEvents)
        .set({ data: { memberId: "mallory" } })
        .where(eq(auditEvents.seq, victim));
      expect((await verifyStoredChain(db)).problems).toEqual([{ seq: victim, problem: "hash" }]);

      await db.delete(auditEvents).where(eq(auditEvents.seq, victim));
      expect((await verifyStoredChain(db)).problems).toEqual([
        { seq: victim + 1, problem: "gap" },
        { seq: victim + 1, problem: "prev_hash" },
      ]);

      const { id: _newIdOnInsert, ...content } = original;
      await db.insert(auditEvents).values(content);
      expect((await verifyStoredChain(db)).problems).toEqual([]);
    } finally {
      await db.execute(sql`ALTER TABLE audit_events ENABLE TRIGGER USER`);
    }
  });
});

describe.runIf(testEngines().includes("postgres"))("concurrent appends on postgres", () => {
  const database = useTestDatabase("postgres");

  it("gives 20 transactions appending at once seq 1..20, no gaps or duplicates, and an intact chain", async () => {
    const db = database();
    const written = await Promise.all(
      Array.from({ length: 20 }, () =>
        db.transaction(async (tx) => {
          // Each transaction does some work of its own first, as domain functions do.
          await tx.execute(sql`SELECT 1`);
          return appendAudit(tx, reactivated());
        }),
      ),
    );
    await sealedSoFar(db);
    const expected = Array.from({ length: 20 }, (_, i) => i + 1);
    const seqs = await Promise.all(written.map(async (w) => (await stored(db, w.id)).seq ?? 0));
    expect(seqs.sort((a, b) => a - b)).toEqual(expected);
    const rows = await db.select({ seq: auditEvents.seq }).from(auditEvents).orderBy(asc(auditEvents.seq));
    expect(rows.map((r) => r.seq)).toEqual(expected);
    const report = await verifyStoredChain(db);
    expect(report.problems).toEqual([]);
    expect(report.headSeq).toBe(20);
  });
});

describe.runIf(testEngines().includes("postgres"))(
  "appends that do not wait for each other, on postgres",
  () => {
    const database = useTestDatabase("postgres");

    it("commits and seals one transaction's event while another transaction holding an event stays open", async () => {
      const db = database();
      let release: () => void = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let staged: () => void = () => {};
      const stagedYet = new Promise<void>((resolve) => {
        staged = resolve;
      });
      // The slow one: stages its event, then keeps its transaction open until told to finish.
      const slow = db.transaction(async (tx) => {
        const written = await appendAudit(tx, reactivated());
        staged();
        await held;
        return written;
      });
      await stagedYet;
      // With one append lock held through commit, this would wait for the slow one (and this test would hang).
      const quick = await append(db);
      expect(quick.seq).toBeGreaterThan(0);
      release();
      const slowId = (await slow).id;
      await sealedSoFar(db);
      const slowRow = await stored(db, slowId);
      // The slow event was committed later, so it is sealed after the quick one.
      expect(slowRow.seq).toBe(quick.seq + 1);
      expect((await verifyStoredChain(db)).problems).toEqual([]);
    });

    it("keeps seqs gap-free and the chain intact with two servers' integrators sealing at once", async () => {
      const db = database();
      const second = await secondServer(db);
      try {
        const before = await verifyStoredChain(db);
        // 300 events staged without a round of their own, then both servers integrate at the same instant,
        // while both also keep appending through their own handles.
        await db.transaction(async (tx) => {
          for (let i = 0; i < 300; i++) await tx.insert(auditEvents).values(reactivated());
        });
        const appends = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? append(db) : append(second.db)));
        await Promise.all([integrateAudit(db), integrateAudit(second.db), ...appends]);
        await integrateAudit(db);
        const report = await verifyStoredChain(db);
        expect(report.problems).toEqual([]);
        expect(report.headSeq).toBe(before.headSeq + 320);
        expect(await eventCount(db)).toBe(report.headSeq);
      } finally {
        await second.close();
      }
    });
  },
);
