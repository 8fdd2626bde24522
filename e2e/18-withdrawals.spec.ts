// Withdrawals in a browser against a real chain engine (issue 14): the local EVM node global-setup started
// (EDR, the EVM inside Hardhat, over JSON-RPC), which the console broadcasts to and tracks confirmations on.
//
// The admin puts in force (setup mode) three withdrawal rules above the seed's: an API rule that approves small
// service-account withdrawals automatically under a velocity cap; a tiny-amount rule whose window is closed now
// (working days only, in Europe/Zurich — the weekend rule — and, so that it is closed whatever day the suite runs,
// not today either); and a two-approval tier from 1 ETH that requires an allow-listed destination. Then:
// - an operator proposes 1.5 ETH to an address the quorum put on the allow-list; two approvers tap; the node
//   mines it, the operation page shows it confirmed, and the destination's balance on the node moved by 1.5 ETH;
// - a 0.01 ETH withdrawal is approved with one tap and deferred by the window, the reason on the page;
// - the admin creates a service account, its key shown once; the backend's POST /api/v1/withdrawals of 0.2 ETH
//   is approved with no vote, executed and confirmed, and the destination's balance moves by 0.2 ETH more.
// The previous policy is put back at the end for the specs after this one.
import { randomBytes } from "node:crypto";
import type { Page } from "@playwright/test";
import { serializeTransaction } from "viem";
import { expect, type Person, policyInForce, putInForce, test } from "./fixtures";

const TREASURY = "treasury-18w";
const LIST = "exchange-18w";
const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
const ETH = { chain: "ethereum", symbol: "ETH" } as const;
const WEI = 10n ** 18n;

