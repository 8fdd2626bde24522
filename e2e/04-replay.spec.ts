import {
  acceptInvitation,
  appCodeOf,
  CONSOLE_ORIGIN,
  expect,
  invite,
  isPath,
  pageAlert,
  setupCode,
  signIn,
  test,
  trpcMutation,
  trpcQuery,
} from "./fixtures";

const RITA = { name: "Rita Replay", roles: ["approver"] } as const;
const CALLBACK = "/api/auth/callback/webauthn";
const toCallback = isPath(CALLBACK);

test("a sign-in assertion works once: replayed, over HTTP or through the page, it is refused", async ({
  admin,
  newPerson,
}) => {
  const link = await invite(admin.page, RITA);
  const rita = await newPerson();
  const registration = rita.page.waitForRequest((r) =>
    isPath("/api/trpc/invitations.completeAccept")(new URL(r.url())),
  );
  await acceptInvitation(rita.page, link, "Rita's key");
  await expect(rita.page.getByTestId("signed-in-as")).toHaveText("Rita Replay · approver");
  const signOut = async () => {
    await rita.page.getByRole("button", { name: "Sign out" }).click();
    await expect(rita.page).toHaveURL(/\/sign-in$/);
  };

  await signOut();
  const captured = rita.page.waitForRequest((r) => toCallback(new URL(r.url())) && r.method() === "POST");
  await signIn(rita.page, RITA.name);
  const original = new URLSearchParams((await captured).postData() ?? "");
  const assertion = original.get("response");
  expect(assertion).toContain('"type":"public-key"');
  await signOut();
  expect((await trpcQuery(rita.page.request, "auth.me")).status()).toBe(401);

  await test.step("the identical POST body sent again is refused and opens no session", async () => {
    const replay = await rita.page.request.post(CALLBACK, {
      form: Object.fromEntries(original),
      headers: { "X-Auth-Return-Redirect": "1", Origin: CONSOLE_ORIGIN },
    });
    const { url } = await replay.json();
    expect(new URL(url).searchParams.get("code")).toBe("challenge_invalid");
    expect((await trpcQuery(rita.page.request, "auth.me")).status()).toBe(401);
    await rita.page.goto("/tokens");
    await expect(rita.page).toHaveURL(/\/sign-in$/);
  });

  await test.step("a page that sends the old assertion instead of a fresh one shows the refusal", async () => {
    await rita.page.route(toCallback, async (route) => {
      const fresh = new URLSearchParams(route.request().postData() ?? "");
      fresh.set("response", assertion ?? "");
      await route.continue({ postData: fresh.toString() });
    });
    await rita.page.getByRole("button", { name: "Sign in with my token" }).click();
    await expect(pageAlert(rita.page)).toHaveText(
      "This sign-in request was already used or has expired. Tap your key again.",
    );
    expect((await trpcQuery(rita.page.request, "auth.me")).status()).toBe(401);
    await rita.page.unroute(toCallback);
  });

  await test.step("an accepted invitation cannot be accepted again with the same registration", async () => {
    const first = await registration;
    const again = await rita.page.request.post(first.url(), {
      data: first.postDataJSON(),
      headers: { Origin: CONSOLE_ORIGIN },
    });
    expect(again.status()).toBe(409);
    expect(await appCodeOf(again)).toBe("CONFLICT");
    expect(await again.text()).toContain("This invitation was already used. Sign in instead.");
    await admin.page.goto("/members");
    await expect(admin.page.getByTestId(`member-${RITA.name}`)).toHaveCount(1);
  });

  await test.step("the one-time setup code cannot start a second setup", async () => {
    const response = await trpcMutation(rita.page.request, "setup.begin", {
      code: setupCode(),
      name: "Mallory",
    });
    expect(response.status()).toBe(409);
    expect(await appCodeOf(response)).toBe("CONFLICT");
    expect(await response.text()).toContain("Keyward is already set up. Sign in instead.");
  });
});
