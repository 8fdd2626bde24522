// Playwright fixtures: every person works in their own browser context with a CDP virtual authenticator — a
// hardware token that Chromium emulates (ctap2, usb, resident keys, user verification), configurable per
// person. Shared steps (set up, sign in, invite, accept) go through the real pages, never around them.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import {
  type APIRequestContext,
  type APIResponse,
  test as base,
  type BrowserContext,
  type CDPSession,
  expect,
  type Page,
} from "@playwright/test";
import { E2E_PORT } from "../playwright.config";

/** The console's origin: what a browser puts in the Origin header of the console's own POSTs. */
export const CONSOLE_ORIGIN = `http://localhost:${E2E_PORT}`;

export type TokenOptions = {
  protocol?: "ctap2" | "u2f";
  hasUserVerification?: boolean;
  isUserVerified?: boolean;
  hasResidentKey?: boolean;
};

/** A credential as the virtual authenticator exports it, private key included: enough to move it elsewhere. */
export type TokenCredential = {
  credentialId: string;
  isResidentCredential: boolean;
  rpId?: string;
  privateKey: string;
  userHandle?: string;
  signCount: number;
};

export type VirtualToken = {
  cdp: CDPSession;
  authenticatorId: string;
  credentials: () => Promise<TokenCredential[]>;
  addCredentials: (credentials: readonly TokenCredential[]) => Promise<void>;
  remove: () => Promise<void>;
};

// One DevTools session per tab: virtual authenticators belong to the session that added them.
const webauthnSessions = new WeakMap<Page, Promise<CDPSession>>();

function webauthnSession(page: Page): Promise<CDPSession> {
  let session = webauthnSessions.get(page);
  if (!session) {
    session = (async () => {
      const cdp = await page.context().newCDPSession(page);
      await cdp.send("WebAuthn.enable", { enableUI: false });
      return cdp;
    })();
    webauthnSessions.set(page, session);
  }
  return session;
}

/** Plugs a virtual authenticator into the page's tab; taps are simulated automatically. */
export async function attachToken(page: Page, options: TokenOptions = {}): Promise<VirtualToken> {
  const cdp = await webauthnSession(page);
  const protocol = options.protocol ?? "ctap2";
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol,
      ...(protocol === "ctap2" ? { ctap2Version: "ctap2_1" as const } : {}),
      transport: "usb",
      hasResidentKey: options.hasResidentKey ?? protocol === "ctap2",
      hasUserVerification: options.hasUserVerification ?? protocol === "ctap2",
      isUserVerified: options.isUserVerified ?? protocol === "ctap2",
      automaticPresenceSimulation: true,
    },
  });
  return {
    cdp,
    authenticatorId,
    credentials: async () => (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials,
    addCredentials: async (credentials) => {
      for (const credential of credentials)
        await cdp.send("WebAuthn.addCredential", { authenticatorId, credential });
    },
    remove: async () => {
      await cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId });
    },
  };
}

/** Unplugs a token, keeping what it holds (keys and counters) so it can be plugged in again later. */
export async function unplug(token: VirtualToken): Promise<TokenCredential[]> {
  const credentials = await token.credentials();
  await token.remove();
  return credentials;
}

/** Plugs a token into the page: a new one, or one unplugged earlier when given its credentials. */
export async function plugIn(
  page: Page,
  credentials: readonly TokenCredential[] = [],
): Promise<VirtualToken> {
  const token = await attachToken(page);
  await token.addCredentials(credentials);
  return token;
}

export function setupCode(): string {
  const code = process.env.KEYWARD_E2E_SETUP_CODE;
  if (!code) throw new Error("global setup did not provide a setup code");
  return code;
}

/** A person at their own computer: a browser context, a tab, and the token plugged into it. */
export type Person = { context: BrowserContext; page: Page; token: VirtualToken };

export type Invitee = { name: string; roles: readonly string[]; groups?: readonly string[] };

export const ADMIN = { name: "Ada Admin", tokenName: "Ada's YubiKey" } as const;

/** Fills the setup form with the printed code and registers the page's token as the first admin's. */
export async function becomeFirstAdmin(page: Page): Promise<void> {
  await page.goto("/setup");
  await page.getByLabel("Setup code").fill(setupCode());
  await page.getByLabel("Your name").fill(ADMIN.name);
  await page.getByLabel("Name for this token").fill(ADMIN.tokenName);
  await page.getByRole("button", { name: /become admin/ }).click();
}

