// A key made in pre-activation (NIST SP 800-57), through the pages, each person at their own browser with their
// own token: the operator asks for it in the key.create form, two approvers tap, and the key exists but cannot
// sign — its page says so and offers "Propose activation"; two more taps activate it, the key page says active,
// and it offers no activation any more.
import type { Page } from "@playwright/test";
import { expect, type Person, test } from "./fixtures";

const opIdOf = (page: Page) => page.url().split("/").pop() ?? "";

async function approveAndExecute(operationId: string, approvers: Person[]): Promise<void> {
  for (const person of approvers) {
    await person.page.goto(`/operations/${operationId}`);
    await person.page.getByRole("button", { name: "Approve" }).click();
    await expect(person.page.getByRole("status")).toContainText("Your approval is recorded");
  }
  for (const person of approvers)
    await expect(person.page.getByTestId("op-state")).toHaveText("executed", { timeout: 60_000 });
}

test("a key created in pre-activation cannot sign until the quorum activates it from its page", async ({
  newMember,
}) => {
  const olga = await newMember({ name: "Olga Activation", roles: ["operator"] });
  const pia = await newMember({ name: "Pia Activation", roles: ["approver"] });
  const quinn = await newMember({ name: "Quinn Activation", roles: ["approver"] });
  const label = "Cold reserve 13x";
  let created = "";
  let keyUrl = "";

  await test.step("the operator proposes the key in pre-activation; two taps create it", async () => {
    await olga.page.goto("/keys/new");
    await olga.page.getByLabel("Label").fill(label);
    await olga.page.getByLabel("Curve").selectOption("secp256k1");
    await olga.page.getByLabel("Create in pre-activation (activate later, by the quorum)").check();
    await olga.page.getByRole("button", { name: "Propose for approval" }).click();
    await expect(olga.page).toHaveURL(/\/operations\/[0-9a-f-]{36}$/);
    created = opIdOf(olga.page);
    await approveAndExecute(created, [pia, quinn]);
  });

  await test.step("its page says it cannot sign yet and offers activation", async () => {
    await olga.page.goto(`/operations/${created}`);
    await olga.page.getByRole("link", { name: label }).click();
    await expect(olga.page).toHaveURL(/\/keys\/[0-9a-f-]{36}$/);
    keyUrl = olga.page.url();
    await expect(olga.page.getByTestId("key-pre-activation")).toContainText("it cannot sign anything");
    await expect(olga.page.getByTestId("key-facts")).toContainText("pre-activation since");
    await expect(olga.page.getByRole("button", { name: "Propose resuming" })).toHaveCount(0);
    await olga.page.getByRole("button", { name: "Propose activation" }).click();
    await expect(olga.page).toHaveURL(/\/operations\/[0-9a-f-]{36}$/);
  });

  await test.step("two taps activate it; the key page says active and offers no activation", async () => {
    const activation = opIdOf(olga.page);
    await approveAndExecute(activation, [pia, quinn]);
    await olga.page.goto(keyUrl);
    await expect(olga.page.getByTestId("key-pre-activation")).toHaveCount(0);
    await expect(olga.page.getByTestId("key-facts")).toContainText(/(^|[^-])active since/);
    await expect(olga.page.getByRole("button", { name: "Propose activation" })).toHaveCount(0);
  });
});
