// On an https origin, Auth.js's cookies are Secure and carry the __Host- prefix (set from KEYWARD_ORIGIN,
// not guessed from the request). A file of its own: the validated environment is read once per process.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { AUTH_BASE_PATH, handlers } from "@/server/auth/next-auth";
import { closeDatabase } from "@/server/db";
import { handleAuthRequest } from "./auth-handler";
import { memoryRateLimits } from "./rate-limit";

const ORIGIN = "https://keyward.example";
const dataDir = mkdtempSync(path.join(tmpdir(), "keyward-auth-cookies-"));

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

it("sets Secure __Host- cookies even when the request itself arrived over plain http", async () => {
  const response = await handleAuthRequest(new Request("http://127.0.0.1:3000/api/auth/csrf"), {
    origin: ORIGIN,
    basePath: AUTH_BASE_PATH,
    trustedHops: 0,
    limits: async () => memoryRateLimits({ perAddress: 10, total: 10 }),
    handler: handlers.GET,
  });
  expect(response.status).toBe(200);
  const cookies = response.headers.getSetCookie();
  expect(cookies.some((c) => c.startsWith("__Host-authjs.csrf-token=") && /; Secure/i.test(c))).toBe(true);
  expect(cookies.every((c) => /; Secure/i.test(c))).toBe(true);
});
