// How an open live stream (a tRPC subscription over Server-Sent Events) stays open and is known to be alive:
// the server sends a ping comment whenever it has sent nothing for PING_MS, so a proxy or load balancer that
// closes idle connections (commonly after 30–60 s) never sees an idle one; the browser, told RECONNECT_AFTER_MS
// in the stream's first event, drops a stream that has carried nothing — no snapshot, no ping — for that long
// and opens it again with the id of the last snapshot it holds. Opening it again re-checks the session and the
// roles like any request. Pings carry no data and never re-read anything on the server.
// Never: a reconnect window shorter than two pings (one late ping must not cost a reconnect).

/** A ping after this long without any event on the stream. */
export const PING_MS = 10_000;

/** The browser reconnects a stream that carried nothing for this long: two pings and a half missed. */
export const RECONNECT_AFTER_MS = 25_000;

/** The `sse` settings of initTRPC (server/api/trpc.ts). */
export const SSE_KEEP_ALIVE = {
  ping: { enabled: true, intervalMs: PING_MS },
  client: { reconnectAfterInactivityMs: RECONNECT_AFTER_MS },
} as const;
