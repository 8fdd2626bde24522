// The Auth.js endpoints behind the web edge: a POST from another origin is refused, the sign-in callback
// spends the client's sign-in budget, bodies are capped, and Auth.js sees every request rebuilt on
// KEYWARD_ORIGIN (its URL, Host and forwarded headers), so no header a client sends decides its URLs.
// Whatever Auth.js throws is logged and answered with a fixed message.
import "server-only";
import { NextRequest } from "next/server";
import { PUBLIC_MESSAGES } from "@/server/errors";
import { capBody } from "./body-limit";
import { clientAddress } from "./client-address";
import { refuseForeignOrigin } from "./origin";
import { type RateLimits, rateLimitMessage } from "./rate-limit";
import { edgeError } from "./responses";

export type AuthEdge = {
  origin: string;
  basePath: string;
  trustedHops: number;
  limits: () => Promise<RateLimits>;
  /** Auth.js's own handler (GET or POST). */
  handler: (request: NextRequest) => Promise<Response>;
};

/** The request as Auth.js must see it: same path, body and cookies, on KEYWARD_ORIGIN. */
function onOrigin(request: Request, origin: string): NextRequest {
  const url = new URL(request.url);
  const target = new URL(`${url.pathname}${url.search}`, origin);
  const headers = new Headers(request.headers);
  headers.set("host", target.host);
  headers.set("x-forwarded-host", target.host);
  headers.set("x-forwarded-proto", target.protocol.slice(0, -1));
  return new NextRequest(target, { method: request.method, headers, body: request.body, duplex: "half" });
}

export async function handleAuthRequest(request: Request, edge: AuthEdge): Promise<Response> {
  const refused = refuseForeignOrigin(request, edge.origin);
  if (refused) return refused;
  if (request.method === "POST" && new URL(request.url).pathname.startsWith(`${edge.basePath}/callback/`)) {
    const limits = await edge.limits();
    const decision = await limits.consume("sign-in", clientAddress(request.headers, edge.trustedHops));
    if (!decision.ok) {
      return edgeError("RATE_LIMITED", rateLimitMessage(decision), {
        "Retry-After": String(decision.retryAfterSeconds),
      });
    }
  }
  const capped = await capBody(request);
  if (capped instanceof Response) return capped;
  try {
    return await edge.handler(onOrigin(capped, edge.origin));
  } catch (e) {
    console.error("[auth] request failed", e);
    return edgeError("INTERNAL", PUBLIC_MESSAGES.INTERNAL);
  }
}
