// Deposit addresses and allow-lists through the pages: an operator's new secp256k1 key, once approved, shows its
// Bitcoin (testnet) and Ethereum addresses on its page, each with a server-drawn QR code and a copy button; the
// keys list's CSV export holds them. On Allow-lists the operator proposes adding the Ethereum address (pasted in
// lower case) — a mistyped checksum is refused first, naming the line — the approvers tap, and the list shows it
// in EIP-55 form with its label.
import type { Page } from "@playwright/test";
import { expect, type Person, test } from "./fixtures";

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

const opId = (page: Page) => page.url().split("/").pop() ?? "";

test("a key's addresses with QR codes and the CSV export; an allow-list change by quorum", async ({
  newMember,
}) => {
  const olga = await newMember({ name: "Olga Addresses", roles: ["operator"] });
  const pia = await newMember({ name: "Pia Addresses", roles: ["approver"] });
  const quinn = await newMember({ name: "Quinn Addresses", roles: ["approver"] });
  const label = "Deposit 16";
  let ethereum = "";

  await test.step("the approved key's page shows its addresses with QR codes and copy buttons", async () => {
    await olga.page.goto("/keys/new");
    await olga.page.getByLabel("Label").fill(label);
    await olga.page.getByLabel("Curve").selectOption("secp256k1");
    await olga.page.getByRole("button", { name: "Propose for approval" }).click();
    await expect(olga.page).toHaveURL(/\/operations\/[0-9a-f-]{36}$/);
    const created = opId(olga.page);
    await approveAndExecute(created, [pia, quinn]);
    await olga.page.goto(`/operations/${created}`);
    await olga.page.getByRole("link", { name: label }).click();
    await expect(olga.page).toHaveURL(/\/keys\/[0-9a-f-]{36}$/);
    const addresses = olga.page.getByRole("region", { name: "Addresses" });
    await expect(addresses.getByTestId("address-bitcoin-text")).toHaveText(/^tb1q[0-9a-z]{38}$/);
    await expect(addresses.getByTestId("address-ethereum-text")).toHaveText(/^0x[0-9a-fA-F]{40}$/);
    ethereum = (await addresses.getByTestId("address-ethereum-text").textContent()) ?? "";
    await expect(
      addresses.getByRole("img", { name: /QR code of the Ethereum chain 11155111 address/ }),
    ).toBeVisible();
    await expect(addresses.locator("svg")).toHaveCount(2);
    await expect(addresses.getByRole("button", { name: /Copy the Bitcoin testnet/ })).toBeVisible();
  });

  await test.step("the keys list exports the filtered keys' deposit addresses as CSV", async () => {
    await olga.page.goto("/keys");
    await expect(olga.page.getByRole("link", { name: /Export deposit addresses \(CSV\)/ })).toBeVisible();
    const csv = await olga.page.request.get(`/keys/addresses.csv?search=${encodeURIComponent(label)}`);
    expect(csv.status()).toBe(200);
    expect(csv.headers()["content-type"]).toContain("text/csv");
    const lines = (await csv.text()).trim().split("\r\n");
    expect(lines[0]).toBe("key_id,label,curve,state,tags,chain,network,address");
    expect(lines.some((l) => l.includes(`,${label},secp256k1,active,,ethereum,11155111,${ethereum}`))).toBe(
      true,
    );
    expect(lines.some((l) => /,bitcoin,testnet,tb1q/.test(l))).toBe(true);
  });

  await test.step("an allow-list change: a bad checksum refused, then the address added by quorum", async () => {
    await olga.page.goto("/allowlists");
    const form = olga.page.getByRole("form", { name: "Propose an allow-list change" });
    await form.getByLabel("List").fill("exchange-16");
    await form.getByLabel("Chain").selectOption("ethereum");
    const mistyped = ethereum
      .replace(/[a-f]/, (c) => c.toUpperCase())
      .replace(/[A-F]/, (c) => c.toLowerCase());
    await form
      .getByLabel(/^Add/)
      .fill(`${mistyped === ethereum ? `${ethereum.slice(0, -1)}0` : mistyped} Desk 16`);
    await form.getByRole("button", { name: "Propose this change" }).click();
    await expect(form.getByText(/payload\.add\.0\.address/)).toBeVisible();
    await form.getByLabel(/^Add/).fill(`${ethereum.toLowerCase()} Desk 16`);
    await form.getByRole("button", { name: "Propose this change" }).click();
    await expect(olga.page.getByTestId("op-title")).toHaveText(
      "Change the allow-list “exchange-16” on Ethereum (chain 11155111)",
    );
    await expect(olga.page.getByText(`${ethereum} (Desk 16)`)).toBeVisible();
    await approveAndExecute(opId(olga.page), [pia, quinn]);
    await pia.page.goto("/allowlists");
    const list = pia.page.getByRole("region", { name: "Allow-list exchange-16" });
    await expect(list).toContainText(ethereum);
    await expect(list).toContainText("Desk 16");
    await expect(list).toContainText("No rule of the policy in force names this list.");
  });
});
