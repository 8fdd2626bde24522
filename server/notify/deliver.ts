// Delivery: due deliveries are claimed (FOR UPDATE SKIP LOCKED, so each is sent by one process), sent outside
// any transaction, and each attempt is recorded with its outcome. A failure is retried with exponential
// back-off (1 min, 2, 4, … at most MAX_ATTEMPTS tries), then the delivery is failed and stays in the log.
// It never touches an operation: nothing an endpoint or a mail server does can hold one back.
import "server-only";
import { and, eq, inArray, sql } from "drizzle-orm";
import type { Db } from "@/db/client";
import {
  type NotifyChannel,
  notificationAttempts,
  notificationDeliveries,
  webhookEndpoints,
} from "@/db/schema";
import { messageSchema } from "./message";
import { type Mailer, SendError, type WebhookSender } from "./senders";

export const MAX_ATTEMPTS = 8;
export const FIRST_RETRY_MS = 60_000;
/** How long a claimed delivery is this process's before another may take it back (its sender died). */
const LEASE_MS = 5 * 60_000;
/** Deliveries claimed at once. */
const CLAIM_CHUNK = 5;

/** The wait after the `attempt`-th failed try: 1 min, 2 min, 4 min, … */
export function backoffMs(attempt: number): number {
  return FIRST_RETRY_MS * 2 ** Math.max(0, attempt - 1);
}

export type DeliverOptions = {
  now: Date;
  /** null without SMTP settings: e-mail deliveries are then not attempted at all. */
  mailer: Mailer | null;
  webhook: WebhookSender;
  limit?: number;
};

export type DeliverReport = { delivered: number; retrying: number; failed: number };

type Claimed = typeof notificationDeliveries.$inferSelect;

async function claimDue(db: Db, now: Date, channels: NotifyChannel[], limit: number): Promise<Claimed[]> {
  if (channels.length === 0) return [];
  const d = notificationDeliveries;
  const claimable = and(
    inArray(d.channel, channels),
    sql`((${d.state} = 'pending' AND ${d.nextAttemptAt} <= ${now}) OR (${d.state} = 'sending' AND ${d.lockedUntil} < ${now}))`,
  );
  const due = db
    .select({ id: d.id })
    .from(d)
    .where(claimable)
    .orderBy(d.nextAttemptAt)
    .limit(limit)
    .for("update", { skipLocked: true });
  return (
    db
      .update(d)
      .set({
        state: "sending",
        lockedUntil: new Date(now.getTime() + LEASE_MS),
        attempts: sql`${d.attempts} + 1`,
      })
      // Checked again on the row itself: a row another claim took meanwhile no longer qualifies.
      .where(and(inArray(d.id, due), claimable))
      .returning()
  );
}

async function send(db: Db, row: Claimed, options: DeliverOptions): Promise<number | null> {
  const message = messageSchema.parse(row.message);
  if (row.channel === "email") {
    if (options.mailer === null) throw new SendError("e-mail notifications are off");
    await options.mailer.send({ to: row.address, subject: message.subject, text: message.text });
    return null;
  }
  const [endpoint] = await db
    .select({ url: webhookEndpoints.url, secret: webhookEndpoints.secret, enabled: webhookEndpoints.enabled })
    .from(webhookEndpoints)
    .where(eq(webhookEndpoints.id, row.endpointId ?? ""));
  if (!endpoint) throw new SendError("the endpoint no longer exists", null, true);
  if (!endpoint.enabled) throw new SendError("the endpoint was disabled", null, true);
  const { status } = await options.webhook({
    url: endpoint.url,
    secret: endpoint.secret,
    // The same id on every retry, as Standard Webhooks asks: receivers drop repeats by it.
    id: `msg_${row.id}`,
    at: options.now,
    body: JSON.stringify(message.webhook),
  });
  return status;
}

/** Records one attempt and moves the delivery on, fenced by the attempt number it was claimed with. */
async function record(
  db: Db,
  row: Claimed,
  now: Date,
  outcome:
    | { ok: true; status: number | null }
    | { ok: false; status: number | null; error: string; final: boolean },
): Promise<void> {
  const d = notificationDeliveries;
  await db.transaction(async (tx) => {
    const moved = await tx
      .update(d)
      .set(
        outcome.ok
          ? { state: "delivered", deliveredAt: now, lockedUntil: null, lastError: null }
          : outcome.final
            ? { state: "failed", lockedUntil: null, lastError: outcome.error }
            : {
                state: "pending",
                lockedUntil: null,
                lastError: outcome.error,
                nextAttemptAt: new Date(now.getTime() + backoffMs(row.attempts)),
              },
      )
      .where(and(eq(d.id, row.id), eq(d.state, "sending"), eq(d.attempts, row.attempts)))
      .returning({ id: d.id });
    // Taken back by another process after our lease ran out: its attempt is the one recorded.
    if (moved.length === 0) return;
    await tx.insert(notificationAttempts).values({
      deliveryId: row.id,
      attempt: row.attempts,
      at: now,
      ok: outcome.ok,
      status: outcome.status,
      error: outcome.ok ? null : outcome.error,
    });
  });
}

/** Sends what is due now; returns what happened. Errors of one delivery never stop the others. */
export async function deliverDue(db: Db, options: DeliverOptions): Promise<DeliverReport> {
  const report: DeliverReport = { delivered: 0, retrying: 0, failed: 0 };
  const channels: NotifyChannel[] = options.mailer === null ? ["webhook"] : ["email", "webhook"];
  const limit = options.limit ?? 50;
  let handled = 0;
  // Claimed a few at a time: every claimed row is sent well within its lease (a few sends of at most 10 s each),
  // so no other process takes back a row this one is still about to send.
  while (handled < limit) {
    const claimed = await claimDue(db, options.now, channels, Math.min(CLAIM_CHUNK, limit - handled));
    if (claimed.length === 0) break;
    handled += claimed.length;
    await sendClaimed(db, claimed, options, report);
  }
  return report;
}

async function sendClaimed(db: Db, claimed: Claimed[], options: DeliverOptions, report: DeliverReport) {
  for (const row of claimed) {
    try {
      const status = await send(db, row, options);
      await record(db, row, options.now, { ok: true, status });
      report.delivered++;
    } catch (e) {
      const error = (
        e instanceof SendError ? e.message : `failed: ${e instanceof Error ? e.message : String(e)}`
      ).slice(0, 500);
      const status = e instanceof SendError ? e.status : null;
      // A disabled or removed endpoint will not come back by waiting: fail at once.
      const final = row.attempts >= MAX_ATTEMPTS || (e instanceof SendError && e.permanent);
      await record(db, row, options.now, { ok: false, status, error, final });
      if (final) report.failed++;
      else report.retrying++;
    }
  }
}
