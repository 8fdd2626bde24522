// Live streams over real HTTP (the tRPC endpoint's handler, Server-Sent Events as the browser reads them): the
// first event tells the browser to reconnect a stream that carries nothing for RECONNECT_AFTER_MS; a stream with
// nothing to say carries a ping instead of going silent (so no proxy finds it idle); a session ended while the
// stream is open — here by another pool on PostgreSQL — ends it with UNAUTHORIZED, pings or not, and leaves no
// listener; a snapshot that cannot be read (no such operation) ends it with its own code, NOT_FOUND, never the
// INTERNAL_SERVER_ERROR the browser's link would reconnect to forever.
import { beforeAll, describe, expect, it, vi } from "vitest";
import { createContext } from "@/server/api/trpc";
import type { SessionMember } from "@/server/auth/sessions";
import { endSession } from "@/server/auth/sessions";
import { handleTrpcRequest } from "@/server/edge/trpc-handler";
import { testEngines } from "@/server/testing/test-db";
import { watcherFor } from "./audit-head";
import { PING_MS, RECONNECT_AFTER_MS } from "./keep-alive";
import { useLiveCast } from "./testing/cast";
import { signedIn } from "./testing/subscriptions";

const ORIGIN = "http://localhost:3000";
const T0 = new Date("2026-05-06T10:00:00.000Z");

type SseEvent = { event: string; data: string; id?: string };

/** The events of a text/event-stream body, one at a time, as an EventSource parses them. */
function eventsOf(body: ReadableStream<Uint8Array>) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  return {
    async next(): Promise<SseEvent | null> {
      for (;;) {
        const end = buffer.indexOf("\n\n");
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event: SseEvent = { event: "message", data: "" };
          let fields = 0;
          for (const line of block.split("\n")) {
            if (line === "" || line.startsWith(":")) continue;
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
            fields++;
            if (field === "event") event.event = value;
            else if (field === "data") event.data += value;
            else if (field === "id") event.id = value;
          }
          if (fields > 0) return event;
          continue;
        }
        const { value, done } = await reader.read();
        if (done) return null;
        buffer += decoder.decode(value, { stream: true });
      }
    },
    cancel: () => reader.cancel(),
  };
}

/** The tRPC error code inside a serialized-error event (superjson: { json: shape }). */
function errorCodeOf(event: SseEvent | null): string | undefined {
  if (event?.event !== "serialized-error") return undefined;
  const parsed: { json?: { data?: { code?: string } } } = JSON.parse(event.data);
  return parsed.json?.data?.code;
}

describe.each(testEngines())("live streams over HTTP on %s", (engine) => {
  // Stubbed before the cast is made (env() reads the environment once); the cast's afterAll unstubs it.
  beforeAll(() => {
    vi.stubEnv("KEYWARD_ORIGIN", ORIGIN);
  });
  const cast = useLiveCast(engine, { now: T0, dataDirPrefix: "keyward-live-http-", hookTimeoutMs: 60_000 });

  /** Opens a subscription as the browser's link does: GET, input in the query string. */
  async function open(session: SessionMember, procedure: string, input?: unknown) {
    const query = input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify({ json: input }))}`;
    const response = await handleTrpcRequest(new Request(`${ORIGIN}/api/trpc/${procedure}${query}`), {
      origin: ORIGIN,
      createContext: async () => createContext({ db: cast().db, engine, session, clock: () => T0 }),
    });
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
    if (response.body === null) throw new Error("no body");
    return eventsOf(response.body);
  }

  it("tells the browser when to reconnect, pings an idle stream, and ends it when the session ends", {
    timeout: PING_MS * 3,
  }, async () => {
    const { db, otherDb, auditor } = cast();
    const { session } = await signedIn(db, engine, auditor, T0);
    const stream = await open(session, "restrictions.onStatus");
    const connected = await stream.next();
    expect(connected?.event).toBe("connected");
    expect(JSON.parse(connected?.data ?? "{}")).toEqual({ reconnectAfterInactivityMs: RECONNECT_AFTER_MS });
    const first = await stream.next();
    expect(first?.event).toBe("message");
    expect(first?.id).toMatch(/^\d+$/);
    // Nothing changes: the next event is a ping (after PING_MS), not silence until a proxy cuts the stream.
    expect((await stream.next())?.event).toBe("ping");

    await otherDb.transaction((tx) =>
      endSession(tx, { sessionId: session.sessionId, reason: "revoked", actor: "system", now: T0 }),
    );
    const last = await stream.next();
    expect(errorCodeOf(last)).toBe("UNAUTHORIZED");
    expect(await stream.next()).toBeNull();
    expect(watcherFor(db).listening).toBe(0);
  });

  it("ends a stream whose snapshot names nothing with NOT_FOUND, which the browser does not retry", async () => {
    const { db, auditor } = cast();
    const { session } = await signedIn(db, engine, auditor, T0);
    const stream = await open(session, "operations.onOperation", {
      operationId: "00000000-0000-4000-8000-000000000000",
    });
    expect((await stream.next())?.event).toBe("connected");
    expect(errorCodeOf(await stream.next())).toBe("NOT_FOUND");
    expect(await stream.next()).toBeNull();
  });
});
