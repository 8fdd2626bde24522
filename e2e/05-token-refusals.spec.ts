import type { Page } from "@playwright/test";
import {
  ADMIN,
  acceptInvitation,
  expect,
  credentialIds,
  invite,
  pageAlert,
  type Person,
  relaxUserVerification,
  tapToSignIn,
  test,
  trpcQuery,
} from "./fixtures";

// What Chromium does when Keyward asks for user verification (UV "required"): it refuses client-side, with a
// NotAllowedError within a second or two, for a token without UV, a token whose UV fails, and a U2F key; the
// server never sees a token response, so the page must say in words what went wrong. Each case then replays
// with a client that does not insist on UV (relaxUserVerification), to show the server refuses on its own.
const CLIENT_REFUSAL = /could not verify you with a PIN or fingerprint, which Keyward requires/;

/** Counts the token responses that reach the server for a procedure (registration or sign-in). */
function countPosts(page: Page, path: string) {
  const seen = { count: 0 };
  page.on("request", (r) => {
    if (r.method() === "POST" && r.url().includes(path)) seen.count++;
  });
  return seen;
}

/** The admin's member table, rows as text, once loaded (it is fetched after the page renders). */
async function memberTable(admin: Person) {
  await admin.page.goto("/members");
  await expect(admin.page.getByTestId(`member-${ADMIN.name}`)).toBeVisible();
  return admin.page.getByRole("region", { name: "Member list" }).getByRole("row").allTextContents();
}

async function expectNothingCreated(admin: Person, name: string, before: string[]) {
  expect(await memberTable(admin)).toEqual(before);
  await expect(admin.page.getByTestId(`member-${name}`)).toHaveCount(0);
  await expect(admin.page.getByRole("region", { name: "Open invitations" })).toContainText(name);
}

test("a token without user verification cannot accept an invitation", async ({ admin, newPerson }) => {
  const link = await invite(admin.page, { name: "Nora NoPIN", roles: ["approver"] });
  const before = await memberTable(admin);
  const nora = await newPerson({ hasUserVerification: false, isUserVerified: false });
  const registrations = countPosts(nora.page, "/api/trpc/invitations.completeAccept");

  await acceptInvitation(nora.page, link, "Nora's old key");
  await expect(pageAlert(nora.page)).toHaveText(CLIENT_REFUSAL);
  expect(registrations.count).toBe(0);
  await expectNothingCreated(admin, "Nora NoPIN", before);

  await relaxUserVerification(nora.page, "invitations.beginAccept");
  await acceptInvitation(nora.page, link, "Nora's old key");
  await expect(pageAlert(nora.page)).toHaveText(
    "This token did not verify you (PIN or fingerprint). Keyward requires tokens with user verification: set a PIN on the token and try again.",
  );
  expect(registrations.count).toBe(1);
  await expectNothingCreated(admin, "Nora NoPIN", before);
});

test("a U2F key, a model outside the allow-list, cannot accept an invitation", async ({
  admin,
  newPerson,
}) => {
  const link = await invite(admin.page, { name: "Uma U2F", roles: ["approver"] });
  const before = await memberTable(admin);
  const uma = await newPerson({ protocol: "u2f" });
  const registrations = countPosts(uma.page, "/api/trpc/invitations.completeAccept");

  await acceptInvitation(uma.page, link, "Uma's U2F key");
  await expect(pageAlert(uma.page)).toHaveText(CLIENT_REFUSAL);
  expect(registrations.count).toBe(0);
  await expectNothingCreated(admin, "Uma U2F", before);

  // Without the UV requirement Chromium registers the key; its attestation names the all-zero AAGUID.
  await relaxUserVerification(uma.page, "invitations.beginAccept");
  await acceptInvitation(uma.page, link, "Uma's U2F key");
  await expect(pageAlert(uma.page)).toHaveText(
    "This token model (AAGUID 00000000-0000-0000-0000-000000000000) is not on this console's allow-list of approved hardware tokens. Use an approved token or ask an admin to add the model.",
  );
  expect(registrations.count).toBe(1);
  await expectNothingCreated(admin, "Uma U2F", before);
});

test("a token that fails user verification cannot sign in", async ({ newMember }) => {
  const vic = await newMember({ name: "Vic Verify", roles: ["approver"] });
  await vic.page.getByRole("button", { name: "Sign out" }).click();
  await expect(vic.page).toHaveURL(/\/sign-in$/);
  // The same token, now failing its PIN or fingerprint check.
  await vic.token.cdp.send("WebAuthn.setUserVerified", {
    authenticatorId: vic.token.authenticatorId,
    isUserVerified: false,
  });
  const assertions = countPosts(vic.page, "/api/auth/callback/webauthn");

  await tapToSignIn(vic.page);
  await expect(pageAlert(vic.page)).toHaveText(CLIENT_REFUSAL);
  expect(assertions.count).toBe(0);

  await relaxUserVerification(vic.page, "auth.signInOptions", await credentialIds(vic.token));
  await tapToSignIn(vic.page);
  await expect(pageAlert(vic.page)).toHaveText(
    "Your token did not verify you (PIN or fingerprint). Keyward requires user verification.",
  );
  expect(assertions.count).toBe(1);
  expect((await trpcQuery(vic.page.request, "auth.me")).status()).toBe(401);
  await expect(vic.page.getByTestId("signed-in-as")).toHaveCount(0);
});
