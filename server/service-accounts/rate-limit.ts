// Each service account's request budget: `ratePerMinute` requests per rolling minute (rate-limiter-flexible),
// in memory for one instance or in PostgreSQL (table keyward_service_rate_limits) when several instances share
// a database, like the web edge's limits (server/edge/rate-limit.ts). A refused request is answered 429 with
// Retry-After before it reads or writes anything else.
import "server-only";
import pg from "pg";
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRes,
} from "rate-limiter-flexible";

const WINDOW_SECONDS = 60;

export type ServiceRateDecision = { ok: true } | { ok: false; retryAfterSeconds: number };

export type ServiceRateLimits = {
  /** Takes one request from the account's budget of `perMinute`. Never throws for a refusal. */
  consume(accountId: string, perMinute: number): Promise<ServiceRateDecision>;
  close(): Promise<void>;
};

/** One limiter per distinct budget (rate-limiter-flexible fixes points per limiter), made on first use. */
function fromFactory(
  make: (points: number) => Promise<RateLimiterAbstract>,
  close: () => Promise<void>,
): ServiceRateLimits {
  const limiters = new Map<number, Promise<RateLimiterAbstract>>();
  const limiterFor = (points: number) => {
    let limiter = limiters.get(points);
    if (!limiter) {
      limiter = make(points);
      limiter.catch(() => limiters.delete(points));
      limiters.set(points, limiter);
    }
    return limiter;
  };
  return {
    async consume(accountId, perMinute) {
      const limiter = await limiterFor(perMinute);
      try {
        await limiter.consume(accountId);
        return { ok: true };
      } catch (e) {
        // A RateLimiterRes means the budget is spent; an Error means the store failed (not a refusal).
        if (e instanceof RateLimiterRes)
          return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(e.msBeforeNext / 1000)) };
        throw e;
      }
    },
    close,
  };
}

export function memoryServiceRateLimits(): ServiceRateLimits {
  return fromFactory(
    async (points) =>
      new RateLimiterMemory({ keyPrefix: `service-${points}`, points, duration: WINDOW_SECONDS }),
    async () => {},
  );
}

export function postgresServiceRateLimits(url: string): ServiceRateLimits {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on("error", (err) =>
    console.error("[service-rate-limit] idle PostgreSQL connection failed:", err.message),
  );
  // Limiters are created one after another: each may create the table, and concurrent creates can collide.
  let chain: Promise<unknown> = Promise.resolve();
  const make = (points: number) => {
    const next = chain.then(
      () =>
        new Promise<RateLimiterAbstract>((resolve, reject) => {
          const limiter: RateLimiterPostgres = new RateLimiterPostgres(
            {
              storeClient: pool,
              storeType: "pool",
              tableName: "keyward_service_rate_limits",
              keyPrefix: `service-${points}`,
              points,
              duration: WINDOW_SECONDS,
              clearExpiredByTimeout: true,
            },
            (err?: unknown) => (err ? reject(err) : resolve(limiter)),
          );
        }),
    );
    chain = next.catch(() => undefined);
    return next;
  };
  return fromFactory(make, () => pool.end());
}

export function openServiceRateLimits(config: {
  databaseUrl: string | undefined;
  store: "memory" | "postgres";
}): ServiceRateLimits {
  if (config.store === "postgres" && config.databaseUrl) return postgresServiceRateLimits(config.databaseUrl);
  return memoryServiceRateLimits();
}
