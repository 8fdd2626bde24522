// Databases for bench/operations.ts, made like the tests make them: PGlite in memory, or a fresh database on a
// PostgreSQL server (created for the run, dropped after). Nothing outside a temporary database is touched.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { type Database, openDatabase } from "@/db/client";

export type BenchEngine = "pglite" | "postgres";
export type BenchDatabase = Database & { url?: string; drop: () => Promise<void> };

/** The PostgreSQL server the bench uses when it answers (override with --postgres URL). */
export const DEFAULT_POSTGRES_URL = "postgres://root@127.0.0.1:5432/postgres";

/** Why PostgreSQL cannot be used (the message), or null when it answers. */
export async function postgresUnreachable(adminUrl: string): Promise<string | null> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  } finally {
    await client.end().catch(() => {});
  }
}

export async function createBenchDatabase(engine: BenchEngine, adminUrl: string): Promise<BenchDatabase> {
  if (engine === "pglite") {
    const database = await openDatabase({ engine: "pglite", folder: "memory://" });
    return { ...database, drop: database.close };
  }
  const name = `keyward_bench_${randomBytes(6).toString("hex")}`;
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
