// Databases for bench/operations.ts, made like the tests make them: PGlite in memory, or a fresh database on a
// PostgreSQL server (created for the run, dropped after). Nothing outside a temporary database is touched.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { type Database, openDatabase } from "@/db/client";

/**
 * "postgres-nosync" is a diagnostic, not a configuration to run: the same PostgreSQL with synchronous_commit
 * off for the bench's database, so commits stop waiting for the WAL flush, to show what share of a figure
 * the flush is (an audited transaction holds the audit append lock until its commit is flushed).
 */
export type BenchEngine = "pglite" | "postgres" | "postgres-nosync";
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

export async function createBenchDatabase(
  engine: BenchEngine,
  adminUrl: string,
  poolSize?: number,
): Promise<BenchDatabase> {
  if (engine === "pglite") {
    const database = await openDatabase({ engine: "pglite", folder: "memory://" });
    return { ...database, drop: database.close };
  }
  const name = `keyward_bench_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    if (engine === "postgres-nosync")
      await admin.query(`ALTER DATABASE ${name} SET synchronous_commit = off`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const database = await openDatabase({ engine: "postgres", url: url.toString(), poolSize });
  return {
    ...database,
    url: url.toString(),
    drop: async () => {
      await database.close();
      const cleanup = new pg.Client({ connectionString: adminUrl });
      await cleanup.connect();
      try {
        await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await cleanup.end();
      }
    },
  };
}

/** What the bench's connections were doing, sampled from pg_stat_activity: counts per kind of wait. */
export type WaitSamples = Record<string, number>;

/** How a pg_stat_activity row reads in the report. */
function waitKind(row: {
  state: string | null;
  wait_event_type: string | null;
  wait_event: string | null;
  query: string;
}) {
  if (row.wait_event_type === "Lock" && row.wait_event === "advisory") {
    return row.query.includes("pg_advisory_xact_lock")
      ? "waiting for the audit append lock"
      : "waiting for another advisory lock";
  }
  if (row.wait_event_type === "Lock") return `waiting for a row lock (${row.wait_event})`;
  if (row.wait_event_type === "IO" || row.wait_event_type === "LWLock")
    return `commit / WAL (${row.wait_event})`;
  if (row.state === "idle in transaction") return "in a transaction, waiting for Node";
  if (row.state === "active") return "running a statement";
  return "idle";
}

/**
 * Samples every `everyMs` what the connections to `url`'s database are doing until stopped. The profile of
 * where a transaction's time goes on PostgreSQL (PGlite has no such view: it runs one statement at a time).
 */
export async function sampleWaits(
  url: string,
  everyMs = 5,
): Promise<{ stop: () => Promise<WaitSamples>; samples: WaitSamples }> {
  const database = new URL(url).pathname.slice(1);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const samples: WaitSamples = {};
  let running = true;
  const loop = (async () => {
    while (running) {
      const { rows } = await client.query(
        "SELECT state, wait_event_type, wait_event, query FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        [database],
      );
      for (const row of rows) {
        const kind = waitKind(row);
        if (kind !== "idle") samples[kind] = (samples[kind] ?? 0) + 1;
      }
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  let stopped: Promise<WaitSamples> | undefined;
  return {
    samples,
    stop: () => {
      running = false;
      stopped ??= loop.then(async () => {
        await client.end();
        return samples;
      });
      return stopped;
    },
  };
}
