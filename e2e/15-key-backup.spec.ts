// Key backup and a recovery drill through the key page, each person at their own browser with their own token:
// an operator proposes backing up an active key, two approvers approve it by tapping, and the backup shows on
// the key page with its KEK, HSM token and SHA-256. Only an admin gets the Download button (and the server
// refuses the file to anyone else); the admin's download is a keyward-key-backup/1 file whose SHA-256 is the one
// the page shows and which holds the private key only wrapped; the download is in the key's lifecycle and the
// audit trail. Then a restore drill by quorum, and the key page shows when it passed.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { secp256k1 } from "@noble/curves/secp256k1";
import type { APIRequestContext, Page } from "@playwright/test";
import canonicalize from "canonicalize";
import {
  ADMIN,
  appCodeOf,
  expect as baseExpect,
  type Person,
  test,
  trpcMutation,
  trpcQuery,
} from "./fixtures";

// Four people and four quorum operations (a key, a backup, a restore) on two shared cores: every wait is for a
// state, with room for a loaded machine; a run that passes never waits longer than its states take.
const expect = baseExpect.configure({ timeout: 30_000 });
test.describe.configure({ timeout: 300_000 });

const E2E_TOKEN = "keyward-e2e";

async function proposeWrappedKey(page: Page, label: string): Promise<string> {
  await page.goto("/keys/new");
  await page.getByLabel("Label").fill(label);
  await page.getByLabel("Curve").selectOption("secp256k1");
  await page.getByLabel(/^Tags/).fill("backup");
  await page.getByRole("radio", { name: /Wrapped only/ }).check();
  await page.getByRole("button", { name: "Propose for approval" }).click();
  await expect(page).toHaveURL(/\/operations\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId("op-title")).toHaveText(`Create the key “${label}”`);
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

function operationIdOf(page: Page): string {
  const id = page.url().split("/").pop() ?? "";
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  return id;
}

type SuperJson<T> = { result: { data: { json: T } } };
type BackupsOfKey = { backups: Array<{ id: string; digest: string }> };
type AuditEvent = { action: string; actor: string; subject: string; data: Record<string, unknown> };

async function queryData<T>(request: APIRequestContext, procedure: string, input: unknown): Promise<T> {
  const response = await trpcQuery(request, procedure, input);
  expect(response.status()).toBe(200);
  const body: SuperJson<T> = await response.json();
  return body.result.data.json;
}

/** Every run of at least 32 bytes the file's text carries as hex or base64 (public key, wrapped blob, ids). */
function byteRunsOf(text: string): Buffer[] {
  const runs: Buffer[] = [];
  for (const [hex] of text.matchAll(/[0-9a-fA-F]{64,}/g))
    runs.push(Buffer.from(hex.slice(0, hex.length & ~1), "hex"));
  for (const [b64] of text.matchAll(/[A-Za-z0-9+/]{43,}={0,2}/g)) runs.push(Buffer.from(b64, "base64"));
  return runs.filter((r) => r.length >= 32);
}

/**
 * Whether any 32 bytes in `runs`, read as a secp256k1 private scalar, give `publicKeyHex`: a private key in
 * plaintext anywhere in the file (raw, or inside a PKCS#8/SEC1 structure) would.
 */
function holdsPrivateKeyOf(runs: readonly Buffer[], publicKeyHex: string): boolean {
  for (const run of runs) {
    for (let i = 0; i + 32 <= run.length; i++) {
      const scalar = run.subarray(i, i + 32);
      if (!secp256k1.utils.isValidSecretKey(scalar)) continue;
      if (Buffer.from(secp256k1.getPublicKey(scalar, false)).toString("hex") === publicKeyHex) return true;
    }
  }
  return false;
}

test("a backup by quorum, downloaded by an admin only, then a restore drill by quorum", async ({
  admin,
  newMember,
}) => {
  const olga = await newMember({ name: "Olga Backup", roles: ["operator"] });
  const pia = await newMember({ name: "Pia Backup", roles: ["approver"] });
  const quinn = await newMember({ name: "Quinn Backup", roles: ["approver"] });
  const label = "Backup hot 1";
  const created = await proposeWrappedKey(olga.page, label);
  await approveAndExecute(created, [pia, quinn]);
  await olga.page.goto(`/operations/${created}`);
  await olga.page.getByRole("link", { name: label }).click();
  await expect(olga.page).toHaveURL(/\/keys\/[0-9a-f-]{36}$/);
  const keyUrl = olga.page.url();
  const keyId = keyUrl.split("/").pop() ?? "";
  await expect(olga.page.getByTestId("key-facts")).toContainText("active since");
  const publicKey = (await olga.page.getByTestId("key-public").textContent())?.trim() ?? "";
  expect(publicKey).toMatch(/^04[0-9a-f]{128}$/);

  const panel = (page: Page) => page.getByTestId("key-backups");
  const backupRow = (page: Page) => panel(page).getByTestId("backup-row");
  const downloadButton = (page: Page) => panel(page).getByRole("button", { name: "Download", exact: true });
  let digest = "";
  let kekLabel = "";

  await test.step("Olga proposes a backup from the key page; Pia and Quinn approve it by tapping", async () => {
    await expect(panel(olga.page)).toContainText("No backup of this key yet.");
    await expect(olga.page.getByTestId("last-drill")).toHaveText("Last recovery drill: never");
    await panel(olga.page).getByRole("button", { name: "Propose a backup" }).click();
    await expect(olga.page.getByTestId("op-title")).toHaveText(`Back up the key “${label}”`);
    await expect(olga.page.getByTestId("op-lines")).toContainText("never leaves in plaintext");
    await approveAndExecute(operationIdOf(olga.page), [pia, quinn]);
  });

  await test.step("the backup is on the key page with its KEK, token and SHA-256; the operator has no Download", async () => {
    await olga.page.goto(keyUrl);
    await expect(backupRow(olga.page)).toHaveCount(1);
    const row = backupRow(olga.page);
    await expect(row.getByTestId("backup-token")).toHaveText(E2E_TOKEN);
    await expect(row.getByTestId("backup-digest")).toHaveText(/^[0-9a-f]{64}$/);
    await expect(row.getByTestId("backup-kek")).toHaveText(/^\S+ [0-9a-f]{2,8}…$/);
    digest = (await row.getByTestId("backup-digest").textContent()) ?? "";
    kekLabel = ((await row.getByTestId("backup-kek").textContent()) ?? "").split(" ")[0] ?? "";
    // Names match exactly: an operator may propose a restore, so her panel has a file input labelled "Or
    // restore from a downloaded backup file", and Playwright counts a file input as a button whose name
    // contains "download" — a loose { name: "Download" } finds it and reads as a Download button she is shown.
    await expect(panel(olga.page).getByRole("button", { name: /downloaded backup file/ })).toHaveCount(1);
    await expect(downloadButton(olga.page)).toHaveCount(0);
    await expect(panel(olga.page)).toContainText("Only admins can download a backup file");
    // An approver neither.
    await pia.page.goto(keyUrl);
    await expect(backupRow(pia.page).getByTestId("backup-digest")).toHaveText(digest);
    await expect(downloadButton(pia.page)).toHaveCount(0);
    await expect(panel(pia.page)).toContainText("Only admins can download a backup file");
  });

  await test.step("the server refuses the file to the operator whatever the page shows", async () => {
    const { backups } = await queryData<BackupsOfKey>(olga.page.request, "backups.ofKey", { keyId });
    expect(backups.map((b) => b.digest)).toEqual([digest]);
    const refused = await trpcMutation(olga.page.request, "backups.download", { backupId: backups[0]?.id });
    expect(refused.status()).toBe(403);
    expect(await appCodeOf(refused)).toBe("FORBIDDEN");
  });

  await test.step("Ada downloads it: a keyward-key-backup/1 file with the page's SHA-256, the key only wrapped", async () => {
    await admin.page.goto(keyUrl);
    await expect(backupRow(admin.page).getByTestId("backup-digest")).toHaveText(digest);
    const downloading = admin.page.waitForEvent("download");
    await expect(downloadButton(admin.page)).toHaveCount(1);
    await downloadButton(admin.page).click();
    const download = await downloading;
    expect(download.suggestedFilename()).toBe(`keyward-key-backup-${keyId}-${digest.slice(0, 12)}.json`);
    const text = await readFile(await download.path(), "utf8");
    const file: Record<string, unknown> = JSON.parse(text);
    expect(file.format).toBe("keyward-key-backup/1");
    expect(file.sha256).toBe(digest);
    // The digest is the SHA-256 of the file's RFC 8785 form without its own sha256 field: recomputed here.
    const { sha256: _ownDigest, ...document } = file;
    expect(
      createHash("sha256")
        .update(canonicalize(document) ?? "", "utf8")
        .digest("hex"),
    ).toBe(digest);
    expect(Object.keys(file).sort()).toEqual(
      ["createdAt", "format", "kek", "key", "operation", "sha256", "token", "wrapped"].sort(),
    );
    expect(file.key).toMatchObject({ id: keyId, label, curve: "secp256k1", publicKey });
    expect(Object.keys(file.key ?? {}).sort()).toEqual(["curve", "hsmRef", "id", "label", "publicKey"]);
    expect(file.kek).toMatchObject({ label: kekLabel });
    expect(file.token).toMatchObject({ label: E2E_TOKEN });
    expect(file.wrapped).toMatchObject({ mechanism: "CKM_AES_KEY_WRAP_PAD" });
    const wrapped = file.wrapped;
    const blob = Buffer.from(
      typeof wrapped === "object" && wrapped !== null && "blob" in wrapped && typeof wrapped.blob === "string"
        ? wrapped.blob
        : "",
      "base64",
    );
    // RFC 5649 output: whole 8-byte blocks, one block more than the padded plaintext (a PKCS#8 EC key here).
    expect(blob.length % 8).toBe(0);
    expect(blob.length).toBeGreaterThan(40);
    // No 32 bytes anywhere in the file, in hex or base64, are the private key: it is there only wrapped.
    const runs = byteRunsOf(text);
    expect(runs.some((r) => r.equals(blob))).toBe(true);
    expect(holdsPrivateKeyOf(runs, publicKey)).toBe(false);
  });

  await test.step("the download is in the key's lifecycle and the audit trail, by Ada", async () => {
    const lifecycle = admin.page.getByTestId("key-lifecycle");
    await expect(lifecycle.getByText(`key.backup_downloaded by ${ADMIN.name}`)).toHaveCount(1);
    await olga.page.goto(keyUrl);
    await expect(
      olga.page.getByTestId("key-lifecycle").getByText(`key.backup_downloaded by ${ADMIN.name}`),
    ).toHaveCount(1);
    const events = await queryData<AuditEvent[]>(admin.page.request, "audit.recent", { limit: 50 });
    const downloaded = events.filter(
      (e) => e.action === "key.backup_downloaded" && e.subject === `key:${keyId}`,
    );
    expect(downloaded).toHaveLength(1);
    expect(downloaded[0]?.data).toMatchObject({ keyId, digest });
    expect(downloaded[0]?.actor).toMatch(/^member:[0-9a-f-]{36}$/);
    // Olga's refused attempt left no download record, only the refusal.
    expect(
      events.some((e) => e.action === "access.denied" && JSON.stringify(e.data).includes("backups.download")),
    ).toBe(true);
  });

  await test.step("Olga proposes a restore drill into the token; approved, the key page shows the drill", async () => {
    await olga.page.goto(keyUrl);
    await expect(panel(olga.page).getByLabel("Into HSM token")).toHaveValue(E2E_TOKEN);
    await panel(olga.page).getByRole("button", { name: "Propose a restore" }).click();
    await expect(olga.page.getByTestId("op-title")).toHaveText(
      `Restore the key “${label}” into HSM token ${E2E_TOKEN}`,
    );
    await approveAndExecute(operationIdOf(olga.page), [pia, quinn]);
    await olga.page.goto(keyUrl);
    const drill = olga.page.getByTestId("last-drill");
    await expect(drill).toHaveText(
      new RegExp(`^Last recovery drill: \\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2} UTC on ${E2E_TOKEN}$`),
    );
    // The date shown is the one the trail recorded for the passed drill.
    const restored = olga.page
      .getByTestId("key-lifecycle")
      .getByRole("listitem")
      .filter({ hasText: "key.restored" });
    await expect(restored).toHaveCount(1);
    const at = (await restored.textContent())?.match(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC/)?.[0];
    expect(at).toBeTruthy();
    await expect(drill).toHaveText(`Last recovery drill: ${at} on ${E2E_TOKEN}`);
    await expect(panel(olga.page).getByTestId("key-restores")).toContainText(`drilled on ${E2E_TOKEN}`);
    await expect(olga.page.getByTestId("key-facts")).toContainText("active since");
  });
});
