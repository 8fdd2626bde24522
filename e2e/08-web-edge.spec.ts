// The web edge as a browser and an attacker's page meet it: security headers on pages, API and static files;
// the console cannot be framed; POSTs from another origin are refused; a spoofed X-Forwarded-For buys no
// fresh rate budget. Last in the suite: it spends the e2e client's rate budget on purpose.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { CONSOLE_ORIGIN, expect, invite, test } from "./fixtures";

/**
 * A hostile site: a real server on another origin of this machine (127.0.0.1 is not localhost to a browser),
 * so Chromium's local-network checks treat it as a neighbour and only Keyward's own answers decide.
 */
let hostile: http.Server;
let EVIL = "";
const HOSTILE_PAGES: Record<string, string> = {
  "/frame": `<h1>Free tokens</h1><iframe id="console" src="${CONSOLE_ORIGIN}/sign-in"></iframe>`,
  // Classic cross-site form posts: no preflight, the browser adds Origin and sends the console's cookies.
  "/post-trpc": `<form id="f" method="POST" enctype="text/plain" action="${CONSOLE_ORIGIN}/api/trpc/auth.signInOptions?batch=1"><input name="x" value="y"></form><script>f.submit()</script>`,
  "/post-callback": `<form id="f" method="POST" action="${CONSOLE_ORIGIN}/api/auth/callback/webauthn"><input name="response" value="{}"></form><script>f.submit()</script>`,
};

test.beforeAll(async () => {
  hostile = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(HOSTILE_PAGES[req.url ?? ""] ?? "<h1>Nothing here</h1>");
  });
  await new Promise<void>((resolve) => hostile.listen(0, "127.0.0.1", resolve));
  EVIL = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
});
test.afterAll(() => new Promise<void>((resolve) => hostile.close(() => resolve())));

function expectSecurityHeaders(headers: Record<string, string>) {
  expect(headers["x-frame-options"]).toBe("DENY");
  expect(headers["x-content-type-options"]).toBe("nosniff");
  expect(headers["referrer-policy"]).toBe("no-referrer");
  expect(headers["permissions-policy"]).toContain("publickey-credentials-get=(self)");
  expect(headers["permissions-policy"]).toContain("publickey-credentials-create=(self)");
  expect(headers["content-security-policy"]).toContain("frame-ancestors 'none'");
  // The e2e console runs on http://localhost: no HSTS there (it is sent when KEYWARD_ORIGIN is https).
  expect(headers["strict-transport-security"]).toBeUndefined();
}

test("pages, the API and static files carry the security headers; pages run only nonced scripts", async ({
  page,
}) => {
  const violations: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/.test(m.text())) violations.push(m.text());
  });
  const response = await page.goto("/sign-in");
  if (!response) throw new Error("no response");
  const headers = response.headers();
  expectSecurityHeaders(headers);
  const nonce = headers["content-security-policy"]?.match(/'nonce-([^']+)'/)?.[1];
  expect(nonce).toBeTruthy();
  expect(headers["content-security-policy"]).toContain("'strict-dynamic'");
  // Next.js put this response's nonce on its own scripts, and the page hydrated (the button works).
  const nonces = await page
    .locator("script")
    .evaluateAll((scripts) => scripts.map((s) => (s as HTMLScriptElement).nonce));
  expect(nonces.length).toBeGreaterThan(0);
  expect(nonces.every((n) => n === nonce)).toBe(true);
  await expect(page.getByRole("button", { name: "Sign in with my token" })).toBeEnabled();
  const second = (await page.goto("/sign-in"))?.headers()["content-security-policy"];
  expect(second).not.toBe(headers["content-security-policy"]);
  expect(violations).toEqual([]);

  const api = await page.request.get("/api/trpc/setup.status");
  expectSecurityHeaders(api.headers());
  expect(api.headers()["content-security-policy"]).toContain("default-src 'none'");

  const script = await page.locator("script[src*='/_next/static/']").first().getAttribute("src");
  if (!script) throw new Error("no static script");
  expectSecurityHeaders((await page.request.get(script)).headers());
});

test("a page on another origin cannot frame the console", async ({ page }) => {
  const served = page.waitForResponse((r) => r.url() === `${CONSOLE_ORIGIN}/sign-in`);
  await page.goto(`${EVIL}/frame`);
  // The console answered the frame's request, with its policy; the browser then refused to show it.
  const response = await served;
  expect(response.headers()["content-security-policy"]).toContain("frame-ancestors 'none'");
  const frame = page.frames().find((f) => f !== page.mainFrame());
  if (!frame) throw new Error("no iframe");
  await expect.poll(() => frame.url()).toBe("chrome-error://chromewebdata/");
  await expect(
    page.frameLocator("#console").getByRole("button", { name: "Sign in with my token" }),
  ).toHaveCount(0);
});

