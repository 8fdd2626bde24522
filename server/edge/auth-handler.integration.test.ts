// The Auth.js endpoints behind the web edge, with the real next-auth handlers and a real PGlite data folder:
// cross-site POSTs are refused before Auth.js runs, the sign-in callback spends the client's budget, and the
// URLs Auth.js builds come from KEYWARD_ORIGIN whatever Host or X-Forwarded-Host a client sends.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { count } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditEvents, webauthnChallenges } from "@/db/schema";
import { AUTH_BASE_PATH, handlers } from "@/server/auth/next-auth";
import { closeDatabase, database } from "@/server/db";
import { handleAuthRequest } from "./auth-handler";
import { memoryRateLimits, type RateLimits } from "./rate-limit";

const ORIGIN = "http://localhost:3000";
const dataDir = mkdtempSync(path.join(tmpdir(), "keyward-auth-edge-"));
let limits: RateLimits = memoryRateLimits({ perAddress: 1000, total: 1000 });

beforeAll(() => {
  process.env.AUTH_SECRET = "x".repeat(40);
  process.env.KEYWARD_HSM_PIN = "1234";
  process.env.KEYWARD_DATA_DIR = dataDir;
  process.env.KEYWARD_ORIGIN = ORIGIN;
});
afterAll(async () => {
  await closeDatabase();
  rmSync(dataDir, { recursive: true, force: true });
});

const handle = (request: Request, method: "GET" | "POST" = "POST") =>
  handleAuthRequest(request, {
    origin: ORIGIN,
    basePath: AUTH_BASE_PATH,
    trustedHops: 0,
    limits: async () => limits,
    handler: handlers[method],
  });

function callback(headers: Record<string, string>) {
  return new Request(`${ORIGIN}/api/auth/callback/webauthn`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-forwarded-for": "10.0.0.1",
      ...headers,
    },
    body: new URLSearchParams({ response: "{}", csrfToken: "none" }).toString(),
  });
}

async function written() {
  const { db } = await database();
  const [events] = await db.select({ n: count() }).from(auditEvents);
  const [challenges] = await db.select({ n: count() }).from(webauthnChallenges);
  return { events: events?.n ?? 0, challenges: challenges?.n ?? 0 };
}

describe("the Auth.js endpoints behind the web edge", () => {
  it.each([
    ["the sign-in callback from another origin", callback({ origin: "https://evil.example" })],
    ["the sign-in callback without Origin", callback({})],
    [
      "sign-out from another origin",
      new Request(`${ORIGIN}/api/auth/signout`, {
        method: "POST",
        headers: { origin: "https://evil.example" },
      }),
    ],
  ])("refuses %s with 403, before Auth.js runs", async (_, request) => {
    const before = await written();
    const response = await handle(request);
    expect(response.status).toBe(403);
    expect((await response.json()).error.code).toBe("FORBIDDEN");
    expect(await written()).toEqual(before);
  });

  it("hands a same-origin callback to Auth.js (which wants its CSRF token)", async () => {
    const response = await handle(callback({ origin: ORIGIN }));
    expect([302, 200]).toContain(response.status);
    const location = response.headers.get("location") ?? "";
    expect(location.startsWith(`${ORIGIN}/`)).toBe(true);
    expect(location).toContain("error=MissingCSRF");
  });

  it("builds its URLs on KEYWARD_ORIGIN, whatever Host or X-Forwarded-Host the client sends", async () => {
    const response = await handle(
      new Request(`${ORIGIN}/api/auth/providers`, {
        headers: { host: "evil.example", "x-forwarded-host": "evil.example", "x-forwarded-proto": "https" },
      }),
      "GET",
    );
    expect(response.status).toBe(200);
    const providers = await response.json();
    expect(providers.webauthn.callbackUrl).toBe(`${ORIGIN}/api/auth/callback/webauthn`);
    expect(JSON.stringify(providers)).not.toContain("evil.example");
  });

  it("rate-limits the sign-in callback per client address, with Retry-After, before Auth.js runs", async () => {
    limits = memoryRateLimits({ perAddress: 2, total: 1000 });
    const statuses = [];
    for (let i = 0; i < 3; i++)
      statuses.push(await handle(callback({ origin: ORIGIN, "x-forwarded-for": "10.2.0.1" })));
    expect(statuses.map((r) => r.status)).toEqual([302, 302, 429]);
    const refused = statuses[2];
    if (!refused) throw new Error("no third response");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await refused.json()).error.message).toMatch(
      /^Too many requests from your address\. Try again in \d+ s\.$/,
    );
    // Another address still signs in.
    expect((await handle(callback({ origin: ORIGIN, "x-forwarded-for": "10.2.0.2" }))).status).toBe(302);
  });
});
