// Quorum key creation through the pages, each person at their own browser with their own token: an operator
// proposes a key, two approvers see it arrive in their open inbox (live: tRPC subscriptions, no reload and no
// navigation after the proposal), each taps Approve, and the open operation pages and the operator's open keys
// list move to the active key by themselves once the executor's one-second sweep has made it on the HSM. Then
// the rejection path (one rejection ends it under the default rule, live on the other approver's page) and the
// initiator's cancel.
import type { Page } from "@playwright/test";
import { confirmNext, expect, type Person, test } from "./fixtures";

const OLGA = { name: "Olga Operator", roles: ["operator"] } as const;
const PIA = { name: "Pia Approver", roles: ["approver"] } as const;
const QUINN = { name: "Quinn Approver", roles: ["approver"] } as const;

/** Fills the key.create form and proposes; returns the new operation's id from the page it lands on. */
async function proposeKey(page: Page, label: string, tags: string): Promise<string> {
  await page.goto("/keys/new");
  await page.getByLabel("Label").fill(label);
  await page.getByLabel("Curve").selectOption("ed25519");
  await page.getByLabel(/^Tags/).fill(tags);
  await page.getByRole("button", { name: "Propose for approval" }).click();
  await expect(page).toHaveURL(/\/operations\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId("op-title")).toHaveText(`Create the key “${label}”`);
  return page.url().split("/").pop() ?? "";
}

function inboxRow(page: Page, label: string) {
  return page.getByTestId("op-row").filter({ hasText: `Create the key “${label}”` });
}

async function openFromInbox(person: Person, label: string): Promise<void> {
  await inboxRow(person.page, label).getByRole("link").click();
  await expect(person.page.getByTestId("op-title")).toHaveText(`Create the key “${label}”`);
}

test("an operator proposes a key, two approvers approve it by tapping, and it becomes active", async ({
  newMember,
}, testInfo) => {
  const olga = await newMember(OLGA);
  const pia = await newMember(PIA);
  const quinn = await newMember(QUINN);
  const label = "Treasury cold 1";
  let operationId = "";

  // Olga watches the keys list in a second tab of her own browser: it must show the key when it is made.
  const olgaKeys = await olga.page.context().newPage();

  await test.step("Pia and Quinn open their inboxes, and Olga her keys list, before anything is proposed", async () => {
    await pia.page.goto("/operations");
    await quinn.page.goto("/operations");
    await expect(inboxRow(quinn.page, label)).toHaveCount(0);
    await olgaKeys.goto("/keys");
    await olgaKeys.getByLabel("Search").fill("treasury cold");
    await olgaKeys.getByRole("button", { name: "Find" }).click();
    await expect(olgaKeys.getByTestId("keys-total")).toHaveText("0 keys");
    for (const page of [pia.page, quinn.page, olgaKeys])
      await expect(page.getByTestId("live-status")).toHaveText("live");
  });

  await test.step("Olga proposes the key with the form; she may cancel but not vote", async () => {
    operationId = await proposeKey(olga.page, label, "treasury, cold");
    await expect(olga.page.getByTestId("live-status")).toHaveText("live");
    const lines = olga.page.getByTestId("op-lines");
    await expect(lines).toContainText("Ed25519 (Solana)");
    await expect(lines).toContainText("treasury, cold");
    await expect(lines).toContainText("never: the private key cannot leave the HSM");
    await expect(olga.page.getByTestId("op-digest")).toHaveText(/^[0-9a-f]{64}$/);
    await expect(olga.page.getByTestId("op-reasons")).toContainText(
      "needs 2 more approvals from the approvers",
    );
    await expect(olga.page.getByRole("button", { name: "Approve" })).toHaveCount(0);
    await expect(olga.page.getByRole("button", { name: "Cancel this operation" })).toBeVisible();
  });

  await test.step("it arrives in both open inboxes without a reload, with its deadline and votes needed", async () => {
    for (const person of [pia, quinn]) {
      const row = inboxRow(person.page, label);
      await expect(row).toContainText(OLGA.name);
      await expect(row.getByTestId("op-tally")).toContainText("0 of 2 from approvers");
      await expect(row.getByTestId("op-tally")).toContainText("your vote");
      await expect(row).toContainText(/in 47 h \d+ min/);
    }
    await pia.page.screenshot({ path: testInfo.outputPath("inbox.png"), fullPage: true });
  });

  await test.step("Pia opens it, reads it and taps Approve", async () => {
    await openFromInbox(pia, label);
    await pia.page.getByRole("button", { name: "Approve" }).click();
    await expect(pia.page.getByRole("status")).toHaveText("Your approval is recorded.");
    await expect(pia.page.getByTestId("op-tally")).toContainText("1 of 2 from approvers");
    await expect(pia.page.getByTestId("vote-row")).toContainText(PIA.name);
    await expect(pia.page.getByTestId("vote-row")).toContainText(`${PIA.name}'s key`);
    await expect(pia.page.getByRole("button", { name: "Approve" })).toHaveCount(0);
    await pia.page.screenshot({ path: testInfo.outputPath("operation-one-vote.png"), fullPage: true });
  });

  await test.step("Quinn's inbox shows Pia's vote on its own; he approves and the quorum is met", async () => {
    await expect(inboxRow(quinn.page, label).getByTestId("op-tally")).toContainText("1 of 2 from approvers");
    await openFromInbox(quinn, label);
    await quinn.page.getByRole("button", { name: "Approve" }).click();
    await expect(quinn.page.getByRole("status")).toHaveText(
      /Your approval is recorded: the operation is approved\./,
    );
  });

  await test.step("the executor makes the key: every open page moves to executed by itself", async () => {
    for (const person of [quinn, pia, olga]) {
      await expect(person.page.getByTestId("op-state")).toHaveText("executed", { timeout: 20_000 });
      await expect(person.page.getByText(`Done: the key ${label} is active.`)).toBeVisible();
    }
    // Olga's keys list, open since before the proposal, shows the new key active without a reload.
    const listed = olgaKeys.getByTestId("key-row").filter({ hasText: label });
    await expect(listed.getByTestId("key-state")).toHaveText("active");
    await expect(olgaKeys.getByTestId("keys-total")).toHaveText("1 key");
    const timeline = pia.page.getByTestId("op-timeline");
    await expect(timeline).toContainText(`proposed by ${OLGA.name}`);
    await expect(timeline).toContainText(`voted by ${PIA.name} (decision approve)`);
    await expect(timeline).toContainText(`voted by ${QUINN.name} (decision approve)`);
    await expect(timeline).toContainText("approved by");
    await expect(timeline).toContainText("executed by system");
    await pia.page.screenshot({ path: testInfo.outputPath("operation-executed.png"), fullPage: true });
    await pia.page.getByRole("link", { name: label }).click();
    await expect(pia.page.getByRole("heading", { name: label })).toBeVisible();
    await expect(pia.page.getByTestId("key-state")).toHaveText("active");
    // The primary token that made it holds it (asked through the HSM pool); nothing is open on it.
    const primary = pia.page.getByTestId("key-token").filter({ hasText: "keyward-e2e (primary)" });
    await expect(primary).toContainText("holds it");
    await expect(pia.page.getByTestId("key-no-operations")).toBeVisible();
  });

  await test.step("the key's page, from the keys list, tells its story", async () => {
    const row = olgaKeys.getByTestId("key-row").filter({ hasText: label });
    await expect(row).toContainText("ed25519");
    await row.getByRole("link", { name: label }).click();
    await expect(olgaKeys.getByTestId("key-public")).toHaveText(/^[0-9a-f]{64}$/);
    await expect(olgaKeys.getByTestId("key-facts")).toContainText("treasury, cold");
    await expect(olgaKeys.getByRole("link", { name: `Create the key “${label}”` })).toHaveAttribute(
      "href",
      `/operations/${operationId}`,
    );
    await expect(olgaKeys.getByTestId("key-lifecycle")).toContainText("key.created by system");
    await olgaKeys.goto("/");
    await expect(olgaKeys.getByTestId("key-counts")).toContainText(/active\s*[1-9]/);
  });
});