// The admin's credentials (private key and signature counter) live in a file for the whole run, so every spec
// can plug "the same" token into a fresh context. The counter is written back after each use: the server
// refuses an assertion whose counter does not grow, as it would for a cloned token.
function adminTokenFile(): string {
  const dir = process.env.KEYWARD_E2E_STATE_DIR;
  if (!dir) throw new Error("global setup did not provide a state folder");
  return path.join(dir, "admin-token.json");
}

export async function saveAdminToken(token: VirtualToken): Promise<void> {
  writeFileSync(adminTokenFile(), JSON.stringify(await token.credentials()));
}

function savedAdminCredentials(): TokenCredential[] | null {
  try {
    const saved: TokenCredential[] = JSON.parse(readFileSync(adminTokenFile(), "utf8"));
    return saved;
  } catch (e) {
    if (e instanceof Error && "code" in e && e.code === "ENOENT") return null;
    throw e;
  }
}

/** Opens the sign-in page and taps the token; the caller asserts the outcome. */
export async function tapToSignIn(page: Page): Promise<void> {
  await page.goto("/sign-in");
  await page.getByRole("button", { name: "Sign in with my token" }).click();
}

export async function signIn(page: Page, name: string): Promise<void> {
  await tapToSignIn(page);
  await expect(page.getByTestId("signed-in-as")).toContainText(name);
}

