// The tRPC HTTP endpoint behind its edge checks, in the order a refusal is cheapest: a POST from another
// origin, a batch of more than MAX_BATCH calls, a body over the cap — each refused before any procedure runs.
import "server-only";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { appRouter } from "@/server/api/root";
import type { Context } from "@/server/api/trpc";
import { AppError } from "@/server/errors";
import { capBody } from "./body-limit";
import { refuseForeignOrigin } from "./origin";
import { edgeError } from "./responses";

/** Our client batches what one page asks for at once; nothing legitimate sends more. */
export const MAX_BATCH = 10;

export const TRPC_ENDPOINT = "/api/trpc";

export type TrpcEdge = { origin: string; createContext: (request: Request) => Promise<Context> };

function batchSize(url: URL): number {
  if (url.searchParams.get("batch") !== "1") return 1;
  return decodeURIComponent(url.pathname.slice(TRPC_ENDPOINT.length + 1)).split(",").length;
}

export async function handleTrpcRequest(request: Request, edge: TrpcEdge): Promise<Response> {
  const refused = refuseForeignOrigin(request, edge.origin);
  if (refused) return refused;
  const calls = batchSize(new URL(request.url));
  if (calls > MAX_BATCH) {
    return edgeError(
      "TOO_LARGE",
      `This request carries ${calls} calls; at most ${MAX_BATCH} are accepted at once.`,
    );
  }
  const capped = await capBody(request);
  if (capped instanceof Response) return capped;
  return fetchRequestHandler({
    endpoint: TRPC_ENDPOINT,
    req: capped,
    router: appRouter,
    createContext: () => edge.createContext(capped),
    maxBatchSize: MAX_BATCH,
    // Queries may come by POST: the invitation page sends its secret in a body, never in a URL.
    allowMethodOverride: true,
    responseMeta({ errors }) {
      const waits = errors.flatMap((e) =>
        e.cause instanceof AppError && e.cause.retryAfterSeconds !== undefined
          ? [e.cause.retryAfterSeconds]
          : [],
      );
      return waits.length > 0 ? { headers: new Headers({ "Retry-After": String(Math.max(...waits)) }) } : {};
    },
  });
}
