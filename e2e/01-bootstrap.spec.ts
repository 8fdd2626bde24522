import { ADMIN, attachToken, becomeFirstAdmin, expect, saveAdminToken, test } from "./fixtures";

test("the first person becomes admin with the setup code and a token tap", async ({ page }) => {
  const token = await attachToken(page);
  await page.goto("/");
  await expect(page).toHaveURL(/\/setup$/);
  await becomeFirstAdmin(page);
  await expect(page).toHaveURL(/\/members$/);
  await expect(page.getByTestId("signed-in-as")).toHaveText(`${ADMIN.name} · admin`);
  await expect(page.getByTestId(`member-${ADMIN.name}`)).toContainText("admin");
  // Later specs sign the admin in with this same token, moved into their own browser contexts.
  await saveAdminToken(token);
});
