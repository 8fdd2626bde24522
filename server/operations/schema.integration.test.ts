// Issue 12's tables on real databases: policy versions are append-only by trigger (migration 0006), like the
// audit trail, so an operation's recorded policy version keeps meaning what it meant when it was judged.
import { eq, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { policyVersions } from "@/db/schema";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";

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

describe.each(testEngines())("policy_versions on %s", (engine) => {
  const getDb = useTestDatabase(engine);

  it.each([
    ["UPDATE", (d: Db) => d.update(policyVersions).set({ document: { tampered: true } })],
    ["DELETE", (d: Db) => d.delete(policyVersions).where(eq(policyVersions.version, 1))],
    ["TRUNCATE", (d: Db) => d.execute(sql`TRUNCATE policy_versions CASCADE`)],
  ])("refuses %s and keeps the version as written", async (operation, statement) => {
    const db = getDb();
    await db
      .insert(policyVersions)
      .values({ version: 1, document: { v: 1 }, digest: "a".repeat(64) })
      .onConflictDoNothing();
    const err = await driverError(Promise.resolve(statement(db)));
    expect(err.message).toContain(`policy_versions is append-only: ${operation} refused`);
    expect(err.code).toBe("42501");
    const rows = await db.select().from(policyVersions);
    expect(rows.map((r) => [r.version, r.document])).toEqual([[1, { v: 1 }]]);
  });
});
