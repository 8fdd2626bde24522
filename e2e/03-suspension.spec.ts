import { confirmNext, expect, pageAlert, signIn, test, trpcQuery } from "./fixtures";

const SAM = { name: "Sam Suspended", roles: ["approver"], groups: ["treasury"] } as const;

test("suspending an approver ends their session at once, and their token works again only after reactivation", async ({
  admin,
  newMember,
}) => {
  // Context B: Sam, signed in with his token. Context A: the admin.
  const sam = await newMember(SAM);
  await expect(sam.page.getByTestId("signed-in-as")).toHaveText("Sam Suspended · approver");
  const samRow = admin.page.getByTestId(`member-${SAM.name}`);

  await test.step("the admin suspends Sam", async () => {
    await admin.page.goto("/members");
    confirmNext(admin.page, /^Suspend Sam Suspended\? Their sessions end at once\.$/);
    await samRow.getByRole("button", { name: "Suspend" }).click();
    await expect(admin.page.getByText("Sam Suspended is suspended.")).toBeVisible();
    await expect(samRow.getByRole("cell").nth(4)).toHaveText("suspended");
  });

  await test.step("Sam's next navigation shows the sign-in page: his session has ended", async () => {
    await sam.page.goto("/tokens");
    await expect(sam.page).toHaveURL(/\/sign-in$/);
    await expect(sam.page.getByTestId("signed-in-as")).toHaveCount(0);
    expect((await trpcQuery(sam.page.request, "auth.me")).status()).toBe(401);
  });

  await test.step("Sam's token is refused while he is suspended", async () => {
    await sam.page.getByRole("button", { name: "Sign in with my token" }).click();
    await expect(pageAlert(sam.page)).toHaveText(
      "Your membership is suspended. Ask an admin to reactivate it.",
    );
    await expect(sam.page).toHaveURL(/\/sign-in$/);
    expect((await trpcQuery(sam.page.request, "auth.me")).status()).toBe(401);
  });

  await test.step("the admin reactivates Sam, who signs in again with the same token", async () => {
    await samRow.getByRole("button", { name: "Reactivate" }).click();
    await expect(admin.page.getByText("Sam Suspended is active again.")).toBeVisible();
    await expect(samRow.getByRole("cell").nth(4)).toHaveText("active");
    await signIn(sam.page, SAM.name);
    await expect(sam.page.getByTestId("signed-in-as")).toHaveText("Sam Suspended · approver");
    expect((await trpcQuery(sam.page.request, "auth.me")).status()).toBe(200);
  });
});
