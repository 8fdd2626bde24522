// Webhook endpoints, set by admins: added with a fresh signing secret (shown once, in the answer to the add),
// listed without it, disabled (never deleted: the delivery log refers to them). The secret is stored as is,
// because every delivery must be signed with it; it is never logged and never leaves the server again.
import "server-only";
import { randomBytes } from "node:crypto";
import { and, desc, eq } from "drizzle-orm";
import type { z } from "zod";
import type { Db } from "@/db/client";
import { NOTIFY_EVENTS, webhookEndpoints } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { AppError } from "@/server/errors";
import { memberWithRole } from "@/server/operations/actors";
import { addWebhookInput } from "./schemas";

/** A Standard Webhooks secret: "whsec_" and the base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

const listed = {
  id: webhookEndpoints.id,
  url: webhookEndpoints.url,
  description: webhookEndpoints.description,
  events: webhookEndpoints.events,
  enabled: webhookEndpoints.enabled,
  createdAt: webhookEndpoints.createdAt,
  disabledAt: webhookEndpoints.disabledAt,
};

/** Reads (the router has checked the admin role; changes re-check it from the database). */
export async function listWebhooks(db: Db) {
  return db.select(listed).from(webhookEndpoints).orderBy(desc(webhookEndpoints.createdAt));
}

export async function addWebhook(
  db: Db,
  input: { actorId: string; endpoint: z.input<typeof addWebhookInput>; now: Date },
) {
  const endpoint = addWebhookInput.parse(input.endpoint);
  const events = NOTIFY_EVENTS.filter((e) => endpoint.events.includes(e));
  const secret = newWebhookSecret();
  return db.transaction(async (tx) => {
    const actor = await memberWithRole(tx, input.actorId, ["admin"], "add a webhook endpoint");
    const [row] = await tx
      .insert(webhookEndpoints)
      .values({
        url: endpoint.url,
        description: endpoint.description,
        secret,
        events,
        createdAt: input.now,
        createdBy: actor.id,
      })
      .returning(listed);
    if (!row) throw new AppError("INTERNAL", "Could not store the webhook endpoint.");
    // The trail names the endpoint's origin only: a URL's path may itself be a credential.
    await appendAudit(tx, {
      action: "webhook.added",
      actor: `member:${actor.id}`,
      subject: `webhook:${row.id}`,
      at: input.now,
      data: { endpointId: row.id, origin: new URL(row.url).origin, events },
    });
    return { ...row, secret };
  });
}

export async function disableWebhook(db: Db, input: { actorId: string; endpointId: string; now: Date }) {
  return db.transaction(async (tx) => {
    const actor = await memberWithRole(tx, input.actorId, ["admin"], "disable a webhook endpoint");
    const [row] = await tx
      .update(webhookEndpoints)
      .set({ enabled: false, disabledAt: input.now })
      .where(and(eq(webhookEndpoints.id, input.endpointId), eq(webhookEndpoints.enabled, true)))
      .returning(listed);
    if (!row) {
      const [exists] = await tx
        .select({ id: webhookEndpoints.id })
        .from(webhookEndpoints)
        .where(eq(webhookEndpoints.id, input.endpointId));
      if (exists) throw new AppError("CONFLICT", "This webhook endpoint is already disabled.");
      throw new AppError("NOT_FOUND", "No such webhook endpoint.");
    }
    await appendAudit(tx, {
      action: "webhook.disabled",
      actor: `member:${actor.id}`,
      subject: `webhook:${row.id}`,
      at: input.now,
      data: { endpointId: row.id },
    });
    return row;
  });
}
