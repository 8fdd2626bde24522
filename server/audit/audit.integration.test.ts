// The audit trail on real databases: numbered and chained by the writer, append-only by trigger, committed
// with the change it records or not at all, and gap-free under concurrent writers.
import { asc, count, eq, gt, sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditEvents, members } from "@/db/schema";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { type AppendInput, appendAudit } from "./append";
import { GENESIS_HASH } from "./chain";
import { verifyStoredChain } from "./read";

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

async function append(db: Db, input: AppendInput = reactivated()) {
  return db.transaction((tx) => appendAudit(tx, input));
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
    await db.execute(sql`ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete`);
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

      await db.insert(auditEvents).values(original);
      expect((await verifyStoredChain(db)).problems).toEqual([]);
    } finally {
      await db.execute(sql`ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete`);
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
    const expected = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(written.map((w) => w.seq).sort((a, b) => a - b)).toEqual(expected);
    const stored = await db.select({ seq: auditEvents.seq }).from(auditEvents).orderBy(asc(auditEvents.seq));
    expect(stored.map((r) => r.seq)).toEqual(expected);
    const report = await verifyStoredChain(db);
    expect(report.problems).toEqual([]);
    expect(report.headSeq).toBe(20);
  });
});
