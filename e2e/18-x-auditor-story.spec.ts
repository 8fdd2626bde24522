// An auditor's day (issue 15 item 9): signs in, filters the audit trail down to confirmed withdrawals, follows
// one withdrawal's whole story from proposal to confirmation, exports the period's evidence from Reports,
// and /verify accepts it in the browser with the network off. Runs after e2e/18-withdrawals (the files run in
// name order on one worker), whose withdrawals were mined and confirmed on the local EVM node: it fails,
// rather than passes empty, if none is there.
import { readFile } from "node:fs/promises";
import { expect, test } from "./fixtures";

const day = (d: Date) => d.toISOString().slice(0, 10);

test("an auditor filters the trail, follows a withdrawal from proposal to confirmation, exports the evidence, and /verify accepts it offline", async ({
  newMember,
}) => {
  const auditor = await newMember({ name: "Aldo Auditor", roles: ["auditor"] });
  const { page, context } = auditor;

  await test.step("the trail filtered to confirmed withdrawals", async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit trail" }).click();
    await expect(page.getByRole("heading", { name: "Audit trail", level: 1 })).toBeVisible();
    await page.getByLabel("Action").fill("withdrawal.confirmed");
    await page.getByRole("button", { name: "Filter" }).click();
    await expect(page).toHaveURL(/action=withdrawal\.confirmed/);
    const rows = page.getByTestId("audit-row");
    await expect(rows.first()).toBeVisible();
    const actions = await rows.locator("td:nth-child(3)").allInnerTexts();
    expect(actions.length).toBeGreaterThan(0);
    expect(new Set(actions)).toEqual(new Set(["withdrawal.confirmed"]));
  });

  await test.step("one withdrawal's story, newest first: proposed, signed, broadcast, confirmed", async () => {
    const subject = page.getByTestId("audit-row").first().locator("td:nth-child(5) a");
    const operation = ((await subject.textContent()) ?? "").trim();
    expect(operation).toMatch(/^operation:[0-9a-f-]{36}$/);
    await subject.click();
    await expect(page).toHaveURL(/subject=operation%3A/);
    const rows = page.getByTestId("audit-row");
    await expect(rows.first()).toBeVisible();
    const subjects = await rows.locator("td:nth-child(5)").allInnerTexts();
    expect(new Set(subjects.map((s) => s.trim()))).toEqual(new Set([operation]));
    const story = (await rows.locator("td:nth-child(3)").allInnerTexts()).map((a) => a.trim()).reverse();
    const at = (action: string) => story.indexOf(action);
    for (const action of [
      "operation.proposed",
      "withdrawal.signed",
      "withdrawal.broadcast",
      "withdrawal.confirmed",
    ])
      expect(story, `the story has ${action}`).toContain(action);
    // In the order it happened.
    expect(at("operation.proposed")).toBeLessThan(at("withdrawal.signed"));
    expect(at("withdrawal.signed")).toBeLessThan(at("withdrawal.broadcast"));
    expect(at("withdrawal.broadcast")).toBeLessThan(at("withdrawal.confirmed"));
  });

  const bundle = await test.step("the period's evidence, exported from Reports", async () => {
    await page
      .getByRole("navigation", { name: "Main" })
      .getByRole("link", { name: "Reports", exact: true })
      .click();
    const now = new Date();
    await page.getByLabel(/^From/).fill(day(new Date(now.getTime() - 86_400_000)));
    await page.getByLabel(/^To/).fill(day(new Date(now.getTime() + 86_400_000)));
    await page.getByRole("button", { name: "Choose period" }).click();
    const downloading = page.waitForEvent("download");
    await page.getByTestId("report-evidence").click();
    const download = await downloading;
    return readFile(await download.path(), "utf8");
  });

  await test.step("/verify accepts it with the network off", async () => {
    await page.goto("/verify");
    await context.setOffline(true);
    await page.getByLabel("Evidence bundle (.json)").setInputFiles({
      name: "evidence.json",
      mimeType: "application/json",
      buffer: Buffer.from(bundle, "utf8"),
    });
    await page.getByRole("button", { name: "Verify in this browser" }).click();
    await expect(page.getByTestId("verdict")).toHaveText("Verified: every item checks", { timeout: 60_000 });
    await context.setOffline(false);
  });
});
