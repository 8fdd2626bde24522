// A suspended approver's vote stops counting, through the pages: under the default rule (two approvals from the
// approvers) approver Ana approves, the admin suspends her on the members page, and the operation page's tally
// drops back to 0 of 2 with her vote marked as not counting; Ben's approval leaves it pending (1 of 2) until
// Cal's approval meets the quorum.
import type { Page } from "@playwright/test";
import { confirmNext, expect, type Person, test } from "./fixtures";

const OLA = { name: "Ola Vote-Operator", roles: ["operator"] } as const;
const ANA = { name: "Ana Suspended-Voter", roles: ["approver"] } as const;
const BEN = { name: "Ben Voter", roles: ["approver"] } as const;
const CAL = { name: "Cal Voter", roles: ["approver"] } as const;

async function approveOn(person: Person, operationId: string, outcome: RegExp): Promise<void> {
  await person.page.goto(`/operations/${operationId}`);
  await person.page.getByRole("button", { name: "Approve" }).click();
  await expect(person.page.getByRole("status").filter({ hasText: "Your approval is recorded" })).toHaveText(
    outcome,
  );
}

function voteRow(page: Page, name: string) {
  return page.getByTestId("vote-row").filter({ hasText: name });
}

test("a suspended approver's vote stops counting: the operation waits for two approvals that count", async ({
  admin,
  newMember,
}, testInfo) => {
  test.setTimeout(120_000);
  const ola = await newMember(OLA);
  const ana = await newMember(ANA);
  const ben = await newMember(BEN);
  const cal = await newMember(CAL);
  const label = "Two votes that count";
  let operationId = "";

  await test.step("Ola proposes a key under the default rule: two approvals from the approvers", async () => {
    await ola.page.goto("/keys/new");
    await ola.page.getByLabel("Label").fill(label);
    await ola.page.getByLabel("Curve").selectOption("ed25519");
    await ola.page.getByRole("button", { name: "Propose for approval" }).click();
    await expect(ola.page).toHaveURL(/\/operations\/[0-9a-f-]{36}$/);
    operationId = ola.page.url().split("/").pop() ?? "";
    await expect(ola.page.getByTestId("op-tally")).toContainText("0 of 2 from approvers");
  });

  await test.step("Ana approves: 1 of 2", async () => {
    await approveOn(ana, operationId, /^Your approval is recorded\.$/);
    await expect(ana.page.getByTestId("op-tally")).toContainText("1 of 2 from approvers");
    await expect(voteRow(ana.page, ANA.name)).toContainText("yes");
  });

  await test.step("the admin suspends Ana on the members page", async () => {
    await admin.page.goto("/members");
    const row = admin.page.getByTestId(`member-${ANA.name}`);
    confirmNext(admin.page, new RegExp(`^Suspend ${ANA.name}\\? Their sessions end at once\\.$`));
    await row.getByRole("button", { name: "Suspend" }).click();
    await expect(admin.page.getByText(`${ANA.name} is suspended.`)).toBeVisible();
  });

  await test.step("Ana's vote stops counting: the tally is back to 0 of 2 and says why", async () => {
    await ola.page.goto(`/operations/${operationId}`);
    await expect(ola.page.getByTestId("op-state")).toHaveText("pending");
    await expect(ola.page.getByTestId("op-tally")).toContainText("0 of 2 from approvers");
    await expect(ola.page.getByTestId("op-reasons")).toContainText(
      "needs 2 more approvals from the approvers",
    );
    await expect(voteRow(ola.page, ANA.name)).toContainText("no (voter suspended or no longer an approver)");
    await ola.page.screenshot({ path: testInfo.outputPath("suspended-vote.png"), fullPage: true });
  });

  await test.step("Ben approves: still pending, 1 of 2; Cal approves: the quorum is met", async () => {
    await approveOn(ben, operationId, /^Your approval is recorded\.$/);
    await expect(ben.page.getByTestId("op-state")).toHaveText("pending");
    await expect(ben.page.getByTestId("op-tally")).toContainText("1 of 2 from approvers");
    await expect(ben.page.getByTestId("op-reasons")).toContainText(
      "needs 1 more approval from the approvers",
    );
    await approveOn(cal, operationId, /^Your approval is recorded: the operation is approved\.$/);
    await expect(voteRow(cal.page, ANA.name)).toContainText("no (voter suspended or no longer an approver)");
    await expect(voteRow(cal.page, BEN.name)).toContainText("yes");
    await expect(voteRow(cal.page, CAL.name)).toContainText("yes");
  });
});
