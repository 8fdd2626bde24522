// Database health for the status page: engine, round-trip time, applied migrations, audit head.
import "server-only";
import { count, desc, isNotNull, isNull, min, sql } from "drizzle-orm";
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
      /**
       * Events committed but not yet sealed into the chain by the integrator, and how long the oldest has
       * waited (by its recorded time). Normally 0: each commit's events are sealed before its request returns.
       * Events left waiting for long mean the integrator is failing, and the trail has stopped growing.
       */
      auditStaged: { count: number; oldestAgeMs: number | null };
    }
  | { ok: false; engine: string; error: string };

/** Past this, staged events are a problem to show (the integrator runs after every commit and every second). */
export const STAGED_TOO_LONG_MS = 10_000;

export async function databaseHealth(
  db: Db,
  engine: string,
  now: Date = new Date(),
): Promise<DatabaseHealth> {
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
    // The partial index on staged rows makes this cheap however long the trail.
    const [staged] = await db
      .select({ count: count(), oldest: min(auditEvents.at) })
      .from(auditEvents)
      .where(isNull(auditEvents.seq));
    return {
      ok: true,
      engine,
      version: version?.version ?? "unknown",
      roundTripMs: Math.round(roundTripMs * 100) / 100,
      migrations: migrations?.n ?? 0,
      auditHeadSeq: head?.seq ?? 0,
      auditStaged: {
        count: staged?.count ?? 0,
        oldestAgeMs: staged?.oldest ? Math.max(0, now.getTime() - staged.oldest.getTime()) : null,
      },
    };
  } catch (e) {
    return { ok: false, engine, error: e instanceof Error ? e.message : "unknown error" };
  }
}
