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
  type TokenOptions,
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

/**
 * Invites `invitee` as an approver, who tries to accept with a token Chromium will not use when Keyward asks
 * for user verification: no registration reaches the server. Then again with a client that does not insist
 * on it, and the server refuses with `serverRefusal`. Neither attempt creates a member; the invitation stays.
 */
async function expectInvitationRefused(
  admin: Person,
  newPerson: (options?: TokenOptions) => Promise<Person>,
  attempt: { invitee: string; token: TokenOptions; tokenName: string; serverRefusal: string },
) {
  const { invitee, tokenName } = attempt;
  const link = await invite(admin.page, { name: invitee, roles: ["approver"] });
  const before = await memberTable(admin);
  const person = await newPerson(attempt.token);
  const registrations = countPosts(person.page, "/api/trpc/invitations.completeAccept");

  await acceptInvitation(person.page, link, tokenName);
  await expect(pageAlert(person.page)).toHaveText(CLIENT_REFUSAL);
  expect(registrations.count).toBe(0);
  await expectNothingCreated(admin, invitee, before);

  await relaxUserVerification(person.page, "invitations.beginAccept");
  await acceptInvitation(person.page, link, tokenName);
  await expect(pageAlert(person.page)).toHaveText(attempt.serverRefusal);
  expect(registrations.count).toBe(1);
  await expectNothingCreated(admin, invitee, before);
}

test("a token without user verification cannot accept an invitation", async ({ admin, newPerson }) => {
  await expectInvitationRefused(admin, newPerson, {
    invitee: "Nora NoPIN",
    token: { hasUserVerification: false, isUserVerified: false },
    tokenName: "Nora's old key",
    serverRefusal:
      "This token did not verify you (PIN or fingerprint). Keyward requires tokens with user verification: set a PIN on the token and try again.",
  });
});

test("a U2F key, a model outside the allow-list, cannot accept an invitation", async ({
  admin,
  newPerson,
}) => {
  await expectInvitationRefused(admin, newPerson, {
    invitee: "Uma U2F",
    token: { protocol: "u2f" },
    tokenName: "Uma's U2F key",
    // Without the UV requirement Chromium registers the key; its attestation names the all-zero AAGUID.
    serverRefusal:
      "This token model is not on this console's allow-list of approved hardware tokens. Use an approved token or ask an admin to add the model. (AAGUID 00000000-0000-0000-0000-000000000000)",
  });
});

test("a token that cannot keep a resident key cannot accept an invitation", async ({ admin, newPerson }) => {
  await expectInvitationRefused(admin, newPerson, {
    invitee: "Rita NoResident",
    token: { hasResidentKey: false },
    tokenName: "Rita's small key",
    // Relaxed, Chromium registers a server-side credential and reports credProps.rk false; the server refuses.
    serverRefusal:
      "This token cannot keep a sign-in key on itself (a discoverable credential, or passkey), which Keyward needs for sign-in without a user name. Use a FIDO2 token with room for another passkey.",
  });
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
