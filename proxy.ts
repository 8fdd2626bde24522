// Next.js 16 Proxy (formerly middleware; Node.js runtime): the security headers of every response, and a
// fresh CSP nonce per page request that Next.js reads back from the request's Content-Security-Policy header.
// It must stay cheap: no database, no session; the Origin check, body cap and rate limits live in the API
// route handlers (server/edge), where a refusal can be tested without a browser.
import { type NextRequest, NextResponse } from "next/server";
import { env } from "@/server/env";
import { API_POLICY, isApiPath, newNonce, pagePolicy, staticSecurityHeaders } from "@/server/edge/headers";

export function proxy(request: NextRequest) {
  const { origin } = env();
  const policy = isApiPath(request.nextUrl.pathname)
    ? API_POLICY
    : pagePolicy(newNonce(), new URL(origin).protocol === "https:");
  const requestHeaders = new Headers(request.headers);
  requestHeaders.set("content-security-policy", policy);
  const response = NextResponse.next({ request: { headers: requestHeaders } });
  response.headers.set("Content-Security-Policy", policy);
  for (const [name, value] of Object.entries(staticSecurityHeaders(origin)))
    response.headers.set(name, value);
  return response;
}