test("one rejection ends a proposal under the default rule; the initiator can cancel hers", async ({
  newMember,
}) => {
  const olga = await newMember({ name: "Olga Second", roles: ["operator"] });
  const pia = await newMember({ name: "Pia Second", roles: ["approver"] });
  const quinn = await newMember({ name: "Quinn Second", roles: ["approver"] });
  const label = "Hot wallet 2";

  const operationId = await proposeKey(olga.page, label, "hot");
  await quinn.page.goto(`/operations/${operationId}`);
  await expect(quinn.page.getByRole("button", { name: "Approve" })).toBeVisible();

  await test.step("Pia rejects with a tap: the operation is rejected at once", async () => {
    await pia.page.goto("/");
    await expect(pia.page.getByTestId("waiting-list")).toContainText(`Create the key “${label}”`);
    await pia.page.getByRole("link", { name: `Create the key “${label}”` }).click();
    await pia.page.getByRole("button", { name: "Reject" }).click();
    await expect(pia.page.getByRole("status")).toHaveText(
      "Your rejection is recorded: the operation is rejected.",
    );
    await expect(pia.page.getByTestId("op-state")).toHaveText("rejected");
  });

  await test.step("Quinn's open page shows it rejected and offers no vote any more", async () => {
    await expect(quinn.page.getByTestId("op-state")).toHaveText("rejected");
    await expect(quinn.page.getByRole("button", { name: "Approve" })).toHaveCount(0);
    await quinn.page.goto("/operations");
    await expect(inboxRow(quinn.page, label)).toHaveCount(0);
    await quinn.page.getByLabel("All operations").check();
    await expect(inboxRow(quinn.page, label).getByTestId("op-state")).toHaveText("rejected");
  });

  await test.step("no key was made; a second proposal is cancelled by its initiator", async () => {
    await olga.page.goto("/keys");
    await olga.page.getByLabel("Search").fill(label);
    await olga.page.getByRole("button", { name: "Find" }).click();
    await expect(olga.page.getByTestId("keys-total")).toHaveText("0 keys");
    await proposeKey(olga.page, "Never made", "");
    confirmNext(olga.page, /^Cancel this operation\?/);
    await olga.page.getByRole("button", { name: "Cancel this operation" }).click();
    await expect(olga.page.getByTestId("op-state")).toHaveText("cancelled");
    await expect(olga.page.getByRole("button", { name: "Cancel this operation" })).toHaveCount(0);
  });
});
