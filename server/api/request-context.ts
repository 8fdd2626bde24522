// Builds the tRPC context for a real request: the server's database, the live session, if any, and the
// network client it comes from with the rate budgets it spends.
import "server-only";
import { headers } from "next/headers";
import { currentSession } from "@/server/auth/next-auth";
import { database } from "@/server/db";
import { clientAddress } from "@/server/edge/client-address";
import { serverRateLimits } from "@/server/edge/server-limits";
import { env } from "@/server/env";
import { createContext } from "./trpc";

/** `requestHeaders`: the API route's request; server components read the page request's own headers. */
export async function requestContext(requestHeaders?: Headers) {
  const [{ db, engine }, session, limits, incoming] = await Promise.all([
    database(),
    currentSession(),
    serverRateLimits(),
    requestHeaders ?? headers(),
  ]);
  const address = clientAddress(new Headers(incoming), env().trustProxyHops);
  return createContext({ db, engine, session, edge: { address, limits } });
}
