// Several server instances on one PostgreSQL start at once (a rolling deploy, a restart of all of them): each
// applies the migrations at boot. Without a lock between them two run the same migration and one fails
// ("relation already exists"), so that instance does not start. The migrations run under an advisory lock.
import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { openDatabase } from "./client";
import { auditEvents } from "./schema";

const adminUrl = process.env.TEST_DATABASE_URL;

describe.skipIf(!adminUrl)("several instances starting at once on one new PostgreSQL database", () => {
  it("all start, and the migrations are applied once", async () => {
    const name = `keyward_test_${randomBytes(6).toString("hex")}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(adminUrl as string);
    url.pathname = `/${name}`;
    try {
      const opened = await Promise.allSettled(
        Array.from({ length: 4 }, () => openDatabase({ engine: "postgres", url: url.toString() })),
      );
      const failures = opened.flatMap((o) => (o.status === "rejected" ? [String(o.reason)] : []));
      for (const o of opened) if (o.status === "fulfilled") await o.value.close();
      expect(failures).toEqual([]);
      const check = await openDatabase({ engine: "postgres", url: url.toString() });
      try {
        const events = await check.db.select({ n: sql<number>`count(*)::int` }).from(auditEvents);
        expect(events).toEqual([{ n: 0 }]);
        const reader = new pg.Client({ connectionString: url.toString() });
        await reader.connect();
        const applied = await reader.query("select count(*)::int as n from drizzle.__drizzle_migrations");
        await reader.end();
        const journal = (await import("./migrations/meta/_journal.json", { with: { type: "json" } })).default;
        expect(applied.rows[0]).toEqual({ n: journal.entries.length });
      } finally {
        await check.close();
      }
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
});
