// The key lifecycle through the key page, each person at their own browser with their own token: an operator
// proposes destroying a key with a waiting period, two approvers approve it by tapping, and the key page says
// when it will be destroyed; an operator cannot cancel, an approver cancels with one tap and the key is back,
// suspended. Then a rotation (the old key's page names its successor) and a revocation whose form refuses an
// empty reason and whose approval makes the key compromised.
import type { Page } from "@playwright/test";
import { expect, type Person, test } from "./fixtures";

async function proposeKey(page: Page, label: string): Promise<string> {
  await page.goto("/keys/new");
  await page.getByLabel("Label").fill(label);
  await page.getByLabel("Curve").selectOption("secp256k1");
  await page.getByLabel(/^Tags/).fill("hot");
  await page.getByRole("button", { name: "Propose for approval" }).click();
  await expect(page).toHaveURL(/\/operations\/[0-9a-f-]{36}$/);
  return page.url().split("/").pop() ?? "";
}

/** Both approvers tap Approve on the operation; the executor then carries it out (the open page shows it). */
async function approveAndExecute(operationId: string, approvers: Person[]): Promise<void> {
  for (const person of approvers) {
    await person.page.goto(`/operations/${operationId}`);
    await person.page.getByRole("button", { name: "Approve" }).click();
    await expect(person.page.getByRole("status")).toContainText("Your approval is recorded");
  }
  for (const person of approvers) {
    await expect(person.page.getByTestId("op-state")).toHaveText("executed", { timeout: 60_000 });
  }
}

async function keyPageOf(person: Person, operationId: string, label: string): Promise<string> {
  await person.page.goto(`/operations/${operationId}`);
  await person.page.getByRole("link", { name: label }).click();
  await expect(person.page).toHaveURL(/\/keys\/[0-9a-f-]{36}$/);
  await expect(person.page.getByRole("heading", { name: label, exact: true })).toBeVisible();
  return person.page.url();
}

test("a destruction approved by the quorum is cancelled by one approver's tap; the key comes back suspended", async ({
  newMember,
}) => {
  const olga = await newMember({ name: "Olga Lifecycle", roles: ["operator"] });
  const pia = await newMember({ name: "Pia Lifecycle", roles: ["approver"] });
  const quinn = await newMember({ name: "Quinn Lifecycle", roles: ["approver"] });
  const label = "Lifecycle hot 1";
  const created = await proposeKey(olga.page, label);
  await approveAndExecute(created, [pia, quinn]);
  const keyUrl = await keyPageOf(olga, created, label);

  await test.step("Olga proposes destroying it after 10 days; a period under 7 is refused in the form", async () => {
    await olga.page.getByRole("button", { name: "Destroy…" }).click();
    const form = olga.page.getByRole("form", { name: "Propose destroying this key" });
    await form.getByLabel(/^Waiting period in days/).fill("3");
    await form.getByRole("button", { name: "Propose destruction" }).click();
    await expect(form.getByText("at least 7 days")).toBeVisible();
    await form.getByLabel(/^Waiting period in days/).fill("10");
    await form.getByRole("button", { name: "Propose destruction" }).click();
    await expect(olga.page.getByTestId("op-title")).toHaveText(`Destroy the key “${label}” after 10 days`);
    await approveAndExecute(olga.page.url().split("/").pop() ?? "", [pia, quinn]);
  });

  await test.step("the key page says when it will be destroyed; the operator cannot cancel", async () => {
    await olga.page.goto(keyUrl);
    const panel = olga.page.getByTestId("key-destruction");
    await expect(panel).toContainText("This key cannot sign. It will be destroyed on every HSM token at");
    await expect(panel.getByRole("button", { name: "Cancel destruction" })).toHaveCount(0);
    await expect(panel).toContainText("An admin or approver can cancel it until it runs.");
  });

  await test.step("Pia cancels with one tap: the key is kept, suspended", async () => {
    await pia.page.goto(keyUrl);
    const panel = pia.page.getByTestId("key-destruction");
    await panel.getByRole("button", { name: "Cancel destruction" }).click();
    await expect(panel.getByText("The destruction is cancelled. The key is suspended.")).toBeVisible();
    await pia.page.reload();
    await expect(pia.page.getByTestId("key-facts")).toContainText("suspended since");
    await expect(pia.page.getByTestId("key-destruction")).toHaveCount(0);
  });
});

test("a rotation names the successor on the old key's page; a revocation needs a reason", async ({
  newMember,
}) => {
  const olga = await newMember({ name: "Olga Rotation", roles: ["operator"] });
  const pia = await newMember({ name: "Pia Rotation", roles: ["approver"] });
  const quinn = await newMember({ name: "Quinn Rotation", roles: ["approver"] });
  const label = "Rotation hot 1";
  const created = await proposeKey(olga.page, label);
  await approveAndExecute(created, [pia, quinn]);
  const keyUrl = await keyPageOf(olga, created, label);

  await test.step("Olga proposes a rotation; once approved the old key is deactivated and names its successor", async () => {
    await olga.page.getByRole("button", { name: "Rotate…" }).click();
    const form = olga.page.getByRole("form", { name: "Propose rotating this key" });
    await form.getByLabel("Successor's label").fill("Rotation hot 2");
    await form.getByRole("button", { name: "Propose rotation" }).click();
    await expect(olga.page.getByTestId("op-title")).toHaveText(`Rotate the key “${label}”`);
    await approveAndExecute(olga.page.url().split("/").pop() ?? "", [pia, quinn]);
    await olga.page.goto(keyUrl);
    await expect(olga.page.getByTestId("key-facts")).toContainText("deactivated since");
    await expect(olga.page.getByTestId("key-destruction")).toContainText(
      "Rotated: succeeded by Rotation hot 2",
    );
    await expect(olga.page.getByRole("button", { name: "Rotate…" })).toHaveCount(0);
  });

  await test.step("a revocation without a reason is refused in the form; with one, approved, the key is compromised", async () => {
    await olga.page.getByRole("button", { name: "Revoke as compromised…" }).click();
    const form = olga.page.getByRole("form", { name: "Propose revoking this key" });
    await form.getByRole("button", { name: "Propose revocation" }).click();
    await expect(form.getByText("say why the key is compromised")).toBeVisible();
    await form.getByLabel("Why is the key compromised?").fill("laptop with the backup stolen");
    await form.getByRole("button", { name: "Propose revocation" }).click();
    await expect(olga.page.getByTestId("op-title")).toHaveText(`Revoke the key “${label}” as compromised`);
    await approveAndExecute(olga.page.url().split("/").pop() ?? "", [pia, quinn]);
    await olga.page.goto(keyUrl);
    await expect(olga.page.getByTestId("key-facts")).toContainText("compromised since");
  });
});