test("POSTs from another origin are refused with 403: from a hostile page, and with a forged header", async ({
  page,
}) => {
  for (const [hostilePage, target] of [
    ["/post-trpc", `${CONSOLE_ORIGIN}/api/trpc/auth.signInOptions?batch=1`],
    ["/post-callback", `${CONSOLE_ORIGIN}/api/auth/callback/webauthn`],
  ]) {
    const answered = page.waitForResponse((r) => r.url() === target);
    await page.goto(`${EVIL}${hostilePage}`);
    const response = await answered;
    expect(response.request().headers().origin).toBe(EVIL);
    expect(response.status()).toBe(403);
    expect(await response.text()).toContain(`Refused: requests from ${EVIL} may not change anything here.`);
  }

  const forged = await page.request.post("/api/trpc/auth.signInOptions?batch=1", {
    data: { 0: { json: null } },
    headers: { Origin: "https://evil.example" },
  });
  expect(forged.status()).toBe(403);
  expect((await forged.json()).error.message).toBe(
    `Refused: requests from https://evil.example may not change anything here. Use the console at ${CONSOLE_ORIGIN}.`,
  );
  const missing = await page.request.post("/api/trpc/auth.signInOptions?batch=1", {
    data: { 0: { json: null } },
  });
  expect(missing.status()).toBe(403);
  const own = await page.request.post("/api/trpc/auth.signInOptions?batch=1", {
    data: { 0: { json: null } },
    headers: { Origin: CONSOLE_ORIGIN },
  });
  expect(own.status()).toBe(200);
});

test("an invitation's secret travels in the fragment: in no request line and no Referer", async ({
  admin,
  newPerson,
}) => {
  const link = await invite(admin.page, { name: "Fiona Fragment", roles: ["auditor"] });
  const secret = new URL(link).hash.slice(1);
  expect(secret.length).toBeGreaterThanOrEqual(20);
  const person = await newPerson();
  const sent: string[] = [];
  person.page.on("request", (r) => {
    // The fragment never goes over the wire; Playwright may still report it with the document's URL.
    const onTheWire = new URL(r.url());
    onTheWire.hash = "";
    sent.push(`${r.method()} ${onTheWire} ${JSON.stringify(r.headers())}`);
  });
  await person.page.goto(link);
  await expect(
    person.page.getByRole("heading", { name: "You are invited to Keyward, Fiona Fragment" }),
  ).toBeVisible();
  await expect(person.page.getByTestId("invitation-roles")).toHaveText("auditor");
  expect(sent.length).toBeGreaterThan(1);
  // Only POST bodies carry it; no URL and no header (Referer included) does.
  expect(sent.filter((line) => line.includes(secret))).toEqual([]);
});

test("the status page hashes only the audit events appended since the last check", async ({ admin }) => {
  const check = admin.page.getByTestId("audit-chain-check");
  const chain = admin.page.getByTestId("audit-chain");
  /** One view: the events in the verified chain, and how many of them this view hashed. */
  async function view(): Promise<{ events: number; hashed: number }> {
    await admin.page.goto("/status");
    await expect(check).toHaveText(/^Checked from the last verified point: \d+ new events hashed\./);
    const hashed = Number((await check.textContent())?.match(/(\d+) new events hashed/)?.[1]);
    const events = Number((await chain.textContent())?.match(/^(\d+) events;/)?.[1]);
    return { events, hashed };
  }
  // Start-up verified the whole trail; this view hashes what signing in appended since.
  const first = await view();
  // The next view hashes exactly what was sealed in between: nothing, unless something ran meanwhile (a
  // session ending in the background, say), and never the whole trail again.
  const second = await view();
  expect(second.hashed).toBe(second.events - first.events);
  expect(second.hashed).toBeLessThan(first.events);
  await admin.page.getByRole("link", { name: "Re-verify the whole trail" }).click();
  await expect(check).toHaveText(/^Whole trail re-hashed\./);
  await expect(admin.page.getByTestId("audit-chain")).toContainText("hash chain intact");
});

test("a spoofed X-Forwarded-For gets no fresh rate budget (no proxy is trusted)", async ({ page }) => {
  // setup.begin (no later spec needs it): each call claims another client address, all come from this one
  // socket. With a fresh budget per claimed address none would ever be refused; the e2e server allows 200 a
  // minute per address (global-setup.ts), so the budget runs out within 201 calls of one minute's window, and
  // within 402 when the calls straddle the end of a window that an earlier setup.begin opened (the window is
  // fixed from its first call: a fast suite reaches this spec about a minute after global set-up). Bad input
  // writes nothing.
  let refused: { status: number; retryAfter: string | undefined; text: string } | undefined;
  for (let i = 1; i <= 402 && !refused; i++) {
    const response = await page.request.post("/api/trpc/setup.begin?batch=1", {
      data: { 0: { json: { code: "not-a-code", name: "Spoofer" } } },
      headers: { Origin: CONSOLE_ORIGIN, "X-Forwarded-For": `198.51.${Math.floor(i / 250)}.${i % 250}` },
    });
    if (response.status() === 429) {
      refused = { status: 429, retryAfter: response.headers()["retry-after"], text: await response.text() };
    } else expect(response.status()).toBe(400);
  }
  expect(refused?.status).toBe(429);
  expect(Number(refused?.retryAfter)).toBeGreaterThan(0);
  expect(refused?.text).toMatch(/Too many requests from your address\. Try again in \d+ s\./);
});
