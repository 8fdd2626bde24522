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
  // By the nickname itself: another row may name this token too ("approved by a tap of …").
  const row = (nickname: string) =>
    rows.filter({ has: page.getByTestId("token-nickname").filter({ hasText: new RegExp(`^${nickname}$`) }) });
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

  await test.step("Tess adds a second token: a tap of her current token confirms, then the new one registers", async () => {
    await signedInWith(FIRST);
    await expect(rows).toHaveCount(1);
    const tapsBefore = (await plugged.token.credentials())[0]?.signCount ?? 0;
    await page.getByLabel("Name for the new token").fill(SECOND);
    await page.getByRole("button", { name: "Add a token" }).click();
    // The token in the computer now is her current one: it signs the step-up.
    await expect(page.getByRole("status").filter({ hasText: "Now tap the new token" })).toBeVisible();
    await swapTo(SECOND);
    expect(held.get(FIRST)?.[0]?.signCount).toBeGreaterThan(tapsBefore);
    await page.getByRole("button", { name: "Tap the new token" }).click();
    await expect(page.getByText(`Token “${SECOND}” added.`)).toBeVisible();
    await expect(rows).toHaveCount(2);
    // Shown to the owner: which tap approved the new token; the first one came with her invitation.
    await expect(row(SECOND).getByTestId("token-added")).toContainText(`approved by a tap of ${FIRST}`);
    await expect(row(FIRST).getByTestId("token-added")).not.toContainText("approved by");
  });

  await test.step("without a tap of a current token, no token is added", async () => {
    // Only the brand-new, unregistered token is plugged in: it holds no credential the step-up allows.
    await page.getByLabel("Name for the new token").fill("Stranger");
    const stranger = await plugIn(page);
    held.set(plugged.nickname, await unplug(plugged.token));
    plugged = { nickname: "Stranger", token: stranger };
    await page.getByRole("button", { name: "Add a token" }).click();
    await expect(pageAlert(page)).toContainText("Your current token did not confirm the addition.");
    await expect(page.getByRole("button", { name: "Tap the new token" })).toHaveCount(0);
    await expect(rows).toHaveCount(2);
    await swapTo(SECOND);
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
