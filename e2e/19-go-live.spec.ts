// The go-live ceremony through the pages, each person at their own browser with their own token: the first admin
// alone cannot go live (the checklist says why and the Tap button stays disabled); a second admin and three
// approvers join; an approver sees the ceremony but has nothing to tap; each admin taps in their own browser
// context, and the pages left open follow each tap live (no reload); the console shows Live since … in the header
// and on the ceremony page; a direct policy edit is then refused (CONFLICT). Keyward stays live for the rest of the run: specs after this one see a live installation.
import type { Page } from "@playwright/test";
import { ADMIN, appCodeOf, expect, type Person, test, trpcMutation } from "./fixtures";

const BEA = { name: "Bea Admin", roles: ["admin"] } as const;
const approverNames = ["Ria Approver", "Sam Approver", "Tess Approver"] as const;

function adminRow(page: Page, name: string) {
  return page.getByTestId("go-live-admin").filter({ hasText: name });
}

test("two admins each tap to go live; the console shows live and a direct policy edit is refused", async ({
  admin,
  newMember,
}, testInfo) => {
  await test.step("Ada alone: setup mode, the checklist names the missing admin, nothing to tap yet", async () => {
    await admin.page.goto("/");
    await expect(admin.page.getByTestId("setup-badge")).toHaveText("Setup mode");
    await expect(admin.page.getByTestId("setup-mode-card")).toContainText("Setup mode");
    await admin.page.goto("/go-live");
    await expect(admin.page.getByTestId("setup-mode")).toBeVisible();
    await expect(admin.page.getByTestId("check-admins")).toHaveAttribute("data-ok", "no");
    await expect(admin.page.getByTestId("go-live-problems")).toContainText(
      "Going live needs at least 2 admins",
    );
    await expect(admin.page.getByRole("button", { name: "Tap to approve going live" })).toBeDisabled();
  });

  const bea = await newMember(BEA);
  const approvers: Person[] = [];
  for (const name of approverNames) approvers.push(await newMember({ name, roles: ["approver"] }));
  const ria = approvers[0];
  if (!ria) throw new Error("no approver");

  await test.step("with two admins and the approvers the checklist is green; an approver has nothing to tap", async () => {
    await admin.page.goto("/go-live");
    await expect(admin.page.getByTestId("check-admins")).toHaveAttribute("data-ok", "yes");
    await expect(admin.page.getByTestId("check-reachability")).toHaveAttribute("data-ok", "yes");
    await expect(admin.page.getByTestId("check-rule-default")).toContainText("2 of the approvers");
    await expect(admin.page.getByTestId("go-live-problems")).toHaveCount(0);
    await expect(adminRow(admin.page, ADMIN.name)).toContainText("not yet");
    await expect(adminRow(admin.page, BEA.name)).toContainText("not yet");
    await ria.page.goto("/go-live");
    await expect(adminRow(ria.page, BEA.name)).toBeVisible();
    await expect(ria.page.getByRole("button", { name: "Tap to approve going live" })).toHaveCount(0);
  });

  await test.step("Ada taps: her approval is recorded, one of two", async () => {
    await admin.page.getByRole("button", { name: "Tap to approve going live" }).click();
    await expect(admin.page.getByText("Your approval is recorded (1 of 2 admins).")).toBeVisible();
    await expect(adminRow(admin.page, ADMIN.name)).toHaveAttribute("data-tapped", "yes");
    await expect(adminRow(admin.page, BEA.name)).toHaveAttribute("data-tapped", "no");
    await expect(admin.page.getByTestId("setup-badge")).toBeVisible();
    await admin.page.screenshot({ path: testInfo.outputPath("go-live-one-tap.png"), fullPage: true });
  });

  await test.step("Ria's open page shows Ada's tap without a reload", async () => {
    await expect(adminRow(ria.page, ADMIN.name)).toHaveAttribute("data-tapped", "yes");
  });

  await test.step("Bea, in her own browser, sees Ada's tap and taps last: Keyward is live", async () => {
    await bea.page.goto("/go-live");
    await expect(adminRow(bea.page, ADMIN.name)).toHaveAttribute("data-tapped", "yes");
    await bea.page.getByRole("button", { name: "Tap to approve going live" }).click();
    await expect(bea.page.getByTestId("installation-live")).toContainText("Live since");
    await expect(bea.page.getByTestId("live-badge")).toHaveText(
      /^Live since \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/,
    );
  });

  await test.step("the pages Ada and Ria had open show it without a reload", async () => {
    await expect(admin.page.getByTestId("installation-live")).toContainText("Live since");
    await expect(ria.page.getByTestId("installation-live")).toBeVisible();
  });

  await test.step("Ada's console shows live everywhere, and a direct policy edit is refused", async () => {
    await admin.page.goto("/");
    await expect(admin.page.getByTestId("live-badge")).toContainText("Live since");
    await expect(admin.page.getByTestId("setup-mode-card")).toHaveCount(0);
    await admin.page.goto("/go-live");
    await expect(admin.page.getByTestId("installation-live")).toBeVisible();
    const refused = await trpcMutation(admin.page.request, "policy.update", {
      document: {
        version: 1,
        rules: [],
        default: {
          id: "default",
          description: "One approval",
          require: [{ group: "approvers", approvals: 1 }],
        },
      },
    });
    expect(refused.status()).toBe(409);
    expect(await appCodeOf(refused)).toBe("CONFLICT");
    expect(JSON.stringify(await refused.json())).toContain("Keyward is live");
    await admin.page.screenshot({ path: testInfo.outputPath("go-live-live.png"), fullPage: true });
  });
});
