// The sweeps and seeds that run on every engine without anyone pressing a button: the default policy seeded once
// however many processes start at once, and expiry of pending operations once each however many sweeps race.
import { and, eq, inArray } from "drizzle-orm";
import { beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { auditEvents, operations, policyVersions } from "@/db/schema";
import { verifyStoredChain } from "@/server/audit/read";
import { firstAdmin, invitedMember, type Person } from "@/server/testing/identity-fixtures";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { expireDue } from "./expire";
import { ensurePolicySeeded } from "./policy-store";
import { proposeOperation } from "./propose";

const T0 = new Date("2026-05-07T10:00:00.000Z");

describe.each(testEngines())("seeds and sweeps on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;

  it("an installation without a policy gets DEFAULT_POLICY once, however many boots race", async () => {
    db = database();
    const seeded = await Promise.all(Array.from({ length: 8 }, () => ensurePolicySeeded(db, T0)));
    expect(new Set(seeded.map((p) => p.digest)).size).toBe(1);
    expect(await db.select().from(policyVersions)).toHaveLength(1);
    expect(await db.select().from(auditEvents).where(eq(auditEvents.action, "policy.seeded"))).toHaveLength(
      1,
    );
  });

  describe("expiry", () => {
    let operator: Person;
    beforeAll(async () => {
      // Setup finds the policy already there and seeds nothing more.
      const admin = await firstAdmin(db, { now: T0 });
      operator = await invitedMember(db, admin.acting, { now: T0, roles: ["operator"] });
    });

    it("racing sweeps expire each due operation exactly once, in batches of 100, leaving the ones not yet due", async () => {
      const due = [];
      for (let i = 0; i < 130; i++) {
        due.push(
          await proposeOperation(db, {
            actor: operator.acting,
            kind: "key.create",
            payload: { label: `Old ${i}`, curve: "p256", tags: [], exportable: "never" },
            now: T0,
          }),
        );
      }
      const later = new Date(T0.getTime() + 3_600_000);
      const fresh = await proposeOperation(db, {
        actor: operator.acting,
        kind: "key.create",
        payload: { label: "Fresh", curve: "p256", tags: [], exportable: "never" },
        now: later,
      });
      const sweepAt = new Date(T0.getTime() + 48 * 3_600_000);
      const counts = await Promise.all(Array.from({ length: 4 }, () => expireDue(db, sweepAt)));
      const ids = due.map((o) => o.id);
      // A sweep skips rows another holds, so one round may leave some for the next: sweep until none is left.
      let rest = 0;
      for (let n = await expireDue(db, sweepAt); n > 0; n = await expireDue(db, sweepAt)) rest += n;
      expect(counts.reduce((a, b) => a + b, 0) + rest).toBe(130);
      const rows = await db
        .select({ state: operations.state })
        .from(operations)
        .where(inArray(operations.id, ids));
      expect(rows.every((r) => r.state === "expired")).toBe(true);
      const events = await db
        .select({ subject: auditEvents.subject })
        .from(auditEvents)
        .where(and(eq(auditEvents.action, "operation.expired")));
      expect(events).toHaveLength(130);
      expect(new Set(events.map((e) => e.subject)).size).toBe(130);
      const [stillPending] = await db.select().from(operations).where(eq(operations.id, fresh.id));
      expect(stillPending?.state).toBe("pending");
      expect(await db.select().from(policyVersions)).toHaveLength(1);
      expect((await verifyStoredChain(db)).problems).toEqual([]);
    });
  });
});
