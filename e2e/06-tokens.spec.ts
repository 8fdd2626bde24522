import {
  confirmNext,
  expect,
  pageAlert,
  plugIn,
  signIn,
  tapToSignIn,
  type TokenCredential,
  test,
  trpcQuery,
  unplug,
} from "./fixtures";

const TESS = { name: "Tess Tokens", roles: ["approver"] } as const;
const FIRST = "Tess's key";
const SECOND = "Tess backup";

test("a member adds a second token, signs in with either, and revokes tokens within the rules", async ({
  newMember,
}) => {
  const tess = await newMember(TESS, FIRST);
  const { page } = tess;
  const rows = page.getByTestId("token-row");
  const row = (nickname: string) => rows.filter({ hasText: nickname });
  const signOut = async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await expect(page).toHaveURL(/\/sign-in$/);
  };
  const signedInWith = async (nickname: string) => {
    await page.goto("/tokens");
    await expect(rows.filter({ hasText: "signed in with this" })).toHaveText(new RegExp(`^${nickname}`));
  };
  // One key in the computer at a time, as with real tokens: swapping keeps what the unplugged key holds.
  const held = new Map<string, TokenCredential[]>();
  let plugged = { nickname: FIRST, token: tess.token };
  const swapTo = async (nickname: string) => {
    held.set(plugged.nickname, await unplug(plugged.token));
    plugged = { nickname, token: await plugIn(page, held.get(nickname)) };
  };

  await test.step("Tess registers a second token", async () => {
    await signedInWith(FIRST);
    await expect(rows).toHaveCount(1);
    await swapTo(SECOND);
    await page.getByLabel("Name for the new token").fill(SECOND);
    await page.getByRole("button", { name: "Register another token" }).click();
    await expect(page.getByText(`Token “${SECOND}” added.`)).toBeVisible();
    await expect(rows).toHaveCount(2);
  });

  await test.step("she signs in with either token", async () => {
    await signOut();
    await signIn(page, TESS.name);
    await signedInWith(SECOND);
    await signOut();
    await swapTo(FIRST);
    await signIn(page, TESS.name);
    await signedInWith(FIRST);
  });

  await test.step("revoking the token of her current session signs her out, and it no longer signs in", async () => {
    confirmNext(page, /^Revoke “Tess's key”\? It can never be used again\. You are signed in with it/);
    await row(FIRST).getByRole("button", { name: "Revoke" }).click();
    await expect(page).toHaveURL(/\/sign-in$/);
    await expect(page.getByTestId("signed-in-as")).toHaveCount(0);
    expect((await trpcQuery(page.request, "auth.me")).status()).toBe(401);
    await tapToSignIn(page);
    await expect(pageAlert(page)).toHaveText("This token has been revoked. Use another token.");
  });

  await test.step("her last remaining token cannot be revoked by herself", async () => {
    await swapTo(SECOND);
    await signIn(page, TESS.name);
    await signedInWith(SECOND);
    await expect(row(FIRST)).toContainText("revoked");
    await expect(row(FIRST).getByRole("button", { name: "Revoke" })).toHaveCount(0);
    confirmNext(page, /^Revoke “Tess backup”\?/);
    await row(SECOND).getByRole("button", { name: "Revoke" }).click();
    await expect(pageAlert(page)).toHaveText(
      "This is your last token: add another token first, or ask an admin to revoke it.",
    );
    await page.reload();
    await expect(page.getByTestId("signed-in-as")).toHaveText("Tess Tokens · approver");
    await expect(row(SECOND)).not.toContainText("revoked");
  });
});
