// The status page's database card reports events committed but not yet sealed into the chain: normally none
// (each commit's events are sealed before its request returns); a stalled integrator shows as events waiting.
import { beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditEvents } from "@/db/schema";
import { integrateAudit, sealedSoFar } from "@/server/audit/integrate";
import { appendAudit } from "@/server/audit/append";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { databaseHealth } from "./database-health";

const AT = new Date("2026-06-01T09:00:00.000Z");

describe.each(testEngines())("database health on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;

  beforeAll(() => {
    db = database();
  });

  async function staged() {
    const health = await databaseHealth(db, engine, new Date(AT.getTime() + 30_000));
    if (!health.ok) throw new Error(health.error);
    return health;
  }

  it("shows no staged events after an audited change, and the sealed head", async () => {
    await db.transaction((tx) =>
      appendAudit(tx, {
        action: "member.reactivated",
        actor: "system",
        subject: "member:a",
        at: AT,
        data: { memberId: "a" },
      }),
    );
    await sealedSoFar(db);
    const health = await staged();
    expect(health.auditStaged).toEqual({ count: 0, oldestAgeMs: null });
    expect(health.auditHeadSeq).toBeGreaterThan(0);
  });

  it("shows events the integrator has not sealed, with the oldest one's age, until a round seals them", async () => {
    const before = await staged();
    // A plain insert asks for no round: as if the integrator had stopped.
    await db.insert(auditEvents).values({
      action: "member.reactivated",
      actor: "system",
      subject: "member:b",
      at: AT,
      data: { memberId: "b" },
    });
    const waiting = await staged();
    expect(waiting.auditStaged).toEqual({ count: 1, oldestAgeMs: 30_000 });
    expect(waiting.auditHeadSeq).toBe(before.auditHeadSeq);
    await integrateAudit(db);
    const sealed = await staged();
    expect(sealed.auditStaged).toEqual({ count: 0, oldestAgeMs: null });
    expect(sealed.auditHeadSeq).toBe(before.auditHeadSeq + 1);
  });
});
