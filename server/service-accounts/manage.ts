// Admins manage service accounts: create one (its API key returned once, in the answer, and never again), list
// them (prefix, scopes, expiry, state — never a secret or hash), revoke one (at once, for good). Each change is
// re-checked against the admin role as the database has it now and audited in the same transaction.
import "server-only";
import { desc, eq } from "drizzle-orm";
import type { z } from "zod";
import type { Db } from "@/db/client";
import { serviceAccounts, webhookEndpoints } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { AppError } from "@/server/errors";
import { newWebhookSecret } from "@/server/notify/webhooks";
import { memberWithRole } from "@/server/operations/actors";
import { newApiKey } from "./api-key";
import { createServiceAccountInput } from "./schemas";
import { STATUS_EVENTS } from "./status-events";

const DAY_MS = 86_400_000;

const listed = {
  id: serviceAccounts.id,
  name: serviceAccounts.name,
  scopes: serviceAccounts.scopes,
  keyPrefix: serviceAccounts.keyPrefix,
  ratePerMinute: serviceAccounts.ratePerMinute,
  createdAt: serviceAccounts.createdAt,
  createdBy: serviceAccounts.createdBy,
  expiresAt: serviceAccounts.expiresAt,
  revokedAt: serviceAccounts.revokedAt,
  webhookEndpointId: serviceAccounts.webhookEndpointId,
};

export type ServiceAccountListed = {
  id: string;
  name: string;
  scopes: string[];
  keyPrefix: string;
  ratePerMinute: number;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  webhookUrl: string | null;
  state: "active" | "expired" | "revoked";
};

/** Every service account, newest first, with its state now. The router has checked the admin role. */
export async function listServiceAccounts(db: Db, now: Date): Promise<ServiceAccountListed[]> {
  const rows = await db
    .select({ ...listed, webhookUrl: webhookEndpoints.url })
    .from(serviceAccounts)
    .leftJoin(webhookEndpoints, eq(webhookEndpoints.id, serviceAccounts.webhookEndpointId))
    .orderBy(desc(serviceAccounts.createdAt));
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    scopes: r.scopes,
    keyPrefix: r.keyPrefix,
    ratePerMinute: r.ratePerMinute,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    revokedAt: r.revokedAt,
    webhookUrl: r.webhookUrl,
    state: r.revokedAt !== null ? "revoked" : now >= r.expiresAt ? "expired" : "active",
  }));
}

/** Creates the account and its key; the answer's `apiKey` is the only time anyone sees it. */
export async function createServiceAccount(
  db: Db,
  input: { actorId: string; account: z.input<typeof createServiceAccountInput>; now: Date },
) {
  const account = createServiceAccountInput.parse(input.account);
  const key = newApiKey();
  const expiresAt = new Date(input.now.getTime() + account.expiresInDays * DAY_MS);
  return db.transaction(async (tx) => {
    const actor = await memberWithRole(tx, input.actorId, ["admin"], "create a service account");
    const [taken] = await tx
      .select({ id: serviceAccounts.id })
      .from(serviceAccounts)
      .where(eq(serviceAccounts.name, account.name));
    if (taken)
      throw new AppError("CONFLICT", `name: a service account named “${account.name}” exists already.`, {
        field: "name",
      });
    let webhookEndpointId: string | null = null;
    let webhookSecret: string | null = null;
    if (account.webhookUrl !== null) {
      // Its status webhooks go through server/notify like every other endpoint's (signed, retried, logged),
      // limited by derive.ts to the operations this account proposed.
      webhookSecret = newWebhookSecret();
      const [endpoint] = await tx
        .insert(webhookEndpoints)
        .values({
          url: account.webhookUrl,
          description: `Status of service account ${account.name}`,
          secret: webhookSecret,
          events: [...STATUS_EVENTS],
          createdAt: input.now,
          createdBy: actor.id,
        })
        .returning({ id: webhookEndpoints.id });
      if (!endpoint) throw new AppError("INTERNAL", "Could not store the webhook endpoint.");
      webhookEndpointId = endpoint.id;
      await appendAudit(tx, {
        action: "webhook.added",
        actor: `member:${actor.id}`,
        subject: `webhook:${endpoint.id}`,
        at: input.now,
        data: {
          endpointId: endpoint.id,
          origin: new URL(account.webhookUrl).origin,
          events: [...STATUS_EVENTS],
        },
      });
    }
    const [row] = await tx
      .insert(serviceAccounts)
      .values({
        name: account.name,
        scopes: account.scopes,
        keyPrefix: key.prefix,
        keyHash: key.hash,
        ratePerMinute: account.ratePerMinute,
        createdBy: actor.id,
        createdAt: input.now,
        expiresAt,
        webhookEndpointId,
      })
      .returning(listed);
    if (!row) throw new AppError("INTERNAL", "Could not store the service account.");
    await appendAudit(tx, {
      action: "service_account.created",
      actor: `member:${actor.id}`,
      subject: `service:${row.id}`,
      at: input.now,
      data: {
        serviceAccountId: row.id,
        name: row.name,
        scopes: row.scopes,
        keyPrefix: row.keyPrefix,
        expiresAt: row.expiresAt.toISOString(),
        ratePerMinute: row.ratePerMinute,
        webhookEndpointId,
      },
    });
    return { ...row, apiKey: key.key, webhookSecret };
  });
}

/** Revokes the account's key now; its webhook endpoint is disabled with it. Revoked stays revoked. */
export async function revokeServiceAccount(db: Db, input: { actorId: string; id: string; now: Date }) {
  return db.transaction(async (tx) => {
    const actor = await memberWithRole(tx, input.actorId, ["admin"], "revoke a service account");
    const [row] = await tx
      .select()
      .from(serviceAccounts)
      .where(eq(serviceAccounts.id, input.id))
      .for("update");
    if (!row) throw new AppError("NOT_FOUND", "No such service account.", { field: "id" });
    if (row.revokedAt !== null) throw new AppError("CONFLICT", `“${row.name}” is revoked already.`);
    await tx
      .update(serviceAccounts)
      .set({ revokedAt: input.now, revokedBy: actor.id })
      .where(eq(serviceAccounts.id, row.id));
    if (row.webhookEndpointId !== null) {
      await tx
        .update(webhookEndpoints)
        .set({ enabled: false, disabledAt: input.now })
        .where(eq(webhookEndpoints.id, row.webhookEndpointId));
    }
    await appendAudit(tx, {
      action: "service_account.revoked",
      actor: `member:${actor.id}`,
      subject: `service:${row.id}`,
      at: input.now,
      data: { serviceAccountId: row.id },
    });
    return { id: row.id, name: row.name, revokedAt: input.now };
  });
}