/** One JSON-RPC call to the EVM node the suite started (global-setup.ts). */
async function evm(method: string, params: unknown[]): Promise<unknown> {
  const url = process.env.KEYWARD_E2E_EVM_URL;
  if (!url) throw new Error("KEYWARD_E2E_EVM_URL is not set: e2e/global-setup.ts starts the EVM node");
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = (await response.json()) as { result?: unknown; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

const balanceOf = async (address: string) => BigInt(String(await evm("eth_getBalance", [address, "latest"])));

/** Today's weekday in Europe/Zurich, as the policy names days. */
function zurichToday(now: Date): (typeof DAYS)[number] {
  const name = new Intl.DateTimeFormat("en-US", { timeZone: "Europe/Zurich", weekday: "short" }).format(now);
  const day = DAYS.find((d) => d === name.slice(0, 3).toLowerCase());
  if (!day) throw new Error(`unexpected weekday ${name}`);
  return day;
}

const opId = (page: Page) => page.url().split("/").pop() ?? "";

async function approve(person: Person, operationId: string, outcome: RegExp): Promise<void> {
  await person.page.goto(`/operations/${operationId}`);
  await person.page.getByRole("button", { name: "Approve" }).click();
  await expect(person.page.getByRole("status")).toHaveText(outcome);
}

async function proposeWithdrawal(
  page: Page,
  w: { key: string; amount: string; destination: string },
): Promise<string> {
  await page.goto("/withdrawals/new");
  const form = page.getByRole("form", { name: "Propose a withdrawal" });
  await form.getByLabel("Chain").selectOption("ethereum");
  await form.getByLabel("From key").selectOption({ label: w.key });
  await form.getByLabel(/^Amount/).fill(w.amount);
  await form.getByLabel("Destination address").fill(w.destination);
  await form.getByLabel(/^Fee at most/).fill("0.01");
  await form.getByRole("button", { name: "Propose the withdrawal" }).click();
  await expect(page).toHaveURL(/\/operations\/[0-9a-f-]{36}$/);
  return opId(page);
}

test("an Ethereum withdrawal approved by two taps is mined and confirmed; a weekend rule defers another; an API withdrawal needs no vote", async ({
  admin,
  newMember,
  request,
}) => {
  test.setTimeout(420_000);
  const olga = await newMember({ name: "Olga Withdrawals", roles: ["operator"] });
  const tess = await newMember({ name: "Tess Withdrawals", roles: ["approver"], groups: [TREASURY] });
  const uma = await newMember({ name: "Uma Withdrawals", roles: ["approver"], groups: [TREASURY] });
  const label = "Hot wallet 18";
  // A fresh address nobody holds a key for: its balance is exactly what the withdrawals sent it.
  const destination = `0x${randomBytes(20).toString("hex")}`;
  let from = "";

  await test.step("the operator's Ethereum key, created by quorum, is funded on the node", async () => {
    await olga.page.goto("/keys/new");
    await olga.page.getByLabel("Label").fill(label);
    await olga.page.getByLabel("Curve").selectOption("secp256k1");
    await olga.page.getByRole("button", { name: "Propose for approval" }).click();
    await expect(olga.page).toHaveURL(/\/operations\/[0-9a-f-]{36}$/);
    const created = opId(olga.page);
    await approve(tess, created, /Your approval is recorded/);
    await approve(uma, created, /Your approval is recorded/);
    await expect(olga.page.getByTestId("op-state")).toHaveText("executed", { timeout: 60_000 });
    await olga.page.getByRole("link", { name: label }).click();
    from =
      (await olga.page
        .getByRole("region", { name: "Addresses" })
        .getByTestId("address-ethereum-text")
        .textContent()) ?? "";
    expect(from).toMatch(/^0x[0-9a-fA-F]{40}$/);
    await evm("hardhat_setBalance", [from, `0x${(10n * WEI).toString(16)}`]);
    expect(await balanceOf(from)).toBe(10n * WEI);
  });

  await test.step("the wallet backend's unsigned transaction is shown decoded in the form before proposing", async () => {
    const chainId = Number(await evm("eth_chainId", []));
    const unsigned = serializeTransaction({
      type: "eip1559",
      chainId,
      nonce: 7,
      to: destination as `0x${string}`,
      value: WEI / 4n,
      gas: 21_000n,
      maxFeePerGas: 2_000_000_000n,
      maxPriorityFeePerGas: 1_000_000_000n,
    });
    const { page } = olga;
    await page.goto("/withdrawals/new");
    const form = page.getByRole("form", { name: "Propose a withdrawal" });
    await form.getByLabel("Chain").selectOption("ethereum");
    await form.getByLabel("From key").selectOption({ label });
    const box = form.getByLabel("Import unsigned transaction (optional)");
    await box.fill(unsigned);
    await box.blur();
    const preview = form.getByTestId("import-preview");
    await expect(preview).toContainText("0.25 ETH");
    await expect(preview).toContainText(new RegExp(destination, "i"));
    await expect(preview).toContainText(`Chain id${chainId}`);
    await expect(preview).toContainText("Nonce7");
    // Bytes that are not a transaction say so, beside the box; nothing is proposed.
    await box.fill("0x02deadbeef");
    await box.blur();
    await expect(form.getByTestId("import-preview-error")).toContainText(
      "The Ethereum transaction cannot be read",
    );
    await expect(preview).toHaveCount(0);
  });

  await test.step("the destination goes on the allow-list by quorum", async () => {
    await olga.page.goto("/allowlists");
    const form = olga.page.getByRole("form", { name: "Propose an allow-list change" });
    await form.getByLabel("List").fill(LIST);
    await form.getByLabel("Chain").selectOption("ethereum");
    await form.getByLabel(/^Add/).fill(`${destination} Exchange desk 18`);
    await form.getByRole("button", { name: "Propose this change" }).click();
    await expect(olga.page.getByTestId("op-title")).toContainText(`Change the allow-list “${LIST}”`);
    const change = opId(olga.page);
    await approve(tess, change, /Your approval is recorded/);
    await approve(uma, change, /Your approval is recorded/);
    await expect(olga.page.getByTestId("op-state")).toHaveText("executed", { timeout: 60_000 });
  });

  const base = await policyInForce(admin.page);
  const inForce = await test.step("the admin puts the withdrawal rules in force", async () => {
    const today = zurichToday(new Date());
    return putInForce(admin.page, {
      ...base,
      rules: [
        {
          id: "api-small-18w",
          description: "The exchange backend's small withdrawals",
          match: {
            kinds: ["withdrawal"],
            initiators: ["service"],
            assets: [ETH],
            amount: { below: `${WEI / 2n}` },
          },
          automatic: true,
          velocity: [{ per: "chain", asset: ETH, limit: `${10n * WEI}`, windowHours: 24, over: "deny" }],
        },
        {
          id: "working-days-18w",
          description: "Tiny withdrawals on working days only",
          match: { kinds: ["withdrawal"], assets: [ETH], amount: { below: `${WEI / 20n}` } },
          require: [{ group: TREASURY, approvals: 1 }],
          window: {
            zone: "Europe/Zurich",
            outside: "defer",
            reason: `no withdrawals on weekends (nor on ${today} in this test)`,
            open: [
              {
                days: DAYS.filter((d) => d !== "sat" && d !== "sun" && d !== today),
                from: "00:00",
                to: "24:00",
              },
            ],
          },
        },
        {
          id: "large-18w",
          description: "From 1 ETH: two of treasury, to the exchange only",
          match: { kinds: ["withdrawal"], assets: [ETH], amount: { atLeast: `${WEI}` } },
          require: [{ group: TREASURY, approvals: 2 }],
          allowList: LIST,
        },
        ...base.rules,
      ],
    });
  });
  test.skip(!inForce, "Keyward is live in this run: the policy cannot be changed directly");

  await test.step("1.5 ETH to the allow-listed exchange: two taps, mined by the node, confirmed on the page", async () => {
    const id = await proposeWithdrawal(olga.page, { key: label, amount: "1.5", destination });
    await expect(olga.page.getByTestId("op-title")).toHaveText(/^Withdraw 1\.5 ETH on Ethereum/);
    await expect(olga.page.getByTestId("op-reasons")).toContainText(
      `needs 2 more approvals from ${TREASURY}`,
    );
    await approve(tess, id, /Your approval is recorded/);
    await expect(tess.page.getByTestId("op-state")).toHaveText("pending");
    await approve(uma, id, /Your approval is recorded/);
    await expect(olga.page.getByTestId("op-state")).toHaveText("executed", { timeout: 60_000 });
    const section = olga.page.getByRole("region", { name: "The transaction" });
    await expect(section.getByTestId("withdrawal-state")).toHaveText(/^Confirmed \(\d+ confirmations\)$/, {
      timeout: 60_000,
    });
    const txid = (await section.getByTestId("withdrawal-txid").textContent()) ?? "";
    expect(txid).toMatch(/^0x[0-9a-f]{64}$/);
    // The node's own record: mined, succeeded, from the key to the exchange, 1.5 ETH.
    const receipt = (await evm("eth_getTransactionReceipt", [txid])) as {
      status: string;
      from: string;
      to: string;
    };
    expect(receipt.status).toBe("0x1");
    expect(receipt.from.toLowerCase()).toBe(from.toLowerCase());
    expect(receipt.to.toLowerCase()).toBe(destination);
    expect(await balanceOf(destination)).toBe((3n * WEI) / 2n);
  });

  await test.step("0.01 ETH under the working-days rule: approved with one tap, deferred with the reason", async () => {
    const id = await proposeWithdrawal(olga.page, { key: label, amount: "0.01", destination });
    await approve(tess, id, /^Your approval is recorded: the operation is waiting\.$/);
    await expect(tess.page.getByTestId("op-state")).toHaveText("waiting");
    await expect(tess.page.getByTestId("op-reasons")).toContainText(
      /deferred: no withdrawals on weekends \(nor on \w+ in this test\) \(Europe\/Zurich\), runs \w+day \d+ \w+ 00:00/,
    );
    await expect(tess.page.getByTestId("op-release-line")).toContainText("Window closed: runs");
    await expect(tess.page.getByRole("region", { name: "The transaction" })).toContainText("Not built yet");
  });

  await test.step("a service account's API withdrawal of 0.2 ETH: approved with no vote, executed, confirmed", async () => {
    await admin.page.goto("/settings/service-accounts");
    await admin.page.getByLabel(/^Name/).fill("exchange-backend-18");
    await admin.page.getByRole("button", { name: "Create service account" }).click();
    const shown = admin.page.getByTestId("service-account-key");
    await expect(shown).toContainText("shown only now");
    const apiKey = ((await shown.locator("code", { hasText: /^kw_/ }).textContent()) ?? "").trim();
    expect(apiKey).toMatch(/^kw_/);

    const keyId = await keyIdOf(olga.page, label);
    const body = { keyId, chain: "ethereum", asset: "ETH", amount: "0.2", destination, feeCap: "0.01" };
    const headers = {
      authorization: `Bearer ${apiKey}`,
      "idempotency-key": `e2e-18-${randomBytes(6).toString("hex")}`,
    };
    const posted = await request.post("/api/v1/withdrawals", { data: body, headers });
    expect(posted.status(), await posted.text()).toBe(201);
    const { id } = (await posted.json()) as { id: string };
    // The same key and body: the same withdrawal, not a second one.
    const again = await request.post("/api/v1/withdrawals", { data: body, headers });
    expect(((await again.json()) as { id: string }).id).toBe(id);

    await expect
      .poll(
        async () => {
          const status = await request.get(`/api/v1/withdrawals/${id}`, { headers });
          const s = (await status.json()) as { state: string; transaction: { state: string } | null };
          return `${s.state} ${s.transaction?.state ?? "none"}`;
        },
        { timeout: 60_000, intervals: [500] },
      )
      .toBe("executed confirmed");
    expect(await balanceOf(destination)).toBe((17n * WEI) / 10n);

    await admin.page.goto(`/operations/${id}`);
    await expect(admin.page.getByTestId("op-state")).toHaveText("executed");
    await expect(admin.page.getByTestId("op-timeline")).not.toContainText("voted by");
  });

  await test.step("the admin puts the previous rules back", async () => {
    await putInForce(admin.page, base);
  });
});

/** The key's id, from its page's address (the keys list links each key to /keys/<id>). */
async function keyIdOf(page: Page, label: string): Promise<string> {
  await page.goto(`/keys?search=${encodeURIComponent(label)}`);
  await page.getByRole("link", { name: label }).first().click();
  await expect(page).toHaveURL(/\/keys\/[0-9a-f-]{36}$/);
  return page.url().split("/").pop() ?? "";
}
