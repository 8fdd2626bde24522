// A policy change shown as a diff with the reachability verdict, through the policy page: the admin opens Policy,
// pastes a changed document, and Preview shows each problem by its field, or the change rule by rule in words
// and whether the members as they are could meet every rule — a rule needing more of a group than hold a live
// token is named with the reason. In setup the admin saves the reachable draft: it is in force, in words and in
// the history, and the next preview shows the rule as changed, clause by clause. An approver sees the policy and
// its history but no draft editor, and policy.preview refuses them.
import type { Page } from "@playwright/test";
import { appCodeOf, expect, test, trpcMutation } from "./fixtures";

const GROUP = "vault-17";
const RULE_ID = "vault-17-withdrawals";

type Doc = { version: number; rules: unknown[]; [k: string]: unknown };

const vaultRule = (approvals: number) => ({
  id: RULE_ID,
  description: "Withdrawals from vault keys",
  match: { kinds: ["withdrawal"], keyTags: [GROUP] },
  require: [{ group: GROUP, approvals }],
});
const withVault = (base: Doc, approvals: number): Doc => ({
  ...base,
  rules: [vaultRule(approvals), ...base.rules],
});

/** Pastes the draft and presses Preview until the page answers (a click during hydration would be lost). */
async function preview(page: Page, text: string) {
  const draft = page.getByLabel("Draft policy (JSON)");
  await expect(async () => {
    await draft.fill(text);
    await page.getByRole("button", { name: "Preview" }).click();
    await expect(
      page
        .getByTestId("draft-preview")
        .or(page.getByTestId("draft-errors"))
        .or(page.getByRole("main").getByRole("alert"))
        .first(),
    ).toBeVisible({ timeout: 5_000 });
  }).toPass({ timeout: 60_000 });
}