/** Creates an invitation on /members and returns the link shown once. */
export async function invite(page: Page, who: Invitee): Promise<string> {
  await page.goto("/members");
  const form = page.getByRole("region", { name: "Invite a member" });
  const name = form.getByLabel("Name", { exact: true });
  const roles = who.roles.map((role) => form.getByRole("checkbox", { name: new RegExp(`^${role} —`) }));
  // Filled again until the form holds it all: on a loaded machine a click can land while the page is still
  // hydrating, and the checkbox comes back unticked ("Clicking the checkbox did not change its state").
  await expect(async () => {
    await name.fill(who.name);
    for (const role of roles) await role.check({ timeout: 2_000 });
    await form.getByLabel(/Approver groups/).fill((who.groups ?? []).join(", "));
    await expect(name).toHaveValue(who.name, { timeout: 1_000 });
    for (const role of roles) await expect(role).toBeChecked({ timeout: 1_000 });
  }).toPass({ timeout: 30_000 });
  await form.getByRole("button", { name: "Create invitation link" }).click();
  const link = form.getByTestId("invitation-link");
  await expect(link).toHaveValue(/\/invite#[\w-]+$/);
  return link.inputValue();
}

/** Opens an invitation link and taps the token to register it; the caller asserts the outcome. */
export async function acceptInvitation(page: Page, link: string, tokenName: string): Promise<void> {
  await page.goto(link);
  await page.getByLabel("Name for this token").fill(tokenName);
  await page.getByRole("button", { name: "Register my token and join" }).click();
}

/** A URL matcher for one path, whatever the query (next-auth's signIn() posts to ".../webauthn?"). */
export function isPath(pathname: string) {
  return (url: URL) => url.pathname === pathname;
}

/** The page's own error or refusal message (Next.js keeps an empty route announcer with role alert too). */
export function pageAlert(page: Page) {
  return page.getByRole("main").getByRole("alert");
}

type WebAuthnOptionsJSON = {
  userVerification?: string;
  authenticatorSelection?: { userVerification?: string; residentKey?: string; requireResidentKey?: boolean };
  allowCredentials?: Array<{ id: string; type: "public-key" }> | null;
};
type TrpcBatch = Array<{
  result?: { data?: { json: WebAuthnOptionsJSON; meta?: { values?: Record<string, unknown> } } };
}>;

/**
 * Plays a lax or tampered client that does not insist on user verification: rewrites the WebAuthn options a
 * procedure returns so the token answers without verifying its holder, and only the server is left to refuse.
 * User verification and resident keys become "discouraged" (Chromium makes no resident key without UV), and a
 * sign-in names the credentials (Chromium finds no discoverable credential without UV).
 */
export async function relaxUserVerification(
  page: Page,
  procedure: string,
  credentialIds: readonly string[] = [],
) {
  await page.route(isPath(`/api/trpc/${procedure}`), async (route) => {
    const response = await route.fetch();
    const batch: TrpcBatch = await response.json();
    for (const item of batch) {
      const data = item.result?.data;
      if (!data) continue;
      const options = data.json;
      if (options.userVerification) options.userVerification = "discouraged";
      if (options.authenticatorSelection) {
        Object.assign(options.authenticatorSelection, {
          userVerification: "discouraged",
          residentKey: "discouraged",
        });
      }
      if (credentialIds.length > 0) {
        options.allowCredentials = credentialIds.map((id) => ({ id, type: "public-key" }));
        delete data.meta?.values?.allowCredentials;
      }
    }
    await route.fulfill({ response, json: batch });
  });
}

/** The ids of the credentials a token holds, base64url-encoded as WebAuthn options carry them. */
export async function credentialIds(token: VirtualToken): Promise<string[]> {
  return (await token.credentials()).map((c) => Buffer.from(c.credentialId, "base64").toString("base64url"));
}

/** Accepts the next window.confirm() after checking what it asks. */
export function confirmNext(page: Page, question: RegExp): void {
  page.once("dialog", async (dialog) => {
    expect(dialog.message()).toMatch(question);
    await dialog.accept();
  });
}

/** A tRPC query over HTTP as the browser sends it (superjson); the response carries the HTTP status. */
export function trpcQuery(request: APIRequestContext, procedure: string, input?: unknown) {
  const query = input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify({ json: input }))}`;
  return request.get(`/api/trpc/${procedure}${query}`);
}

type TrpcErrorBody = { error?: { json?: { data?: { appCode?: string } } } };

/** The closed error code (UNAUTHENTICATED, FORBIDDEN, CONFLICT…) Keyward puts on a tRPC error, batched or not. */
export async function appCodeOf(response: APIResponse): Promise<string | undefined> {
  const body: TrpcErrorBody | TrpcErrorBody[] = await response.json();
  return (Array.isArray(body) ? body[0] : body)?.error?.json?.data?.appCode;
}

export function trpcMutation(request: APIRequestContext, procedure: string, input?: unknown) {
  // As the console's own pages send it: the server refuses a POST without the console's Origin.
  return request.post(`/api/trpc/${procedure}`, {
    data: { json: input ?? null },
    headers: { Origin: CONSOLE_ORIGIN },
  });
}

/** A policy document as the specs handle it: its version and rules, the rest passed through unchanged. */
export type PolicyDoc = { version: number; rules: unknown[]; [k: string]: unknown };

/** The policy document in force, as the page's own procedure returns it. */
export async function policyInForce(page: Page): Promise<PolicyDoc> {
  const response = await trpcQuery(page.request, "policy.current");
  expect(response.status()).toBe(200);
  const body: { result: { data: { json: { document: PolicyDoc } } } } = await response.json();
  return body.result.data.json.document;
}

/**
 * Saves `document` directly (setup mode, as an admin). False once Keyward is live, when a policy change is an
 * operation under the quorum (another spec's story): the caller skips what needs it.
 */
export async function putInForce(page: Page, document: PolicyDoc): Promise<boolean> {
  const response = await trpcMutation(page.request, "policy.update", { document });
  if (response.status() === 409) return false;
  expect(response.status(), await response.text()).toBe(200);
  return true;
}

type Fixtures = {
  /** Opens a browser context with its own token: one more person at their own computer. */
  newPerson: (options?: TokenOptions) => Promise<Person>;
  /** The first admin, signed in with the token registered at setup (set up here if no spec did it yet). */
  admin: Person;
  /** Invites someone as the admin, and has them accept in their own context and land signed in. */
  newMember: (who: Invitee, tokenName?: string) => Promise<Person>;
};

export const test = base.extend<Fixtures>({
  newPerson: async ({ browser }, use) => {
    const contexts: BrowserContext[] = [];
    await use(async (options) => {
      const context = await browser.newContext();
      contexts.push(context);
      const page = await context.newPage();
      return { context, page, token: await attachToken(page, options) };
    });
    for (const context of contexts) await context.close();
  },

  admin: async ({ newPerson }, use) => {
    const admin = await newPerson();
    const saved = savedAdminCredentials();
    if (saved) {
      await admin.token.addCredentials(saved);
      await signIn(admin.page, ADMIN.name);
    } else {
      await becomeFirstAdmin(admin.page);
      await expect(admin.page.getByTestId("signed-in-as")).toContainText(ADMIN.name);
    }
    await saveAdminToken(admin.token);
    await use(admin);
  },

  newMember: async ({ admin, newPerson }, use) => {
    await use(async (who, tokenName = `${who.name}'s key`) => {
      const link = await invite(admin.page, who);
      const person = await newPerson();
      await acceptInvitation(person.page, link, tokenName);
      await expect(person.page.getByTestId("signed-in-as")).toContainText(who.name);
      return person;
    });
  },
});

export { expect };
