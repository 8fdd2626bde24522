// The go-live ceremony through the pages, each person at their own browser with their own token: the first admin
// alone cannot go live (the checklist says why and the Tap button stays disabled); a second admin and three
// approvers join; an approver sees the ceremony but has nothing to tap; each admin taps in their own browser
// context, and the pages left open follow each tap live (no reload); the console shows Live since … in the header
// and on the ceremony page; a direct policy edit is then refused (CONFLICT). Live, Ada drafts a rule on /policy, sees
// the diff and proposes it; two approvers read the change rule by rule on the operation and tap Approve; the policy
// page shows the next version in force with the rule in words. Keyward stays live for the rest of the run: specs after this one see a live installation.
import type { Page } from "@playwright/test";
import { ADMIN, appCodeOf, expect, type Person, test, trpcMutation } from "./fixtures";

const BEA = { name: "Bea Admin", roles: ["admin"] } as const;
const approverNames = ["Ria Approver", "Sam Approver", "Tess Approver"] as const;

function adminRow(page: Page, name: string) {
  return page.getByTestId("go-live-admin").filter({ hasText: name });
}

test("two admins each tap to go live; a direct policy edit is refused; a policy change is proposed, approved by quorum and in force", async ({
  admin,
  newMember,
}, testInfo) => {
  test.setTimeout(300_000);
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

  // Issue 13 item 9: once live, a policy change is an operation. Ada drafts it on /policy and sees the diff,
  // proposes it, two approvers read the change rule by rule on the operation and tap Approve (the rule for
  // policy.update under the policy in force is the default, 2 of the approvers), and the new version is in force.
  const sam = approvers[1];
  if (!sam) throw new Error("no second approver");
  let inForce = 0;
  let operationId = "";
  // The diff lists the clauses as separate items, the operation joins them with "; ", the policy page with ": ".
  const ruleWords = new RegExp(`Withdrawals tagged ${POLICY_TAG}[:;]? ?2 approvals from the approvers`);

  await test.step("Ada drafts a new rule on /policy: the diff names it added, in words, and every rule can be met", async () => {
    await admin.page.goto("/policy");
    const heading = admin.page.getByTestId("policy-in-force").getByRole("heading", { level: 2 });
    await expect(heading).toHaveText(/^Version \d+ is in force$/);
    inForce = Number((await heading.textContent())?.match(/\d+/)?.[0]);
    const base: { version: number; rules: unknown[] } = JSON.parse(
      await admin.page.getByLabel("Draft policy (JSON)").inputValue(),
    );
    expect(base.version).toBe(inForce);
    const draft = { ...base, rules: [policyRule, ...base.rules] };
    await previewDraft(admin.page, JSON.stringify(draft, null, 2));
    await expect(admin.page.getByTestId("policy-diff")).toContainText(
      `Version ${inForce + 1} against version ${inForce}`,
    );
    const rule = admin.page.getByTestId(`diff-rule-${POLICY_RULE_ID}`);
    await expect(rule).toContainText("added");
    await expect(rule).toContainText(ruleWords);
    await expect(admin.page.getByTestId("reachability-verdict")).toHaveText(
      "Every rule can be met by the members as they are now (active, holding a live token).",
    );
    await expect(admin.page.getByRole("button", { name: `Save as version ${inForce + 1}` })).toHaveCount(0);
  });

  await test.step("Ada proposes it: an operation under the rule for policy changes, the change rule by rule", async () => {
    await admin.page.getByRole("button", { name: "Propose this change" }).click();
    await expect(admin.page).toHaveURL(/\/operations\/[0-9a-f-]{36}$/);
    operationId = admin.page.url().split("/").pop() ?? "";
    await expect(admin.page.getByTestId("op-title")).toHaveText(
      `Change the policy from version ${inForce} to ${inForce + 1}`,
    );
    const lines = admin.page.getByTestId("op-lines");
    await expect(lines).toContainText(`Rule “${POLICY_RULE_ID}” added`);
    await expect(lines).toContainText(ruleWords);
    await expect(lines).toContainText(
      `version ${inForce + 1} comes into force in place of version ${inForce}`,
    );
    await expect(admin.page.getByTestId("op-reasons")).toContainText(
      "needs 2 more approvals from the approvers",
    );
    await expect(admin.page.getByRole("button", { name: "Approve" })).toHaveCount(0);
  });

  await test.step("Ria opens it, reads the change and taps Approve: one of two", async () => {
    await ria.page.goto(`/operations/${operationId}`);
    await expect(ria.page.getByTestId("op-lines")).toContainText(`Rule “${POLICY_RULE_ID}” added`);
    await expect(ria.page.getByTestId("op-lines")).toContainText(ruleWords);
    await ria.page.getByRole("button", { name: "Approve" }).click();
    await expect(ria.page.getByRole("status").filter({ hasText: "approval" })).toHaveText(
      "Your approval is recorded.",
    );
    await expect(ria.page.getByTestId("op-tally")).toContainText("1 of 2 from approvers");
  });

  await test.step("Sam approves too: the quorum is met and the change executes, live on Ada's open page", async () => {
    await sam.page.goto(`/operations/${operationId}`);
    await expect(sam.page.getByTestId("op-lines")).toContainText(`Rule “${POLICY_RULE_ID}” added`);
    await sam.page.getByRole("button", { name: "Approve" }).click();
    await expect(sam.page.getByRole("status").filter({ hasText: "approval" })).toHaveText(
      /Your approval is recorded: the operation is approved\./,
    );
    for (const page of [sam.page, admin.page])
      await expect(page.getByTestId("op-state")).toHaveText("executed", { timeout: 30_000 });
  });

  await test.step("the policy page shows the new version in force, the rule in words, by this operation", async () => {
    await admin.page.goto("/policy");
    const inForceSection = admin.page.getByTestId("policy-in-force");
    await expect(inForceSection.getByRole("heading", { level: 2 })).toHaveText(
      `Version ${inForce + 1} is in force`,
    );
    await expect(inForceSection).toContainText(ruleWords);
    await expect(admin.page.getByTestId(`policy-version-${inForce + 1}`)).toContainText("in force");
    await ria.page.goto("/policy");
    await expect(ria.page.getByTestId("policy-in-force")).toContainText(`Version ${inForce + 1} is in force`);
    await admin.page.screenshot({ path: testInfo.outputPath("policy-by-quorum.png"), fullPage: true });
  });
});

const POLICY_TAG = "vault-19";
const POLICY_RULE_ID = "vault-19-withdrawals";
const policyRule = {
  id: POLICY_RULE_ID,
  description: "Withdrawals from vault-19 keys",
  match: { kinds: ["withdrawal"], keyTags: [POLICY_TAG] },
  require: [{ group: "approvers", approvals: 2 }],
};

/** Pastes the draft and presses Preview until the page answers (a click during hydration would be lost). */
async function previewDraft(page: Page, text: string) {
  const draft = page.getByLabel("Draft policy (JSON)");
  await expect(async () => {
    await draft.fill(text);
    await page.getByRole("button", { name: "Preview" }).click();
    await expect(page.getByTestId("draft-preview").or(page.getByTestId("draft-errors")).first()).toBeVisible({
      timeout: 5_000,
    });
  }).toPass({ timeout: 60_000 });
  await expect(page.getByTestId("draft-preview")).toBeVisible();
}
