import type { NextRequest } from "next/server";
import { AUTH_BASE_PATH, handlers } from "@/server/auth/next-auth";
import { handleAuthRequest } from "@/server/edge/auth-handler";
import { serverRateLimits } from "@/server/edge/server-limits";
import { env } from "@/server/env";

export const dynamic = "force-dynamic";

const behindEdge = (handler: (request: NextRequest) => Promise<Response>) => (request: NextRequest) =>
  handleAuthRequest(request, {
    origin: env().origin,
    basePath: AUTH_BASE_PATH,
    trustedHops: env().trustProxyHops,
    limits: serverRateLimits,
    handler,
  });

export const GET = behindEdge(handlers.GET);
export const POST = behindEdge(handlers.POST);
