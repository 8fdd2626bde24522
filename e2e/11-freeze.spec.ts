// Freeze all signing through the pages, each person at their own browser with their own token: an approver
// freezes with one tap; an operator proposes a key and two approvers approve it, but it stays approved and its
// page says it waits for the freeze; the banner is on every page; the operator proposes lifting the freeze, the
// quorum approves it, and the held key.create is then carried out and its key is active in the keys list.
import type { Page } from "@playwright/test";
import { appCodeOf, confirmNext, expect, type Person, test, trpcMutation } from "./fixtures";

const OTTO = { name: "Otto Freeze-Operator", roles: ["operator"] } as const;
const FAY = { name: "Fay Freezer", roles: ["approver"] } as const;
const GUS = { name: "Gus Approver", roles: ["approver"] } as const;

const BANNER =
  /^Signing is frozen since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by Fay Freezer: no operation is carried out until the quorum lifts it\./;

async function approveOn(person: Person, operationId: string, outcome: RegExp): Promise<void> {
  await person.page.goto(`/operations/${operationId}`);
  await person.page.getByRole("button", { name: "Approve" }).click();
  await expect(person.page.getByRole("status").filter({ hasText: "Your approval is recorded" })).toHaveText(
    outcome,
  );
}

function freezeBanner(page: Page) {
  return page.getByTestId("freeze-banner");
}

