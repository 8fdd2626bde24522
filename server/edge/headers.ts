// The security headers of every response (pages, API, static files), set by proxy.ts. Pages get a fresh
// script nonce per request: Next.js reads it from the request's Content-Security-Policy header and puts it on
// its own scripts; 'strict-dynamic' then lets those scripts load the chunks they need, and nothing else runs.
import { randomBytes } from "node:crypto";

export function newNonce(): string {
  return randomBytes(18).toString("base64");
}

/** Powerful features: WebAuthn for the console's own pages only, everything else off. */
export const PERMISSIONS_POLICY = [
  "publickey-credentials-get=(self)",
  "publickey-credentials-create=(self)",
  ...[
    "accelerometer",
    "autoplay",
    "camera",
    "display-capture",
    "encrypted-media",
    "fullscreen",
    "geolocation",
    "gyroscope",
    "hid",
    "magnetometer",
    "microphone",
    "midi",
    "payment",
    "picture-in-picture",
    "screen-wake-lock",
    "serial",
    "usb",
    "xr-spatial-tracking",
  ].map((feature) => `${feature}=()`),
].join(", ");

/** The policy of an HTML page: scripts only with this response's nonce (and what they load), no framing. */
export function pagePolicy(nonce: string, https: boolean): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'`,
    `style-src 'self' 'nonce-${nonce}'`,
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    ...(https ? ["upgrade-insecure-requests"] : []),
  ].join("; ");
}

/** API responses are data: they may load nothing and be framed by nobody. */
export const API_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function isApiPath(pathname: string): boolean {
  return pathname === "/api" || pathname.startsWith("/api/");
}

/** Every header but the CSP, which depends on the request (see pagePolicy and API_POLICY). */
export function staticSecurityHeaders(origin: string): Record<string, string> {
  const https = new URL(origin).protocol === "https:";
  return {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    // Also keeps an invitation link's secret out of any request a page makes to another site.
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    ...(https ? { "Strict-Transport-Security": "max-age=63072000; includeSubDomains" } : {}),
  };
}
