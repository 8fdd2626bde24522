import { confirmNext, expect, plugIn, test, trpcMutation, trpcQuery, unplug, type Person } from "./fixtures";

const MO = { name: "Mo Managed", roles: ["approver"] } as const;
const FIRST = "Mo's key";
const SPARE = "Mo spare";

/**
 * Adds a token on the person's own tokens page: the plugged token confirms, then a new one is plugged in and
 * tapped; the first token goes back in afterwards. Screenshots the step between the two taps to `screenshot`.
 */
async function addSpareToken(person: Person, nickname: string, screenshot: string): Promise<void> {
  const { page } = person;
  await page.goto("/tokens");
  await page.getByLabel("Name for the new token").fill(nickname);
  await page.getByRole("button", { name: "Add a token" }).click();
  await expect(page.getByRole("status").filter({ hasText: "Now tap the new token" })).toBeVisible();
  await page.screenshot({ path: screenshot, fullPage: true });
  const current = await unplug(person.token);
  const spare = await plugIn(page);
  await page.getByRole("button", { name: "Tap the new token" }).click();
  await expect(page.getByText(`Token “${nickname}” added.`)).toBeVisible();
  await unplug(spare);
  await plugIn(page, current);
}

test("an admin sees a member's tokens, revokes one, and ends their sessions from the members page", async ({
  admin,
  newMember,
}, testInfo) => {
  const mo = await newMember(MO, FIRST);
  await addSpareToken(mo, SPARE, testInfo.outputPath("tokens-step-up.png"));
  const panel = admin.page.getByRole("region", { name: `Tokens and sessions of ${MO.name}` });
  // By the nickname itself: another row may name this token too ("approved by a tap of …").
  const tokenRow = (nickname: string) =>
    panel
      .getByTestId("member-token-row")
      .filter({
        has: admin.page.getByTestId("token-nickname").filter({ hasText: new RegExp(`^${nickname}$`) }),
      });

  await test.step("the admin opens Mo's panel and sees his tokens and his open session", async () => {
    await admin.page.goto("/members");
    await admin.page
      .getByTestId(`member-${MO.name}`)
      .getByRole("button", { name: "Tokens and sessions" })
      .click();
    await expect(panel.getByTestId("member-token-row")).toHaveCount(2);
    await expect(tokenRow(FIRST)).toContainText("last used");
    await expect(tokenRow(SPARE)).toContainText(`approved by a tap of ${FIRST}`);
    await expect(panel.getByTestId("open-sessions")).toHaveText("1 open session:");
    await expect(panel).toContainText(`signed in with ${FIRST}`);
    await admin.page.screenshot({ path: testInfo.outputPath("admin-panel.png"), fullPage: true });
  });

  await test.step("the admin revokes Mo's spare token", async () => {
    confirmNext(admin.page, new RegExp(`^Revoke “${SPARE}” of ${MO.name}\\? It can never be used again`));
    await tokenRow(SPARE).getByRole("button", { name: "Revoke" }).click();
    await expect(panel.getByRole("status")).toHaveText(
      `Token “${SPARE}” of ${MO.name} revoked; 0 sessions ended.`,
    );
    await expect(tokenRow(SPARE)).toContainText("revoked");
    await expect(tokenRow(SPARE).getByRole("button", { name: "Revoke" })).toHaveCount(0);
    await expect(admin.page.getByTestId(`member-${MO.name}`).getByRole("cell").nth(3)).toHaveText("1");
  });

  await test.step("Mo, an approver, cannot end anyone's sessions or see anyone's tokens", async () => {
    const someone = { memberId: "00000000-0000-4000-8000-000000000001" };
    expect((await trpcMutation(mo.page.request, "members.endSessions", someone)).status()).toBe(403);
    expect((await trpcQuery(mo.page.request, "members.sessions", someone)).status()).toBe(403);
    expect((await trpcQuery(mo.page.request, "tokens.ofMember", someone)).status()).toBe(403);
    expect((await trpcQuery(mo.page.request, "auth.me")).status()).toBe(200);
  });

  await test.step("the admin ends all of Mo's sessions, and Mo's page then asks him to sign in", async () => {
    confirmNext(admin.page, new RegExp(`^End every session of ${MO.name}\\?`));
    await panel.getByRole("button", { name: "End all sessions" }).click();
    await expect(panel.getByRole("status")).toHaveText(`1 session of ${MO.name} ended.`);
    await expect(panel.getByTestId("open-sessions")).toHaveText("No open sessions.");
    await expect(panel.getByRole("button", { name: "End all sessions" })).toBeDisabled();
    await admin.page.screenshot({ path: testInfo.outputPath("admin-panel-after.png"), fullPage: true });

    await mo.page.goto("/tokens");
    await expect(mo.page).toHaveURL(/\/sign-in$/);
    await expect(mo.page.getByTestId("signed-in-as")).toHaveCount(0);
    expect((await trpcQuery(mo.page.request, "auth.me")).status()).toBe(401);
    // The admin's own session is untouched.
    await admin.page.reload();
    await expect(admin.page.getByTestId("signed-in-as")).toContainText("Ada Admin");
  });
});
