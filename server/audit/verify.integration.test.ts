// The status page's chain check: a second view hashes only what was appended since the first, a row changed
// after the verified point is still caught (and keeps being reported), a rewritten verified point sends the
// check back to the whole trail, and the auditor's full check catches what lies before the point.
import { eq, sql } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditEvents } from "@/db/schema";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { appendAudit } from "./append";
import { sealedSoFar } from "./integrate";
import { verifyChainIncrementally, verifyWholeChain } from "./verify";

const AT = new Date("2026-05-01T08:00:00.000Z");

async function append(db: Db, n: number): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) {
    const memberId = `m-${Math.random().toString(36).slice(2)}`;
    const { id } = await db.transaction((tx) =>
      appendAudit(tx, {
        action: "member.reactivated",
        actor: "system",
        subject: `member:${memberId}`,
        at: AT,
        data: { memberId },
      }),
    );
    await sealedSoFar(db);
    const [row] = await db.select({ seq: auditEvents.seq }).from(auditEvents).where(eq(auditEvents.id, id));
    if (row?.seq == null) throw new Error("the event was not sealed");
    seqs.push(row.seq);
  }
  return seqs;
}

/** Changes a row's payload as a database owner could, bypassing the append-only trigger. */
async function tamper(db: Db, seq: number, change: Partial<typeof auditEvents.$inferInsert>) {
  await db.execute(sql`ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete`);
  try {
    await db.update(auditEvents).set(change).where(eq(auditEvents.seq, seq));
  } finally {
    await db.execute(sql`ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete`);
  }
}

describe.each(testEngines())("incremental chain verification on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;
  beforeAll(() => {
    db = database();
  });

  it("hashes the whole trail on the first view, then only the events appended since", async () => {
    await append(db, 5);
    const first = await verifyChainIncrementally(db);
    expect(first).toMatchObject({ mode: "full", hashed: 5, events: 5, headSeq: 5, problems: [] });
    await append(db, 2);
    const second = await verifyChainIncrementally(db);
    expect(second).toMatchObject({ mode: "incremental", hashed: 2, events: 7, headSeq: 7, problems: [] });
    const third = await verifyChainIncrementally(db);
    expect(third).toMatchObject({ mode: "incremental", hashed: 0, events: 7, headSeq: 7, problems: [] });
    expect(third.headHash).toBe((await verifyWholeChain(db)).headHash);
  });

  it("catches a row changed after the verified point, and keeps reporting it", async () => {
    await verifyChainIncrementally(db);
    const [victim] = await append(db, 3);
    if (victim === undefined) throw new Error("no victim");
    const [original] = await db.select().from(auditEvents).where(eq(auditEvents.seq, victim));
    await tamper(db, victim, { data: { memberId: "mallory" } });
    try {
      const report = await verifyChainIncrementally(db);
      expect(report.problems).toEqual([{ seq: victim, problem: "hash" }]);
      expect(report.mode).toBe("incremental");
      // The verified point did not move past the break: the next view sees it again.
      expect((await verifyChainIncrementally(db)).problems).toEqual([{ seq: victim, problem: "hash" }]);
    } finally {
      await tamper(db, victim, { data: original?.data });
    }
    expect((await verifyChainIncrementally(db)).problems).toEqual([]);
  });

  it("re-verifies the whole trail when the verified point's own row was rewritten", async () => {
    const point = (await verifyChainIncrementally(db)).headSeq;
    const [row] = await db.select().from(auditEvents).where(eq(auditEvents.seq, point));
    await tamper(db, point, { hash: "f".repeat(64) });
    try {
      const report = await verifyChainIncrementally(db);
      expect(report.mode).toBe("full");
      expect(report.problems).toContainEqual({ seq: point, problem: "hash" });
    } finally {
      await tamper(db, point, { hash: row?.hash });
    }
    expect((await verifyChainIncrementally(db)).problems).toEqual([]);
  });

  it("leaves what lies before the point to the full check an auditor asks for (and start-up runs)", async () => {
    await verifyChainIncrementally(db);
    const [original] = await db.select().from(auditEvents).where(eq(auditEvents.seq, 2));
    await tamper(db, 2, { data: { memberId: "mallory" } });
    try {
      expect((await verifyChainIncrementally(db)).problems).toEqual([]);
      const full = await verifyWholeChain(db);
      expect(full.problems).toEqual([{ seq: 2, problem: "hash" }]);
      // After a failed full check nothing is taken as verified: the next view re-hashes everything.
      expect(await verifyChainIncrementally(db)).toMatchObject({
        mode: "full",
        problems: [{ seq: 2, problem: "hash" }],
      });
    } finally {
      await tamper(db, 2, { data: original?.data });
    }
    expect((await verifyChainIncrementally(db)).problems).toEqual([]);
  });
});
