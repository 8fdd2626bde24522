// Rate limits on the public endpoints (public tRPC procedures, the Auth.js sign-in callback): a budget per
// client address and one overall, per endpoint and minute, with rate-limiter-flexible. In memory for one
// instance (a PGlite folder has one owner); in PostgreSQL when several instances share a database. A refused
// request is answered before any handler runs, so it writes nothing. Reads (public queries such as
// setup.status, asked on every view of the sign-in page) get ten times the budget of writes.
import "server-only";
import pg from "pg";
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRes,
} from "rate-limiter-flexible";
import { ConfigError } from "@/server/config-error";

export type RateDecision =
  | { ok: true }
  | { ok: false; retryAfterSeconds: number; scope: "address" | "overall" };

export type RequestKind = "write" | "read";

export type RateLimits = {
  /** Takes one request from `endpoint`'s budgets for `address`. Never throws for a refusal; it answers one. */
  consume(endpoint: string, address: string, kind?: RequestKind): Promise<RateDecision>;
  close(): Promise<void>;
};

export type RateLimitSettings = { perAddress: number; total: number };

/** The sign-in challenge and the sign-in callback share one budget: one sign-in takes one of each. */
export function endpointOfProcedure(path: string): string {
  return path === "auth.signInOptions" ? "sign-in" : path;
}

const WINDOW_SECONDS = 60;
const READ_FACTOR = 10;

type Budget = { perAddress: RateLimiterAbstract; overall: RateLimiterAbstract };

function fromLimiters(budgets: Record<RequestKind, Budget>, close: () => Promise<void>): RateLimits {
  const take = async (limiter: RateLimiterAbstract, key: string): Promise<number | null> => {
    try {
      await limiter.consume(key);
      return null;
    } catch (e) {
      // The library rejects with a RateLimiterRes when the budget is spent, and with an Error when its store fails.
      if (e instanceof RateLimiterRes) return Math.max(1, Math.ceil(e.msBeforeNext / 1000));
      throw e;
    }
  };
  return {
    async consume(endpoint, address, kind = "write") {
      const { perAddress, overall } = budgets[kind];
      const addressWait = await take(perAddress, `${endpoint}|${address}`);
      if (addressWait !== null) return { ok: false, retryAfterSeconds: addressWait, scope: "address" };
      const overallWait = await take(overall, endpoint);
      if (overallWait !== null) return { ok: false, retryAfterSeconds: overallWait, scope: "overall" };
      return { ok: true };
    },
    close,
  };
}

export function memoryRateLimits(settings: RateLimitSettings): RateLimits {
  const limiter = (keyPrefix: string, points: number) =>
    new RateLimiterMemory({ keyPrefix, points, duration: WINDOW_SECONDS });
  return fromLimiters(
    {
      write: {
        perAddress: limiter("address", settings.perAddress),
        overall: limiter("overall", settings.total),
      },
      read: {
        perAddress: limiter("read-address", settings.perAddress * READ_FACTOR),
        overall: limiter("read-overall", settings.total * READ_FACTOR),
      },
    },
    async () => {},
  );
}

/** The library creates its own table (keyward_rate_limits) on first use; it holds counters only. */
function postgresLimiter(pool: pg.Pool, keyPrefix: string, points: number): Promise<RateLimiterPostgres> {
  return new Promise((resolve, reject) => {
    const limiter: RateLimiterPostgres = new RateLimiterPostgres(
      {
        storeClient: pool,
        storeType: "pool",
        tableName: "keyward_rate_limits",
        keyPrefix,
        points,
        duration: WINDOW_SECONDS,
        clearExpiredByTimeout: true,
      },
      (err?: unknown) => (err ? reject(err) : resolve(limiter)),
    );
  });
}

export async function postgresRateLimits(url: string, settings: RateLimitSettings): Promise<RateLimits> {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on("error", (err) => console.error("[rate-limit] idle PostgreSQL connection failed:", err.message));
  try {
    // One after the other: all create the same table, and concurrent CREATE TABLE IF NOT EXISTS can collide.
    const write = {
      perAddress: await postgresLimiter(pool, "address", settings.perAddress),
      overall: await postgresLimiter(pool, "overall", settings.total),
    };
    const read = {
      perAddress: await postgresLimiter(pool, "read-address", settings.perAddress * READ_FACTOR),
      overall: await postgresLimiter(pool, "read-overall", settings.total * READ_FACTOR),
    };
    return fromLimiters({ write, read }, () => pool.end());
  } catch (e) {
    await pool.end();
    throw e;
  }
}

export type RateLimitEnv = {
  databaseUrl: string | undefined;
  rateLimit: RateLimitSettings & { store: "memory" | "postgres" };
};

export function openRateLimits(config: RateLimitEnv): Promise<RateLimits> {
  if (config.rateLimit.store === "memory") return Promise.resolve(memoryRateLimits(config.rateLimit));
  if (!config.databaseUrl) {
    return Promise.reject(new ConfigError("KEYWARD_RATE_LIMIT_STORE=postgres needs DATABASE_URL"));
  }
  return postgresRateLimits(config.databaseUrl, config.rateLimit);
}

/** A refusal's text for people: which budget, and when to try again. */
export function rateLimitMessage(decision: {
  retryAfterSeconds: number;
  scope: "address" | "overall";
}): string {
  const who = decision.scope === "address" ? "from your address" : "to this server";
  return `Too many requests ${who}. Try again in ${decision.retryAfterSeconds} s.`;
}
