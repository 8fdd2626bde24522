// A service account's status webhook, through server/notify's real derivation and delivery to a local HTTP
// receiver: it hears how the account's own operations end, signed the Standard Webhooks way with the secret
// shown once at creation, and nothing about another account's operations or a person's.
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Db } from "@/db/client";
import { integrateAudit } from "@/server/audit/integrate";
import { deliverDue } from "@/server/notify/deliver";
import { deriveNotifications } from "@/server/notify/derive";
import { fetchWebhookSender } from "@/server/notify/senders";
import { startTestReceiver, type TestReceiver } from "@/server/notify/testing/receiver";
import { cancelOperation } from "@/server/operations/cancel";
import { proposeAsService, proposeOperation } from "@/server/operations/propose";
import { firstAdmin, invitedMember, type Person } from "@/server/testing/identity-fixtures";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { createServiceAccount } from "./manage";

// Now: receivers refuse Standard Webhooks timestamps more than 5 minutes off their clock.
const T0 = new Date(Math.floor(Date.now() / 1000) * 1000);
const keyPayload = (label: string) => ({ label, curve: "p256", tags: [], exportable: "wrapped" });

describe.each(testEngines())("service account status webhooks on %s", (engine) => {
  const database = useTestDatabase(engine);
  let db: Db;
  let admin: Person;
  let mine: TestReceiver;
  let theirs: TestReceiver;

  beforeAll(async () => {
    db = database();
    admin = await firstAdmin(db, { now: T0 });
    mine = await startTestReceiver();
    theirs = await startTestReceiver();
  });

  afterAll(async () => {
    await mine.close();
    await theirs.close();
  });

  it("delivers the account's own outcomes, signed, and nothing else", async () => {
    const account = (name: string, url: string) =>
      createServiceAccount(db, {
        actorId: admin.acting.id,
        account: { name, scopes: ["withdrawals:propose"], expiresInDays: 30, webhookUrl: url },
        now: T0,
      });
    const a = await account(`hooks-a-${engine}`, mine.url);
    const b = await account(`hooks-b-${engine}`, theirs.url);
    expect(a.webhookSecret).toMatch(/^whsec_/);
    const operator = await invitedMember(db, admin.acting, { now: T0, roles: ["operator"] });
    const own = await db.transaction((tx) =>
      proposeAsService(tx, {
        serviceAccountId: a.id,
        kind: "key.create",
        payload: keyPayload("a's"),
        now: T0,
      }),
    );
    const person = await proposeOperation(db, {
      actor: operator.acting,
      kind: "key.create",
      payload: keyPayload("person's"),
      now: T0,
    });
    const t1 = new Date(T0.getTime() + 60_000);
    await cancelOperation(db, { actor: admin.acting, operationId: own.id, reason: "test: stop it", now: t1 });
    await cancelOperation(db, { actor: operator.acting, operationId: person.id, now: t1 });
    await integrateAudit(db);
    await deriveNotifications(db, { now: t1, origin: "http://localhost:3000", email: false });
    const sent = await deliverDue(db, { now: t1, mailer: null, webhook: fetchWebhookSender() });
    expect(sent).toEqual({ delivered: 1, retrying: 0, failed: 0 });
    expect(theirs.requests).toHaveLength(0);
    expect(mine.requests).toHaveLength(1);
    const [request] = mine.requests;
    const headers = Object.fromEntries(
      Object.entries(request?.headers ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.join(",") : (v ?? "")]),
    );
    // Verified with the secret the admin was shown, by the Standard Webhooks library.
    const payload = new Webhook(a.webhookSecret ?? "").verify(request?.body ?? "", headers) as {
      type: string;
      data: Record<string, unknown>;
    };
    expect(payload).toMatchObject({
      type: "operation.cancelled",
      data: { operationId: own.id, state: "cancelled", reason: "test: stop it" },
    });
    expect(b.id).not.toBe(a.id);
  });
});
