// What anyone may fetch without signing in (issue 15 item 2): the audit log's signed checkpoints, so that a
// regulator or a second firm acting as witness can keep the heads they saw and later prove the log only grew.
// The route handlers in app/api/v1/audit/ call these; each request takes one read from the public rate
// budget of its endpoint before anything is read.
import "server-only";
import { asc, gt } from "drizzle-orm";
import { z } from "zod";
import type { DbOrTx } from "@/db/client";
import { auditCheckpoints } from "@/db/schema";
import { database } from "@/server/db";
import { clientAddress } from "@/server/edge/client-address";
import { type RateLimits, rateLimitMessage } from "@/server/edge/rate-limit";
import { edgeError } from "@/server/edge/responses";
import { serverRateLimits } from "@/server/edge/server-limits";
import { env } from "@/server/env";
import { latestCheckpoint } from "./checkpoints";

export type PublicLogDeps = { db: DbOrTx; limits: RateLimits; trustedHops: number };

/** The server process's: its database, the web edge's rate limits, the configured proxy hops. */
export async function publicLogDeps(): Promise<PublicLogDeps> {
  const { db } = await database();
  return { db, limits: await serverRateLimits(), trustedHops: env().trustProxyHops };
}

async function refused(request: Request, deps: PublicLogDeps, endpoint: string): Promise<Response | null> {
  const decision = await deps.limits.consume(
    endpoint,
    clientAddress(request.headers, deps.trustedHops),
    "read",
  );
  if (decision.ok) return null;
  return edgeError("RATE_LIMITED", rateLimitMessage(decision), {
    "Retry-After": String(decision.retryAfterSeconds),
  });
}

/** GET /api/v1/audit/checkpoint: the newest signed checkpoint, as the signed note itself (text/plain). */
export async function getLatestCheckpoint(request: Request, deps: PublicLogDeps): Promise<Response> {
  const refusal = await refused(request, deps, "audit.checkpoint");
  if (refusal) return refusal;
  const latest = await latestCheckpoint(deps.db);
  if (latest === null)
    return edgeError(
      "NOT_FOUND",
      "The audit log has no signed checkpoint yet; one follows its first events.",
    );
  return new Response(latest.note, {
    headers: { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store" },
  });
}

const listQuery = z.object({
  /** Checkpoints of a larger size than this one (0: from the first). */
  after: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
});

/**
 * GET /api/v1/audit/checkpoints?after=<size>&limit=<n>: every signed checkpoint, oldest first, with the time
 * it was signed and the verifier key it verifies under; `next` is the `after` of the following page.
 */
export async function listCheckpoints(request: Request, deps: PublicLogDeps): Promise<Response> {
  const refusal = await refused(request, deps, "audit.checkpoints");
  if (refusal) return refusal;
  const url = new URL(request.url);
  const parsed = listQuery.safeParse(Object.fromEntries(url.searchParams));
  if (!parsed.success)
    return edgeError("BAD_INPUT", "after is a tree size (0 or more) and limit a number from 1 to 1,000.");
  const { after, limit } = parsed.data;
  const rows = await deps.db
    .select()
    .from(auditCheckpoints)
    .where(gt(auditCheckpoints.size, after))
    .orderBy(asc(auditCheckpoints.size))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  return Response.json(
    {
      checkpoints: page.map((r) => ({
        size: r.size,
        rootHash: Buffer.from(r.rootHash).toString("base64"),
        signedAt: r.signedAt.toISOString(),
        verifierKey: r.verifierKey,
        note: r.note,
      })),
      next: rows.length > limit ? (page[page.length - 1]?.size ?? null) : null,
    },
    { headers: { "Cache-Control": "no-store" } },
  );
}
