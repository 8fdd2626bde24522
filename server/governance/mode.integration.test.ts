// Setup mode is the default; one installation_live row makes it live, and that row can be neither changed,
// removed nor doubled (migration 0016's triggers and the one-row key), so going live is never undone.
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { installationLive } from "@/db/schema";
import { AppError } from "@/server/errors";
import { ensurePolicySeeded } from "@/server/operations/policy-store";
import { firstAdmin } from "@/server/testing/identity-fixtures";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { installationMode, requireSetupMode } from "./mode";

async function driverError(attempt: Promise<unknown>): Promise<string> {
  const err = await attempt.then(
    () => {
      throw new Error("expected the database to refuse the statement");
    },
    (e: unknown) => e,
  );
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}

describe.each(testEngines())("installation mode on %s", (engine) => {
  const getDb = useTestDatabase(engine);
  const now = new Date("2026-12-02T10:00:00.000Z");

  async function goLive(db: Db, adminId: string, version: number, digest: string) {
    await db.insert(installationLive).values({
      since: now,
      policyVersion: version,
      policyDigest: digest,
      adminSetDigest: "b".repeat(64),
      admins: [adminId],
      completedBy: adminId,
    });
  }

  it("is setup by default, then live for good once the row exists", async () => {
    const db = getDb();
    const admin = await firstAdmin(db, { now });
    const policy = await ensurePolicySeeded(db, now);
    expect(await installationMode(db)).toEqual({ mode: "setup" });
    await expect(requireSetupMode(db, "changing the policy")).resolves.toBeUndefined();

    await goLive(db, admin.acting.id, policy.version, policy.digest);
    expect(await installationMode(db)).toEqual({ mode: "live", since: now, policyVersion: policy.version });
    const refused = await requireSetupMode(db, "changing the policy").catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({
      code: "CONFLICT",
      message: "Keyward is live: changing the policy needs the quorum now — propose it as an operation.",
    });

    // Never undone, never doubled.
    expect(await driverError(Promise.resolve(db.delete(installationLive)))).toContain(
      "installation_live is append-only: DELETE refused",
    );
    expect(
      await driverError(Promise.resolve(db.update(installationLive).set({ since: new Date(0) }))),
    ).toContain("installation_live is append-only: UPDATE refused");
    expect(await driverError(Promise.resolve(db.execute(sql`TRUNCATE installation_live`)))).toContain(
      "installation_live is append-only: TRUNCATE refused",
    );
    await expect(goLive(db, admin.acting.id, policy.version, policy.digest)).rejects.toThrow();
    expect(await installationMode(db)).toEqual({ mode: "live", since: now, policyVersion: policy.version });
  });
});
