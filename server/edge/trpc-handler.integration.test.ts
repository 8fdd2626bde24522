// The tRPC endpoint's edge, over real HTTP requests against a real database: a cross-site POST, a huge batch,
// an oversized body and a client over its budget are refused before any procedure runs, and write nothing.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { count } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { webauthnChallenges } from "@/db/schema";
import { createContext } from "@/server/api/trpc";
import { PUBLIC_MESSAGES } from "@/server/errors";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { clientAddress, installClientAddressHook } from "./client-address";
import { memoryRateLimits, type RateLimits } from "./rate-limit";
import { handleTrpcRequest, MAX_BATCH } from "./trpc-handler";

const ORIGIN = "http://localhost:3000";

beforeAll(() => {
  // webauthnConfig() reads the validated environment; nothing here touches the HSM.
  process.env.AUTH_SECRET = "x".repeat(40);
  process.env.KEYWARD_HSM_PIN = "1234";
  process.env.KEYWARD_DATA_DIR = "/nonexistent-keyward-data";
  process.env.KEYWARD_ORIGIN = ORIGIN;
});

/** A batch of `n` sign-in challenges, as the browser's httpBatchLink sends it. */
function signInBatch(n: number, headers: Record<string, string> = { origin: ORIGIN }) {
  const paths = Array.from({ length: n }, () => "auth.signInOptions").join(",");
  const body = JSON.stringify(
    Object.fromEntries(Array.from({ length: n }, (_, i) => [String(i), { json: null }])),
  );
  return new Request(`${ORIGIN}/api/trpc/${paths}?batch=1`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
}

describe.each(testEngines())("the tRPC web edge on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;
  let limits: RateLimits;
  const handle = (request: Request, trustedHops = 0) =>
    handleTrpcRequest(request, {
      origin: ORIGIN,
      createContext: async (r) =>
        createContext({
          db,
          engine,
          session: null,
          edge: { address: clientAddress(r.headers, trustedHops), limits },
        }),
    });
  const challenges = async () => (await db.select({ n: count() }).from(webauthnChallenges))[0]?.n ?? 0;

  beforeAll(() => {
    db = database();
    limits = memoryRateLimits({ perAddress: 1000, total: 1000 });
  });

  it("serves a same-origin POST", async () => {
    const before = await challenges();
    const response = await handle(signInBatch(1, { origin: ORIGIN, "x-forwarded-for": "10.0.0.1" }));
    expect(response.status).toBe(200);
    expect(await challenges()).toBe(before + 1);
  });

  it.each([
    [
      "another origin",
      { origin: "https://evil.example" },
      "requests from https://evil.example may not change anything",
    ],
    ["no Origin header", {}, "has no Origin header"],
    ["the literal null origin", { origin: "null" }, "requests from null may not change anything"],
  ])("refuses a POST from %s with 403 and writes nothing", async (_, headers, message) => {
    const before = await challenges();
    const response = await handle(signInBatch(1, headers));
    expect(response.status).toBe(403);
    const body = await response.json();
    expect(body.error.code).toBe("FORBIDDEN");
    expect(body.error.message).toContain(message);
    expect(await challenges()).toBe(before);
  });

  it(`refuses a batch of 500 public mutations (413) and accepts ${MAX_BATCH}`, async () => {
    const before = await challenges();
    const huge = await handle(signInBatch(500));
    expect(huge.status).toBe(413);
    expect((await huge.json()).error.message).toBe(
      "This request carries 500 calls; at most 10 are accepted at once.",
    );
    expect(await challenges()).toBe(before);
    const full = await handle(signInBatch(MAX_BATCH));
    expect(full.status).toBe(200);
    expect(await challenges()).toBe(before + MAX_BATCH);
    expect((await handle(signInBatch(MAX_BATCH + 1))).status).toBe(413);
  });

  it("refuses a body over 64 KiB, declared or streamed without a length, before parsing it", async () => {
    const before = await challenges();
    const big = JSON.stringify({ 0: { json: { pad: "a".repeat(70 * 1024) } } });
    const declared = await handle(
      new Request(`${ORIGIN}/api/trpc/auth.signInOptions?batch=1`, {
        method: "POST",
        headers: { origin: ORIGIN, "content-type": "application/json" },
        body: big,
      }),
    );
    expect(declared.status).toBe(413);
    expect((await declared.json()).error.message).toBe("The request body is larger than 64 KiB.");
    const chunk = new TextEncoder().encode("a".repeat(16 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent++;
        if (sent > 100) controller.close();
        else controller.enqueue(chunk);
      },
    });
    const streamed = await handle(
      new Request(`${ORIGIN}/api/trpc/auth.signInOptions?batch=1`, {
        method: "POST",
        headers: { origin: ORIGIN, "content-type": "application/json" },
        body: stream,
        duplex: "half",
      } as RequestInit),
    );
    expect(streamed.status).toBe(413);
    // Reading stopped at the cap: five 16 KiB chunks, not the 1.6 MiB on offer.
    expect(sent).toBeLessThanOrEqual(6);
    expect(await challenges()).toBe(before);
  });

  it("answers a malformed body with the fixed message, not the JSON parser's text", async () => {
    const response = await handle(
      new Request(`${ORIGIN}/api/trpc/setup.begin?batch=1`, {
        method: "POST",
        headers: { origin: ORIGIN, "content-type": "application/json" },
        body: '{"0": {"json": nul',
      }),
    );
    expect(response.status).toBe(400);
    const text = await response.text();
    expect(text).toContain(PUBLIC_MESSAGES.BAD_INPUT);
    expect(text).not.toMatch(/JSON|Unexpected|position|token/);
  });

  describe("rate limits (3 per address, 5 overall, per minute)", () => {
    beforeAll(() => {
      limits = memoryRateLimits({ perAddress: 3, total: 5 });
    });

    it("gives each address its budget, then the overall one runs out; refusals say when and write nothing", async () => {
      const before = await challenges();
      const from = (address: string) =>
        handle(signInBatch(1, { origin: ORIGIN, "x-forwarded-for": address }));
      const a = [
        await from("10.1.0.1"),
        await from("10.1.0.1"),
        await from("10.1.0.1"),
        await from("10.1.0.1"),
      ];
      expect(a.map((r) => r.status)).toEqual([200, 200, 200, 429]);
      const refused = a[3];
      if (!refused) throw new Error("no fourth response");
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(60);
      expect(await refused.text()).toMatch(/Too many requests from your address\. Try again in \d+ s\./);
      const b = [await from("10.1.0.2"), await from("10.1.0.2"), await from("10.1.0.2")];
      expect(b.map((r) => r.status)).toEqual([200, 200, 429]);
      expect(await b[2]?.text()).toMatch(/Too many requests to this server/);
      expect(await challenges()).toBe(before + 5);
    });
  });

  describe("client address over a real socket", () => {
    let server: http.Server;
    let url: string;
    const startServer = (trustedHops: number) =>
      new Promise<void>((resolve) => {
        installClientAddressHook(trustedHops);
        server = http.createServer(async (req, res) => {
          const chunks: Buffer[] = [];
          for await (const c of req) chunks.push(c as Buffer);
          const headers = new Headers();
          for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
          const response = await handle(
            new Request(`${ORIGIN}${req.url}`, { method: req.method, headers, body: Buffer.concat(chunks) }),
            trustedHops,
          );
          res.writeHead(response.status, Object.fromEntries(response.headers));
          res.end(Buffer.from(await response.arrayBuffer()));
        });
        server.listen(0, "127.0.0.1", () => {
          url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
          resolve();
        });
      });
    const post = (forwardedFor: string) =>
      fetch(`${url}/api/trpc/auth.signInOptions?batch=1`, {
        method: "POST",
        headers: { origin: ORIGIN, "content-type": "application/json", "x-forwarded-for": forwardedFor },
        body: JSON.stringify({ 0: { json: null } }),
      });
    afterAll(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

    it("with no trusted proxy, a spoofed X-Forwarded-For gets no fresh budget", async () => {
      limits = memoryRateLimits({ perAddress: 3, total: 1000 });
      await startServer(0);
      const statuses: number[] = [];
      for (let i = 1; i <= 5; i++) statuses.push((await post(`203.0.113.${i}`)).status);
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it("behind one trusted proxy, the address that proxy saw is the client", async () => {
      limits = memoryRateLimits({ perAddress: 3, total: 1000 });
      await startServer(1);
      const statuses: number[] = [];
      // The proxy appends the address it saw; what the client wrote before it is ignored.
      for (let i = 1; i <= 4; i++) statuses.push((await post(`6.6.6.${i}, 198.51.100.7`)).status);
      expect(statuses).toEqual([200, 200, 200, 429]);
      expect((await post("198.51.100.8")).status).toBe(200);
    });
  });
});
