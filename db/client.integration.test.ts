// The migrations folder comes from the installation, not the working directory: a server started from
// another folder still applies Keyward's own migrations (db/client.ts resolved <cwd>/db/migrations before).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { sql } from "drizzle-orm";
import { afterAll, describe, expect, it } from "vitest";
import { auditEvents } from "./schema";

const repository = path.resolve(import.meta.dirname, "..");
const elsewhere = mkdtempSync(path.join(tmpdir(), "keyward-cwd-"));
const cwd = process.cwd();

afterAll(() => {
  process.chdir(cwd);
  rmSync(elsewhere, { recursive: true, force: true });
});

describe("the database client, started from another folder", () => {
  it("finds the installation's migrations and applies them", async () => {
    process.chdir(elsewhere);
    // Imported only now, so nothing it computes at load time can come from the repository's cwd.
    const client = await import("./client");
    const database = await client.openDatabase({ engine: "pglite", folder: "memory://" });
    try {
      // The audit trail's table exists: the migrations ran.
      const events = await database.db.select({ n: sql<number>`count(*)::int` }).from(auditEvents);
      expect(events).toEqual([{ n: 0 }]);
    } finally {
      await database.close();
    }
    expect(client.installedMigrations()).toBe(path.join(repository, "db", "migrations"));
  });
});