test("an admin previews a policy change as a diff with the reachability verdict, and saves it", async ({
  admin,
  newMember,
}) => {
  test.setTimeout(300_000);
  const vera = await newMember({ name: "Vera Vault", roles: ["approver"], groups: [GROUP] });
  await newMember({ name: "Walt Vault", roles: ["approver"], groups: [GROUP] });
  const page = admin.page;
  let original = "";
  let base: Doc = { version: 1, rules: [] };
  let inForce = 0;

  await test.step("the admin opens Policy: the version in force in words, its history, a draft editor", async () => {
    await page.goto("/");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Policy" }).click();
    await expect(page).toHaveURL(/\/policy$/);
    const heading = page.getByTestId("policy-in-force").getByRole("heading", { level: 2 });
    await expect(heading).toHaveText(/^Version \d+ is in force$/);
    inForce = Number((await heading.textContent())?.match(/\d+/)?.[0]);
    await expect(page.getByTestId("policy-in-force")).toContainText("(default)");
    await expect(page.getByTestId(`policy-version-${inForce}`)).toContainText("in force");
    await expect(page.getByTestId("policy-version-1")).toContainText("Setup (the default policy)");
    await expect(page.getByTestId("policy-version-1")).toContainText(/[0-9a-f]{64}/);
    original = await page.getByLabel("Draft policy (JSON)").inputValue();
    base = JSON.parse(original);
    expect(base.version).toBe(inForce);
  });

  await test.step("a draft that is not JSON, or not a valid policy, is refused with the field named", async () => {
    await preview(page, "{ rules: ");
    await expect(page.getByRole("main").getByRole("alert")).toContainText("The draft is not valid JSON");
    await preview(page, JSON.stringify(withVault(base, 0), null, 2));
    await expect(page.getByTestId("draft-errors")).toContainText("rules.0.require.0.approvals");
    await expect(page.getByTestId("draft-errors")).toContainText("A group must give at least 1 approval");
  });

  await test.step("a rule needing 3 of a group where 2 hold a live token: the diff, and the verdict with the reason", async () => {
    await preview(page, JSON.stringify(withVault(base, 3), null, 2));
    const diff = page.getByTestId("policy-diff");
    await expect(diff).toContainText(`Version ${inForce + 1} against version ${inForce}`);
    const rule = page.getByTestId(`diff-rule-${RULE_ID}`);
    await expect(rule).toContainText("added");
    await expect(rule).toContainText(`Withdrawals tagged ${GROUP}`);
    await expect(rule).toContainText(`3 approvals from ${GROUP}`);
    await expect(rule).toContainText("Described as: Withdrawals from vault keys");
    const verdict = page.getByTestId("reachability-verdict");
    await expect(verdict).toHaveAttribute("role", "alert");
    await expect(verdict).toContainText(
      `rule ${RULE_ID} needs 3 approvals from ${GROUP}, but only 2 eligible members of ${GROUP} hold a live token`,
    );
    const propose = page.getByRole("button", { name: "Propose this change" });
    if ((await propose.count()) > 0) await expect(propose).toBeDisabled();
  });

  const live = await test.step("2 of the group: every rule can be met", async () => {
    await preview(page, JSON.stringify(withVault(base, 2), null, 2));
    await expect(page.getByTestId("reachability-verdict")).toHaveText(
      "Every rule can be met by the members as they are now (active, holding a live token).",
    );
    await expect(page.getByTestId("draft-digest")).toHaveText(/^[0-9a-f]{64}$/);
    const propose = page.getByRole("button", { name: "Propose this change" });
    if ((await propose.count()) === 0) return false;
    // Once live, a change is an operation under the quorum; proposing it is another spec's story.
    await expect(propose).toBeEnabled();
    return true;
  });
  test.skip(live, "Keyward is live in this run: a change is proposed, not saved directly");

  await test.step("in setup the admin saves it: in force in words, and in the history by the admin", async () => {
    await page.getByRole("button", { name: `Save as version ${inForce + 1}` }).click();
    await expect(page.getByRole("status").filter({ hasText: "Saved" })).toHaveText(
      `Saved: version ${inForce + 1} is now in force.`,
    );
    const inForceSection = page.getByTestId("policy-in-force");
    await expect(inForceSection.getByRole("heading", { level: 2 })).toHaveText(
      `Version ${inForce + 1} is in force`,
    );
    await expect(inForceSection).toContainText(
      `Withdrawals tagged ${GROUP}: 2 approvals from ${GROUP}; expires after 48 h`,
    );
    const row = page.getByTestId(`policy-version-${inForce + 1}`);
    await expect(row).toContainText("Ada Admin");
    await expect(row).toContainText("in force");
  });

  await test.step("the next draft against it shows the rule changed, clause by clause", async () => {
    await preview(page, JSON.stringify(withVault(base, 1), null, 2));
    const rule = page.getByTestId(`diff-rule-${RULE_ID}`);
    await expect(rule).toContainText("changed");
    await expect(rule.getByTestId("diff-before")).toContainText(`2 approvals from ${GROUP}`);
    await expect(rule.getByTestId("diff-after")).toContainText(`1 approval from ${GROUP}`);
  });

  await test.step("an approver sees the policy and its history, but no draft editor, and preview refuses them", async () => {
    await vera.page.goto("/policy");
    await expect(vera.page.getByTestId("policy-in-force")).toContainText(
      `Version ${inForce + 1} is in force`,
    );
    await expect(vera.page.getByTestId(`policy-version-${inForce + 1}`)).toContainText("Ada Admin");
    await expect(vera.page.getByLabel("Draft policy (JSON)")).toHaveCount(0);
    const refused = await trpcMutation(vera.page.request, "policy.preview", { document: base });
    expect(refused.status()).toBe(403);
    expect(await appCodeOf(refused)).toBe("FORBIDDEN");
  });

  await test.step("the admin puts the previous document back, shown as the rule removed", async () => {
    await page.reload();
    await preview(page, original);
    await expect(page.getByTestId(`diff-rule-${RULE_ID}`)).toContainText("removed");
    await page.getByRole("button", { name: `Save as version ${inForce + 2}` }).click();
    await expect(page.getByRole("status").filter({ hasText: "Saved" })).toHaveText(
      `Saved: version ${inForce + 2} is now in force.`,
    );
  });
});
