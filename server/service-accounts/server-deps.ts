// The server process's dependencies of the HTTP API: its database, the system clock, and one set of per-account
// rate limits (in PostgreSQL when the web edge's limits are, so several instances share each budget). Kept on
// globalThis for the same reason as the database handle (dev-mode module reloads).
import "server-only";
import { systemClock } from "@/server/clock";
import { database } from "@/server/db";
import { env } from "@/server/env";
import type { ApiDeps } from "./http";
import { openServiceRateLimits, type ServiceRateLimits } from "./rate-limit";

const holder = globalThis as typeof globalThis & { __keywardServiceRateLimits?: ServiceRateLimits };

export async function apiDeps(): Promise<ApiDeps> {
  const { db } = await database();
  const config = env();
  holder.__keywardServiceRateLimits ??= openServiceRateLimits({
    databaseUrl: config.databaseUrl,
    store: config.rateLimit.store,
  });
  return { db, clock: systemClock, limits: holder.__keywardServiceRateLimits };
}
