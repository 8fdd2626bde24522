// Opens the database — embedded PGlite in the data folder, or PostgreSQL when a URL is given — and
// applies the drizzle-kit migrations before anyone uses it. Never open it at module top level.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { pg_trgm } from "@electric-sql/pglite/contrib/pg_trgm";
import type { ExtractTablesWithRelations } from "drizzle-orm";
import { drizzle as drizzleNodePg } from "drizzle-orm/node-postgres";
import { migrate as migrateNodePg } from "drizzle-orm/node-postgres/migrator";
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import pg from "pg";
import { installRoot } from "../server/install-root";
import { runAfterCommit } from "./after-commit";
import { lockDataFolder } from "./lock";
import * as schema from "./schema";

export type Schema = typeof schema;
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;
/** Functions that only read or write one statement accept either; anything that must be atomic takes Tx. */
export type DbOrTx = Db | Tx;

export type Database = { db: Db; engine: "pglite" | "postgres"; close: () => Promise<void> };

/**
 * The migrations this installation ships, found from the installation itself (server/install-root.ts), never
 * from the working directory: a server started in another folder must not apply that folder's migrations.
 */
export function installedMigrations(): string {
  return path.join(installRoot(), "db", "migrations");
}

export type OpenOptions =
  | {
      engine: "postgres";
      url: string;
      migrationsFolder?: string;
      /** Connections in the pool (10): a benchmark of 50 concurrent writers gives each its own. */
      poolSize?: number;
    }
  /** folder: a directory, or "memory://" for tests. */
  | { engine: "pglite"; folder: string; migrationsFolder?: string };

/**
 * Several instances on one PostgreSQL may start at once (a rolling deploy): without a lock two apply the same
 * migration and one fails ("relation already exists"), so that instance would not start. A session-level
 * advisory lock, held on a connection of its own while the migrator runs on others, lets one instance migrate
 * while the rest wait, then find nothing left to do. The key is fixed and named here only.
 */
const MIGRATION_LOCK_KEY = 0x4b574d47; // "KWMG"

async function migrateUnderLock(pool: pg.Pool, migrate: () => Promise<void>): Promise<void> {
  const holder = await pool.connect();
  try {
    await holder.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    try {
      await migrate();
    } finally {
      await holder.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]);
    }
  } finally {
    holder.release();
  }
}

export async function openDatabase(options: OpenOptions): Promise<Database> {
  const migrationsFolder = options.migrationsFolder ?? installedMigrations();
  if (options.engine === "postgres") {
    const pool = new pg.Pool({ connectionString: options.url, max: options.poolSize ?? 10 });
    // An idle connection can die (server restart, failover, an admin's kill); without a listener the pool's
    // "error" event would crash the process. The pool replaces the connection on next use.
    pool.on("error", (err) => console.error("[db] idle PostgreSQL connection failed:", err.message));
    const db = runAfterCommit(drizzleNodePg({ client: pool, schema }));
    try {
      await migrateUnderLock(pool, () => migrateNodePg(db, { migrationsFolder }));
    } catch (e) {
      await pool.end();
      throw e;
    }
    return { db, engine: "postgres", close: () => pool.end() };
  }
  const inMemory = options.folder.startsWith("memory://");
  let release = () => {};
  if (!inMemory) {
    mkdirSync(options.folder, { recursive: true, mode: 0o700 });
    release = lockDataFolder(options.folder);
  }
  try {
    // pg_trgm: the keys list's label search (migration 0013); PostgreSQL has it in contrib.
    const client = await PGlite.create(options.folder, { extensions: { pg_trgm } });
    const db = runAfterCommit(drizzlePglite({ client, schema }));
    await migratePglite(db, { migrationsFolder });
    return {
      db,
      engine: "pglite",
      close: async () => {
        await client.close();
        release();
      },
    };
  } catch (e) {
    release();
    throw e;
  }
}
