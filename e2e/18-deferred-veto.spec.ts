// Operations the policy holds after their votes met the rule (issue 13): the admin puts in force a rule whose
// window is closed at the real current time (open every day but today, UTC) and a rule with a one-hour delay
// and a veto group. A key proposed under the first is approved with one tap and then waits: its page says why
// in words, when it runs and how long until then. A key proposed under the second waits out its delay: the veto
// group's member sees who may veto and a Veto button (the approver does not), taps it, and it is rejected,
// "vetoed by … (security-18)". The veto group member finds it first in the home page's veto list; the operator
// cancels the deferred one while it waits. The previous policy is put back at the end for the specs after this one.
import type { Page } from "@playwright/test";
import { expect, policyInForce, putInForce, test } from "./fixtures";

const TREASURY = "treasury-18";
const SECURITY = "security-18";
const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;

/** Open every day but today (UTC): closed now, open again at the next 00:00 UTC. */
function closedToday(now: Date) {
  return {
    zone: "UTC",
    outside: "defer",
    reason: "no key changes today",
    open: [{ days: DAYS.filter((_, i) => i !== now.getUTCDay()), from: "00:00", to: "24:00" }],
  };
}

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

test("an operation deferred by a closed window shows why and when; a veto during a delay rejects another", async ({
  admin,
  newMember,
}) => {
  test.setTimeout(300_000);
  const olga = await newMember({ name: "Olga Eighteen", roles: ["operator"] });
  const tess = await newMember({ name: "Tess Treasury", roles: ["approver"], groups: [TREASURY] });
  const sam = await newMember({ name: "Sam Security", roles: ["approver"], groups: [SECURITY] });
  const base = await policyInForce(admin.page);

  const inForce =
    await test.step("the admin puts in force a rule closed today and a rule with a 1 h delay and a veto group", async () => {
      const now = new Date();
      return putInForce(admin.page, {
        ...base,
        rules: [
          {
            id: "closed-today-18",
            description: "Key changes on open days only",
            match: { kinds: ["key.create"], keyTags: ["e2e-deferred"] },
            require: [{ group: TREASURY, approvals: 1 }],
            window: closedToday(now),
          },
          {
            id: "delayed-18",
            description: "An hour for security to look",
            match: { kinds: ["key.create"], keyTags: ["e2e-delayed"] },
            require: [{ group: TREASURY, approvals: 1 }],
            delay: { hours: 1, vetoGroup: SECURITY },
          },
          ...base.rules,
        ],
      });
    });
  test.skip(!inForce, "Keyward is live in this run: the policy cannot be changed directly");

  await test.step("a key under the closed window: one tap approves it, and it waits with the reason on screen", async () => {
    const id = await proposeKey(olga.page, "Deferred 18", "e2e-deferred");
    await tess.page.goto(`/operations/${id}`);
    await tess.page.getByRole("button", { name: "Approve" }).click();
    await expect(tess.page.getByRole("status")).toHaveText(
      "Your approval is recorded: the operation is waiting.",
    );
    await expect(tess.page.getByTestId("op-state")).toHaveText("waiting");
    const reasons = tess.page.getByTestId("op-reasons");
    await expect(reasons).toContainText(`approved: 1 of 1 from ${TREASURY}`);
    await expect(reasons).toContainText(/deferred: no key changes today \(UTC\), runs \w+day \d+ \w+ 00:00/);
    await expect(tess.page.getByTestId("op-release-line")).toHaveText(
      /^Window closed: runs \w+day \d+ \w+ 00:00 UTC, in (\d+ d \d+ h|\d+ h \d+ min|\d+ min|less than a minute)\.$/,
    );
    await expect(tess.page.getByRole("button", { name: "Veto" })).toHaveCount(0);
    // The operator's own open page moved on by itself, and the inbox lists it as waiting with its time.
    await expect(olga.page.getByTestId("op-state")).toHaveText("waiting");
    await olga.page.goto("/operations");
    await olga.page.getByLabel("Approved, waiting (delay, window)").check();
    const row = olga.page.getByTestId("op-row").filter({ hasText: "Create the key “Deferred 18”" });
    await expect(row.getByTestId("op-waiting")).toContainText("Window closed: runs");
    // A window wait is nobody's to veto: the approver's home lists nothing to veto.
    await tess.page.goto("/");
    await expect(tess.page.getByTestId("veto-list")).toHaveCount(0);
  });

  await test.step("the operator cancels the deferred key while it waits: it never runs", async () => {
    await olga.page.getByRole("link", { name: "Create the key “Deferred 18”" }).first().click();
    await expect(olga.page.getByTestId("op-state")).toHaveText("waiting");
    olga.page.once("dialog", (dialog) => dialog.accept());
    await olga.page.getByRole("button", { name: "Cancel this operation" }).click();
    await expect(olga.page.getByRole("status")).toHaveText("The operation is cancelled.");
    await expect(olga.page.getByTestId("op-state")).toHaveText("cancelled");
    await expect(olga.page.getByRole("button", { name: "Cancel this operation" })).toHaveCount(0);
  });

  await test.step("a key under the delay: the veto group's member vetoes it with a tap", async () => {
    const id = await proposeKey(olga.page, "Delayed 18", "e2e-delayed");
    await tess.page.goto(`/operations/${id}`);
    await tess.page.getByRole("button", { name: "Approve" }).click();
    await expect(tess.page.getByTestId("op-state")).toHaveText("waiting");
    await expect(tess.page.getByRole("button", { name: "Veto" })).toHaveCount(0);
    // The veto group's member finds it on the home page, with the time the delay ends.
    await sam.page.goto("/");
    const vetoRow = sam.page.getByTestId("veto-list").getByRole("listitem").filter({ hasText: "Delayed 18" });
    await expect(vetoRow).toContainText("you may veto");
    await expect(vetoRow).toContainText(/delay ends .+ \((in 59 min|in 1 h 0 min)\)/);
    await vetoRow.getByRole("link", { name: "Create the key “Delayed 18”" }).click();
    await expect(sam.page).toHaveURL(new RegExp(`/operations/${id}$`));
    await expect(sam.page.getByTestId("op-release-line")).toContainText(`unless ${SECURITY} vetoes it first`);
    await expect(sam.page.getByTestId("op-release-line")).toContainText(/in (59|60) min|in 1 h 0 min/);
    await expect(sam.page.getByTestId("op-veto-group")).toContainText(SECURITY);
    await expect(sam.page.getByRole("button", { name: "Approve" })).toHaveCount(0);
    await sam.page.getByRole("button", { name: "Veto" }).click();
    await expect(sam.page.getByRole("status")).toHaveText(
      "Your veto is recorded: the operation is rejected.",
    );
    await expect(sam.page.getByTestId("op-state")).toHaveText("rejected");
    await expect(sam.page.getByTestId("op-reasons")).toContainText(`vetoed by Sam Security (${SECURITY})`);
    await expect(tess.page.getByTestId("op-state")).toHaveText("rejected");
    await expect(sam.page.getByTestId("op-timeline")).toContainText("voted by Sam Security (decision veto)");
  });

  await test.step("the admin puts the previous rules back", async () => {
    await putInForce(admin.page, base);
  });
});
