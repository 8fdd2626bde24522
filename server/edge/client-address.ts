// Which client a request comes from, for rate limits. Never a header the client chose unless a proxy we trust
// wrote it: `next start` keeps an X-Forwarded-For the client sent (it only fills the header when absent), so
// the socket hook below rewrites it before Next reads the request.
import dc from "node:diagnostics_channel";
import { isIP } from "node:net";

type RequestStart = {
  request: { headers: Record<string, string | string[] | undefined> };
  socket: { remoteAddress?: string };
};

function isRequestStart(message: unknown): message is RequestStart {
  return typeof message === "object" && message !== null && "request" in message && "socket" in message;
}

/** "::ffff:127.0.0.1" and "127.0.0.1" are one client. */
export function normaliseAddress(address: string): string {
  const trimmed = address.trim();
  return trimmed.startsWith("::ffff:") && isIP(trimmed.slice(7)) === 4 ? trimmed.slice(7) : trimmed;
}

/**
 * The X-Forwarded-For value Keyward's own server leaves for the request: with no trusted proxy, the socket
 * address alone (whatever the client wrote is dropped); behind `trustedHops` proxies, the header as received
 * with the socket address appended, as a proxy would.
 */
export function forwardedFor(
  received: string | string[] | undefined,
  socketAddress: string,
  trustedHops: number,
) {
  if (trustedHops === 0 || received === undefined) return socketAddress;
  return `${Array.isArray(received) ? received.join(", ") : received}, ${socketAddress}`;
}

/**
 * The client address of a request whose X-Forwarded-For was written by `forwardedFor`: the entry `trustedHops`
 * places left of the last one (the last is always our socket's peer). Entries further left were written by
 * whoever is in front of the outermost trusted proxy and prove nothing.
 */
export function clientAddress(headers: Headers, trustedHops: number): string {
  const entries = (headers.get("x-forwarded-for") ?? "")
    .split(",")
    .map((e) => e.trim())
    .filter(Boolean);
  const picked = entries[entries.length - 1 - trustedHops] ?? entries[0];
  return picked && isIP(normaliseAddress(picked)) !== 0 ? normaliseAddress(picked) : "unknown";
}

const holder = globalThis as typeof globalThis & { __keywardSocketHook?: (message: unknown) => void };

/**
 * Rewrites X-Forwarded-For on every incoming HTTP request of this process, before Next.js sees it (the
 * diagnostics channel fires synchronously ahead of the server's "request" event). Installed once at boot.
 */
export function installClientAddressHook(trustedHops: number): void {
  if (holder.__keywardSocketHook) dc.unsubscribe("http.server.request.start", holder.__keywardSocketHook);
  const hook = (message: unknown) => {
    if (!isRequestStart(message)) return;
    const socket = normaliseAddress(message.socket.remoteAddress ?? "unknown");
    message.request.headers["x-forwarded-for"] = forwardedFor(
      message.request.headers["x-forwarded-for"],
      socket,
      trustedHops,
    );
  };
  holder.__keywardSocketHook = hook;
  dc.subscribe("http.server.request.start", hook);
}
