// Notifications in the browser. The e2e console runs without SMTP settings: a member's settings page says e-mail
// notifications are off, and still keeps their address and choices. An admin adds a webhook endpoint pointing at
// a receiver in this test process, sees its secret once, proposes an operation, and the receiver gets
// operation.proposed signed so that standardwebhooks verifies it with that secret; the delivery log shows it
// delivered. An approver is refused the webhooks page and its procedures.
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";
import { expect, test, trpcMutation, trpcQuery } from "./fixtures";

test("a member keeps their own address and choices, and the page says e-mail notifications are off", async ({
  newMember,
}) => {
  const nina = await newMember({ name: "Nina Notify", roles: ["approver"] });
  const { page } = nina;
  await page.getByRole("link", { name: "Notifications" }).click();
  await expect(page.getByRole("heading", { name: "Notifications", level: 1 })).toBeVisible();
  await expect(page.getByTestId("email-off")).toContainText("E-mail notifications are off");
  await page.getByLabel(/E-mail address/).fill("nina@example.com");
  await page.getByLabel("My operation expired").uncheck();
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByText("Saved.")).toBeVisible();
  await page.reload();
  await expect(page.getByLabel(/E-mail address/)).toHaveValue("nina@example.com");
  await expect(page.getByLabel("My operation expired")).not.toBeChecked();
  await expect(page.getByLabel("An operation awaits my vote (with its deadline)")).toBeChecked();

  await page.goto("/settings/webhooks");
  await expect(page.getByRole("heading", { name: "Not allowed" })).toBeVisible();
  expect((await trpcQuery(page.request, "notifications.webhooks")).status()).toBe(403);
  expect((await trpcQuery(page.request, "notifications.deliveries", { limit: 10 })).status()).toBe(403);
});

test("an admin adds a webhook endpoint, sees its secret once, and the endpoint receives a signed event", async ({
  admin,
}) => {
  const received: { headers: IncomingHttpHeaders; body: string }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/keyward`;
  try {
    const { page } = admin;
    await page.goto("/settings/webhooks");
    await page.getByLabel(/^URL/).fill(url);
    await page.getByLabel("Description").fill("e2e receiver");
    await page.getByRole("button", { name: "Add endpoint" }).click();
    const shown = page.getByTestId("webhook-secret");
    await expect(shown).toContainText("shown only now");
    const secret = (await shown.locator("code").textContent()) ?? "";
    expect(secret).toMatch(/^whsec_/);
    await expect(page.getByTestId("webhook-endpoints")).toContainText(url);

    const response = await trpcMutation(page.request, "operations.propose", {
      kind: "key.create",
      payload: { label: "e2e notified key", curve: "secp256k1", tags: [], exportable: "never" },
    });
    expect(response.status()).toBe(200);
    const operationId: string = (await response.json()).result.data.json.id;

    // The notifier derives and sends every few seconds.
    await expect
      .poll(() => received.filter((r) => r.body.includes(operationId)).length, { timeout: 30_000 })
      .toBe(1);
    const request = received.find((r) => r.body.includes(operationId));
    if (!request) throw new Error("no request");
    const headers = {
      "webhook-id": String(request.headers["webhook-id"]),
      "webhook-timestamp": String(request.headers["webhook-timestamp"]),
      "webhook-signature": String(request.headers["webhook-signature"]),
    };
    const event = new Webhook(secret).verify(request.body, headers) as {
      type: string;
      data: { operationId: string; url: string; deadline: string };
    };
    expect(event.type).toBe("operation.proposed");
    expect(event.data.operationId).toBe(operationId);
    expect(event.data.url).toMatch(new RegExp(`/operations/${operationId}$`));
    expect(() =>
      new Webhook(secret).verify(request.body.replace("e2e notified key", "e2e other key"), headers),
    ).toThrow();

    // Once: a reload shows the endpoint, never the secret again; the log shows the delivery.
    await page.reload();
    await expect(page.getByTestId("webhook-secret")).toHaveCount(0);
    await expect(page.getByText(secret)).toHaveCount(0);
    const log = page.getByTestId("delivery-log");
    await expect(log.getByRole("row").filter({ hasText: "e2e receiver" }).first()).toContainText("delivered");

    // Status shows e-mail off too.
    await page.goto("/status");
    await expect(page.getByTestId("notifications-status")).toContainText("E-mail notifications are off");
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
