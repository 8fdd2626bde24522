// The freeze banner follows a freeze live, each person at their own browser with their own token: an operator
// has two pages open (the keys list and the approvals) before anything happens; an approver freezes all
// signing at their own computer; both of the operator's pages show the banner without a reload; the admin
// proposes lifting, two approvers approve by tapping, and once the lifting is carried out the banner goes away
// from both pages, still without a reload. The two tabs share one banner stream (the other tab is handed its
// snapshots). e2e/11 checks the banner on pages opened after the freeze; this one checks pages already open.
import type { BrowserContext, Page, Request } from "@playwright/test";
import { confirmNext, expect, test } from "./fixtures";

const LENA = { name: "Lena Live-Operator", roles: ["operator"] } as const;
const FINN = { name: "Finn Live-Freezer", roles: ["approver"] } as const;
const GWEN = { name: "Gwen Live-Approver", roles: ["approver"] } as const;

const BANNER =
  /^Signing is frozen since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by Finn Live-Freezer: no operation is carried out until the quorum lifts it\./;

/** Marks the document: a reload or a navigation makes a new one without the mark. */
async function markDocument(page: Page): Promise<void> {
  await page.evaluate(() => {
    document.documentElement.dataset.stillOpen = "yes";
  });
}

/** How many banner streams (restrictions.onStatus event streams) a browser has open at any moment. */
function bannerStreams(context: BrowserContext): () => number {
  const open = new Set<Request>();
  context.on("request", (request) => {
    if (new URL(request.url()).pathname === "/api/trpc/restrictions.onStatus") open.add(request);
  });
  const ended = (request: Request) => open.delete(request);
  context.on("requestfinished", ended);
  context.on("requestfailed", ended);
  return () => open.size;
}

async function stillSameDocument(page: Page): Promise<void> {
  await expect(page.locator("html")).toHaveAttribute("data-still-open", "yes");
}

test("a freeze and its lifting reach pages that were already open, without a reload", async ({
  admin,
  newMember,
}, testInfo) => {
  test.setTimeout(150_000);
  const lena = await newMember(LENA);
  const finn = await newMember(FINN);
  const gwen = await newMember(GWEN);
  const keysPage = lena.page;
  const streams = bannerStreams(lena.context);
  const approvalsPage = await lena.context.newPage();
  let liftOperation = "";

  await test.step("Lena opens the keys list and the approvals in two tabs: no banner", async () => {
    await keysPage.goto("/keys");
    await approvalsPage.goto("/operations");
    for (const page of [keysPage, approvalsPage]) {
      await expect(page.getByTestId("signed-in-as")).toContainText(LENA.name);
      await expect(page.getByTestId("live-status").first()).toHaveText("live");
      await expect(page.getByTestId("freeze-banner")).toHaveCount(0);
      await markDocument(page);
    }
    // One stream for the browser, not one per tab.
    await expect.poll(streams).toBe(1);
  });

  await test.step("Finn freezes all signing at his computer; both of Lena's tabs show the banner", async () => {
    await finn.page.goto("/restrictions");
    await finn.page.getByLabel(/^Reason/).fill("Lena's badge was cloned");
    confirmNext(
      finn.page,
      /^Freeze all signing now\? Nothing is carried out until the quorum lifts the freeze\.$/,
    );
    await finn.page.getByRole("button", { name: "Freeze all signing" }).click();
    await expect(finn.page.getByRole("status").filter({ hasText: "Signing is frozen." })).toBeVisible();
    for (const page of [keysPage, approvalsPage]) {
      await expect(page.getByTestId("freeze-banner")).toContainText(BANNER);
      await expect(page.getByTestId("freeze-banner")).toContainText("Reason: “Lena's badge was cloned”.");
      await stillSameDocument(page);
    }
    await keysPage.screenshot({ path: testInfo.outputPath("banner-arrived.png"), fullPage: true });
  });

  await test.step("the admin proposes lifting; Finn and Gwen approve it by tapping", async () => {
    await admin.page.goto("/restrictions");
    await admin.page.getByRole("button", { name: "Propose lifting the freeze" }).click();
    await expect(admin.page).toHaveURL(/\/operations\/[0-9a-f-]{36}$/);
    liftOperation = admin.page.url().split("/").pop() ?? "";
    await expect(admin.page.getByTestId("op-title")).toHaveText("Lift the freeze of all signing");
    for (const person of [finn, gwen]) {
      await person.page.goto(`/operations/${liftOperation}`);
      await person.page.getByRole("button", { name: "Approve" }).click();
      await expect(person.page.getByRole("status")).toContainText("Your approval is recorded");
    }
    await expect(admin.page.getByTestId("op-state")).toHaveText("executed", { timeout: 30_000 });
  });

  await test.step("once the lifting is carried out the banner leaves both of Lena's tabs", async () => {
    for (const page of [keysPage, approvalsPage]) {
      await expect(page.getByTestId("freeze-banner")).toHaveCount(0);
      await stillSameDocument(page);
    }
    expect(streams()).toBe(1);
    await approvalsPage.screenshot({ path: testInfo.outputPath("banner-gone.png"), fullPage: true });
  });
});
