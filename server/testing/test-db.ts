// Test databases: a fresh in-memory PGlite always, and a fresh PostgreSQL database when TEST_DATABASE_URL
// is set (created for the run, dropped after), so integration suites run on both engines.
import { randomBytes } from "node:crypto";
import { sql } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { type Database, type Db, openDatabase } from "@/db/client";

export type TestEngine = "pglite" | "postgres";

/** The engines this run can test: PGlite always, PostgreSQL when TEST_DATABASE_URL is set. */
export function testEngines(): TestEngine[] {
  return process.env.TEST_DATABASE_URL ? ["pglite", "postgres"] : ["pglite"];
}

export type TestDatabase = Database & { url?: string; drop: () => Promise<void> };

export async function createTestDatabase(engine: TestEngine): Promise<TestDatabase> {
  if (engine === "pglite") {
    const database = await openDatabase({ engine: "pglite", folder: "memory://" });
    return { ...database, drop: database.close };
  }
  const adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) throw new Error("TEST_DATABASE_URL is not set");
  const name = `keyward_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const database = await openDatabase({ engine: "postgres", url: url.toString() });
  return {
    ...database,
    url: url.toString(),
    drop: async () => {
      await database.close();
      const cleanup = new pg.Client({ connectionString: adminUrl });
      await cleanup.connect();
      try {
        await cleanup.query(`DROP DATABASE IF EXISTS ${name}`);
      } finally {
        await cleanup.end();
      }
    },
  };
}

/**
 * A fresh database on `engine` for the enclosing describe block: created in a beforeAll hook (registered
 * now, so it runs before the block's own), dropped in an afterAll. Returns a getter for it, valid in hooks
 * and tests once the database is open.
 */
export function useTestDatabase(engine: TestEngine): () => Db {
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    database = await createTestDatabase(engine);
  });
  afterAll(async () => {
    await database?.drop();
  });
  return () => {
    if (!database) throw new Error("the test database is not open yet: use it in a hook or a test");
    return database.db;
  };
}

/**
 * A second server's handle on the PostgreSQL test database `db` is open on: its own pool, as another
 * instance of Keyward on the same database would have. Close it when done.
 */
export async function secondServer(db: Db): Promise<Database> {
  const url = process.env.TEST_DATABASE_URL;
  if (!url) throw new Error("TEST_DATABASE_URL is required for a second server");
  const result = await db.execute(sql`SELECT current_database() AS name`);
  const name = (result as unknown as { rows: { name: string }[] }).rows[0]?.name;
  if (!name) throw new Error("the test database has no name");
  const other = new URL(url);
  other.pathname = `/${name}`;
  return openDatabase({ engine: "postgres", url: other.toString() });
}
