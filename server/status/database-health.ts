// Database health for the status page: engine, round-trip time, applied migrations, audit head.
import "server-only";
import { desc, isNotNull, sql } from "drizzle-orm";
import { z } from "zod";
import type { Db } from "@/db/client";
import { queryRows } from "@/db/rows";
import { auditEvents } from "@/db/schema";

export type DatabaseHealth =
  | {
      ok: true;
      engine: string;
      version: string;
      roundTripMs: number;
      migrations: number;
      auditHeadSeq: number;
    }
  | { ok: false; engine: string; error: string };

export async function databaseHealth(db: Db, engine: string): Promise<DatabaseHealth> {
  try {
    const started = performance.now();
    const [version] = await queryRows(
      db,
      sql`SELECT current_setting('server_version') AS version`,
      z.object({ version: z.string() }),
    );
    const roundTripMs = performance.now() - started;
    const [migrations] = await queryRows(
      db,
      sql`SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations`,
      z.object({ n: z.number() }),
    );
    // The head is the highest sealed seq (descending order would put the staged rows' nulls first).
    const [head] = await db
      .select({ seq: auditEvents.seq })
      .from(auditEvents)
      .where(isNotNull(auditEvents.seq))
      .orderBy(desc(auditEvents.seq))
      .limit(1);
    return {
      ok: true,
      engine,
      version: version?.version ?? "unknown",
      roundTripMs: Math.round(roundTripMs * 100) / 100,
      migrations: migrations?.n ?? 0,
      auditHeadSeq: head?.seq ?? 0,
    };
  } catch (e) {
    return { ok: false, engine, error: e instanceof Error ? e.message : "unknown error" };
  }
}
