import { attachToken, expect, setupCode, test } from "./fixtures";

test("the first person becomes admin with the setup code and a token tap", async ({ page }) => {
  await attachToken(page);
  await page.goto("/");
  await expect(page).toHaveURL(/\/setup$/);
  await page.getByLabel("Setup code").fill(setupCode());
  await page.getByLabel("Your name").fill("Ada Admin");
  await page.getByLabel("Name for this token").fill("Ada's YubiKey");
  await page.getByRole("button", { name: /become admin/ }).click();
  await expect(page).toHaveURL(/\/members$/);
  await expect(page.getByTestId("signed-in-as")).toHaveText(/Ada Admin · admin/);
  await expect(page.getByTestId("member-Ada Admin")).toContainText("admin");
});