test("an approver freezes all signing; an approved key waits until the quorum lifts the freeze", async ({
  newMember,
}, testInfo) => {
  test.setTimeout(150_000);
  const otto = await newMember(OTTO);
  const fay = await newMember(FAY);
  const gus = await newMember(GUS);
  const label = "Held by the freeze";
  let keyOperation = "";
  let liftOperation = "";

  await test.step("Fay freezes all signing from the restrictions page with one tap", async () => {
    await fay.page.getByRole("link", { name: "Restrictions" }).click();
    await expect(fay.page.getByTestId("freeze-none")).toHaveText("Signing is not frozen.");
    await fay.page.getByLabel(/^Reason/).fill("Otto's laptop was stolen");
    confirmNext(
      fay.page,
      /^Freeze all signing now\? Nothing is carried out until the quorum lifts the freeze\.$/,
    );
    await fay.page.getByRole("button", { name: "Freeze all signing" }).click();
    await expect(fay.page.getByRole("status").filter({ hasText: "Signing is frozen." })).toBeVisible();
    await expect(fay.page.getByTestId("freeze-in-force")).toContainText("Fay Freezer");
    await expect(fay.page.getByTestId("freeze-in-force")).toContainText("Otto's laptop was stolen");
    await expect(freezeBanner(fay.page)).toContainText(BANNER);
    await expect(fay.page.getByRole("button", { name: "Freeze all signing" })).toHaveCount(0);
    await fay.page.screenshot({ path: testInfo.outputPath("frozen.png"), fullPage: true });
  });

  await test.step("the banner is on every page, for every role, with the reason and where to lift it", async () => {
    for (const person of [otto, gus]) {
      for (const path of ["/", "/operations", "/keys", "/tokens", "/restrictions"]) {
        await person.page.goto(path);
        await expect(freezeBanner(person.page)).toContainText(BANNER);
        await expect(freezeBanner(person.page)).toContainText("Reason: “Otto's laptop was stolen”.");
      }
    }
    await expect(freezeBanner(gus.page).getByRole("link", { name: "Propose lifting" })).toHaveAttribute(
      "href",
      "/restrictions#lift",
    );
  });

  await test.step("Otto proposes a key; Fay and Gus approve it; it stays approved and says why", async () => {
    await otto.page.goto("/keys/new");
    await otto.page.getByLabel("Label").fill(label);
    await otto.page.getByLabel("Curve").selectOption("ed25519");
    await otto.page.getByRole("button", { name: "Propose for approval" }).click();
    await expect(otto.page).toHaveURL(/\/operations\/[0-9a-f-]{36}$/);
    keyOperation = otto.page.url().split("/").pop() ?? "";
    await approveOn(fay, keyOperation, /^Your approval is recorded\.$/);
    await approveOn(gus, keyOperation, /^Your approval is recorded: the operation is approved\.$/);
    for (const person of [gus, otto]) {
      await expect(person.page.getByTestId("op-state")).toHaveText("approved");
      await expect(person.page.getByTestId("freeze-wait")).toContainText("Waiting: signing is frozen.");
    }
    await gus.page.screenshot({ path: testInfo.outputPath("waiting.png"), fullPage: true });
  });

  await test.step("Otto proposes lifting the freeze from the banner; it needs the quorum", async () => {
    await otto.page.goto("/keys");
    await freezeBanner(otto.page).getByRole("link", { name: "Propose lifting" }).click();
    await expect(otto.page).toHaveURL(/\/restrictions#lift$/);
    await otto.page.getByRole("button", { name: "Propose lifting the freeze" }).click();
    await expect(otto.page).toHaveURL(/\/operations\/[0-9a-f-]{36}$/);
    liftOperation = otto.page.url().split("/").pop() ?? "";
    await expect(otto.page.getByTestId("op-title")).toHaveText("Lift the freeze of all signing");
    const lines = otto.page.getByTestId("op-lines");
    await expect(lines).toContainText(/frozen by Fay Freezer on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
    await expect(lines).toContainText("Otto's laptop was stolen");
    await approveOn(gus, liftOperation, /^Your approval is recorded\.$/);
    // One approval of two: still frozen, the key.create still held.
    await fay.page.goto("/restrictions");
    await expect(fay.page.getByTestId("liftings")).toContainText("Lift the freeze of all signing");
    await fay.page.goto(`/operations/${keyOperation}`);
    await expect(fay.page.getByTestId("op-state")).toHaveText("approved");
    await expect(fay.page.getByTestId("freeze-wait")).toBeVisible();
  });

  await test.step("Fay's approval lifts the freeze; the held key is then made and is active", async () => {
    await approveOn(fay, liftOperation, /^Your approval is recorded: the operation is approved\.$/);
    await expect(fay.page.getByTestId("op-state")).toHaveText("executed", { timeout: 20_000 });
    await expect(freezeBanner(fay.page)).toHaveCount(0, { timeout: 10_000 });
    await otto.page.goto(`/operations/${keyOperation}`);
    await expect(otto.page.getByTestId("op-state")).toHaveText("executed", { timeout: 20_000 });
    await expect(otto.page.getByTestId("freeze-wait")).toHaveCount(0);
    await otto.page.goto("/keys");
    await otto.page.getByLabel("Search").fill(label);
    await otto.page.getByRole("button", { name: "Find" }).click();
    const row = otto.page.getByTestId("key-row").filter({ hasText: label });
    await expect(row).toHaveCount(1);
    await expect(row.getByTestId("key-state")).toHaveText("active");
    await otto.page.goto("/restrictions");
    await expect(otto.page.getByTestId("freeze-none")).toHaveText("Signing is not frozen.");
  });
});

test("an operator sees the restrictions but cannot freeze, on the page or through the procedure", async ({
  newMember,
}) => {
  const olive = await newMember({ name: "Olive No-Freeze", roles: ["operator"] });
  await olive.page.goto("/restrictions");
  await expect(olive.page.getByTestId("freeze-none")).toBeVisible();
  await expect(olive.page.getByRole("button", { name: "Freeze all signing" })).toHaveCount(0);
  await expect(olive.page.getByText("Admins and approvers can freeze all signing.")).toBeVisible();
  const response = await trpcMutation(olive.page.request, "restrictions.beginFreeze", { reason: "" });
  expect(response.status()).toBe(403);
  expect(await appCodeOf(response)).toBe("FORBIDDEN");
});
