import type { Locator } from "@playwright/test";
import { expect, test, trpcQuery } from "./fixtures";

/** The value shown beside a label in one of the status cards' definition lists. */
const field = (card: Locator, label: string) => card.locator(`dt:text-is("${label}") + dd`);

test("the admin sees a healthy HSM, database and audit chain", async ({ admin }) => {
  const { page } = admin;
  await page.goto("/status");

  const hsm = page.getByTestId("hsm-status");
  await expect(hsm.getByRole("heading", { name: "HSM healthy" })).toBeVisible();
  await expect(field(hsm, "Token label")).toHaveText("keyward-e2e");
  await expect(field(hsm, "ECDSA")).toHaveText("supported");
  await expect(field(hsm, "EdDSA")).toHaveText("supported");
  // Setup gives every token one shareable KEK: it leaves a token only wrapped under a trusted key.
  await expect(field(hsm, "Backup KEK")).toHaveText("present (trusted, wrapped-only)");
  await expect(hsm.getByRole("alert")).toHaveCount(0);
  // npm start's default: the primary and one SoftHSM replica that keys are cloned into.
  for (const { label, role } of [
    { label: "keyward-e2e", role: "primary" },
    { label: "keyward-e2e-replica-1", role: "replica" },
  ]) {
    const cells = hsm.getByTestId(`hsm-token-${label}`).getByRole("cell");
    await expect(cells.nth(0)).toHaveText(label);
    await expect(cells.nth(1)).toHaveText(role);
    await expect(cells.nth(2)).toHaveText(/^[0-9a-f]{16}$/);
    await expect(cells.nth(4)).toHaveText("healthy");
  }

  const database = page.getByTestId("database-status");
  await expect(database.getByRole("heading", { name: "Database healthy" })).toBeVisible();
  await expect(field(database, "Engine")).toHaveText("PGlite (embedded)");
  await expect(field(database, "Migrations")).toHaveText(/^[1-9]\d* applied$/);

  await expect(page.getByRole("heading", { name: "Audit trail healthy" })).toBeVisible();
  await expect(page.getByTestId("audit-chain")).toHaveText(
    /^\d+ events; hash chain intact\. Head [0-9a-f]{64}$/,
  );
});

test("an approver is not allowed to see the system status", async ({ newMember }) => {
  const stella = await newMember({ name: "Stella Status", roles: ["approver"], groups: ["treasury"] });
  await stella.page.goto("/status");
  await expect(stella.page.getByRole("heading", { name: "Not allowed" })).toBeVisible();
  await expect(stella.page.getByText("System status is for admins and auditors.")).toBeVisible();
  await expect(stella.page.getByTestId("hsm-status")).toHaveCount(0);
  expect((await trpcQuery(stella.page.request, "status.health")).status()).toBe(403);
  expect((await trpcQuery(stella.page.request, "audit.verify")).status()).toBe(403);
});

test("the status page says what SoftHSM is, and shows every token's unwrap self-check passed", async ({
  admin,
}) => {
  const { page } = admin;
  await page.goto("/status");
  // On every page while the HSM is SoftHSM.
  await expect(page.getByTestId("softhsm-banner")).toHaveText(
    "Development HSM (SoftHSM): not for real funds",
  );
  const notice = page.getByTestId("softhsm-notice");
  await expect(notice).toContainText("Development HSM (SoftHSM): not for real funds");
  await expect(notice).toContainText("stores public objects unencrypted");
  await expect(notice).toContainText("sit beside the user PIN on this one host");
  for (const label of ["keyward-e2e", "keyward-e2e-replica-1"]) {
    const guard = page.getByTestId(`unwrap-guard-${label}`);
    await expect(guard).toContainText(`${label}: passed`);
    await expect(guard).toContainText("CKR_TEMPLATE_INCONSISTENT");
    await expect(guard).toContainText("CKA_SENSITIVE=true");
  }
});
