// The offline verifier (issue 15 items 6 and 9): the admin downloads a period's evidence bundle from /reports;
// a regulator who has no account opens /verify in their own browser, signed out, takes the network away, and
// checks the bundle there — with the published audit key and a checkpoint they kept from before — and it is
// verified; a copy with one event's data changed is rejected, the failing event named with the reason.
import { readFile } from "node:fs/promises";
import type { Page, Request } from "@playwright/test";
import { expect, test } from "./fixtures";

type PublicCheckpoints = { checkpoints: Array<{ size: number; note: string; verifierKey: string }> };
type Bundle = {
  format: string;
  events: Array<{ seq: number; action: string; data: Record<string, unknown> }>;
};

const day = (d: Date) => d.toISOString().slice(0, 10);

/** Chooses the files and the key on /verify and starts the check. */
async function verify(page: Page, bundle: { name: string; text: string }, kept: string, key: string) {
  await page.getByLabel("Evidence bundle (.json)").setInputFiles({
    name: bundle.name,
    mimeType: "application/json",
    buffer: Buffer.from(bundle.text, "utf8"),
  });
  await page.getByLabel(/A checkpoint you kept/).setInputFiles({
    name: "kept-checkpoint.txt",
    mimeType: "text/plain",
    buffer: Buffer.from(kept, "utf8"),
  });
  await page.getByLabel(/published audit verifier key/).fill(key);
  await page.getByRole("button", { name: "Verify in this browser" }).click();
}

test("a signed-out regulator verifies the admin's evidence bundle offline at /verify, and a tampered copy is named", async ({
  admin,
  newPerson,
}) => {
  const regulator = await newPerson();

  // What a regulator keeps from the public log before the report: the oldest signed checkpoint and its key.
  const published = await regulator.page.request.get("/api/v1/audit/checkpoints?limit=1");
  expect(published.status()).toBe(200);
  const body: PublicCheckpoints = await published.json();
  const [kept] = body.checkpoints;
  if (kept === undefined) throw new Error("the audit log has no signed checkpoint yet");

  const bundle =
    await test.step("the admin downloads the evidence bundle of a period holding the whole log", async () => {
      const { page } = admin;
      await expect(
        page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Reports", exact: true }),
      ).toBeVisible();
      const now = new Date();
      const from = day(new Date(now.getTime() - 3 * 365 * 86_400_000));
      const to = day(new Date(now.getTime() + 86_400_000));
      await page.goto(`/reports?from=${from}&to=${to}`);
      await expect(page.getByTestId("report-downloads")).toContainText("verify it offline at /verify");
      const downloading = page.waitForEvent("download");
      await page.getByTestId("report-evidence").click();
      const download = await downloading;
      expect(download.suggestedFilename()).toBe(`keyward-evidence-${from}-${to}.json`);
      // The page said what it was doing, then what it saved.
      await expect(page.getByTestId("report-evidence-progress")).toHaveText(
        new RegExp(`^Saved keyward-evidence-${from}-${to}\\.json \\(\\d+(\\.\\d)? [KM]B\\)\\.$`),
      );
      const text = await readFile(await download.path(), "utf8");
      const parsed: Bundle = JSON.parse(text);
      expect(parsed.format).toBe("keyward-evidence/v2");
      expect(parsed.events.length).toBeGreaterThan(10);
      return { name: download.suggestedFilename(), text, parsed };
    });

  const { page, context } = regulator;
  await page.goto("/verify");
  await expect(page.getByRole("heading", { name: "Verify a report", level: 1 })).toBeVisible();
  await expect(page.getByTestId("signed-in-as")).toHaveCount(0);
  await expect(
    page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Verify a report" }),
  ).toBeVisible();
  await expect(page.getByRole("main")).toContainText("never leave your browser");

  // From here on the browser has no network: the check runs on what the page already loaded.
  const sent: Request[] = [];
  page.on("request", (request) => sent.push(request));
  await context.setOffline(true);

  await test.step("the genuine bundle is verified, every event proved, the kept checkpoint extended", async () => {
    await verify(page, bundle, kept.note, kept.verifierKey);
    await expect(page.getByTestId("verdict")).toHaveText("Verified: every item checks", { timeout: 60_000 });
    const events = page.getByTestId("verify-count-event").getByRole("cell");
    await expect(events.nth(1)).toHaveText(bundle.parsed.events.length.toLocaleString("en"));
    await expect(events.nth(2)).toHaveText("0");
    await expect(page.getByTestId("verify-count-trusted").getByRole("cell").nth(1)).toHaveText("1");
    await expect(page.getByTestId("verify-key")).toHaveText(kept.verifierKey);
    await expect(page.getByTestId("verify-failures")).toHaveCount(0);
  });

  await test.step("a copy with one event's data changed is not verified, and that event is named", async () => {
    const tampered: Bundle = JSON.parse(bundle.text);
    // An event no operation or vote check reads, so its own hash check and the events' range proof are what fail.
    const victim = tampered.events
      .slice(Math.floor(tampered.events.length / 2))
      .find((e) => e.action !== "operation.proposed" && e.action !== "vote.cast");
    if (victim === undefined) throw new Error("no event to change");
    victim.data = { ...victim.data, note: "changed after the fact" };
    await verify(
      page,
      { name: "tampered.json", text: JSON.stringify(tampered) },
      kept.note,
      kept.verifierKey,
    );
    await expect(page.getByTestId("verdict")).toHaveText("Not verified: 2 items failed", { timeout: 60_000 });
    const failures = page.getByTestId("verify-failures").getByRole("listitem");
    await expect(failures).toHaveCount(2);
    await expect(failures.first()).toContainText(`event ${victim.seq}:`);
    await expect(failures.first()).toContainText(
      "its hash is not SHA-256 of its previous hash and its content",
    );
    await expect(failures.nth(1)).toContainText("inclusion of events");
    await expect(failures.nth(1)).toContainText("with the range proof do not give the root of checkpoint");
    await expect(page.getByTestId("verify-count-event").getByRole("cell").nth(2)).toHaveText("1");
  });

  // Nothing was sent while checking: at most the page's own prefetches of static links, never a POST or a body.
  expect(sent.filter((r) => r.method() !== "GET" || r.postData() !== null).map((r) => r.url())).toEqual([]);
  await context.setOffline(false);
});

test("the /verify page is public: no account, no redirect to sign-in", async ({ newPerson }) => {
  const visitor = await newPerson();
  const response = await visitor.page.goto("/verify");
  expect(response?.status()).toBe(200);
  expect(new URL(visitor.page.url()).pathname).toBe("/verify");
  await expect(visitor.page.getByRole("button", { name: "Verify in this browser" })).toBeVisible();
});
