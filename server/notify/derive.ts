// Derivation: notifications are made from the sealed audit trail, never by the code that changes operations, so
// a notification can neither hold an operation back nor be forgotten by one. One process at a time (a
// transaction-scoped advisory lock, one across every server on one PostgreSQL) reads the sealed events after the
// cursor, writes one delivery per recipient and channel, and moves the cursor, all in one transaction. Seqs
// become visible in order (server/audit/integrate.ts seals batch after batch under its own lock), so reading
// past the cursor never skips an event; the unique (event, recipient, channel) stands behind the lock.
// It only writes notification tables: it must never write an operation or the audit trail.
import "server-only";
import { and, arrayContains, asc, eq, gt, inArray, isNotNull, sql } from "drizzle-orm";
import { z } from "zod";
import type { Db, Tx } from "@/db/client";
import {
  auditEvents,
  members,
  NOTIFY_EVENTS,
  type NotifyEvent,
  notificationCursor,
  notificationDeliveries,
  notificationSettings,
  operations,
  serviceAccounts,
  webhookEndpoints,
} from "@/db/schema";
import { sealedSoFar } from "@/server/audit/integrate";
import { initiatorName } from "@/server/operations/initiator";
import { operationKind } from "@/server/operations/kinds";
import { type Message, renderMessage } from "./message";
import { recipientsOf } from "./recipients";

/** Arbitrary constant naming the derivation lock ("KWNT"). */
const DERIVE_LOCK_KEY = 0x4b574e54;
const CURSOR_ID = "audit";
/** Sealed events read per transaction. */
export const DERIVE_BATCH = 500;

export type DeriveOptions = {
  now: Date;
  origin: string;
  /** False without SMTP settings: no e-mail delivery is even written. */
  email: boolean;
  limit?: number;
};

export type DeriveReport = { read: number; deliveries: number; cursor: number };

const isNotifyEvent = (a: string): a is NotifyEvent => (NOTIFY_EVENTS as readonly string[]).includes(a);

// Only the fields derivation uses; the audit union (server/audit/events.ts) validated them when written.
const operationRef = z.object({ operationId: z.string().uuid() });
const proposedData = operationRef.extend({
  expiresAt: z.string(),
  policyVersion: z.number(),
  ruleId: z.string(),
});
// operation.waiting: { operationId, until, hold, vetoGroup, … } as written (server/operations/settle.ts); the
// interface note's { id, … } is read too.
const waitingData = z
  .object({
    id: z.string().uuid().optional(),
    operationId: z.string().uuid().optional(),
    until: z.string().nullable(),
    hold: z.string(),
    vetoGroup: z.string().nullable().optional(),
  })
  .refine((d) => d.id !== undefined || d.operationId !== undefined);
const reasonData = z.object({ reason: z.string().optional() });
// withdrawal.*: { operationId, withdrawalId, txid, confirmations?, reason?, … } (server/withdrawals/broadcast.ts).
const transactionData = z.object({ txid: z.string(), confirmations: z.number().int().optional() });

type SealedEvent = { seq: number; at: Date; action: NotifyEvent; data: unknown };

async function readCursor(tx: Tx, now: Date): Promise<number> {
  const [row] = await tx.select().from(notificationCursor).where(eq(notificationCursor.id, CURSOR_ID));
  if (row) return row.seq;
  // Migration 0018 starts the cursor at the trail's head; a database without the row starts from the beginning.
  await tx.insert(notificationCursor).values({ id: CURSOR_ID, seq: 0, updatedAt: now }).onConflictDoNothing();
  return 0;
}

type Delivery = typeof notificationDeliveries.$inferInsert;

/** The deliveries one event makes: e-mails to the members it concerns who chose it, and subscribed webhooks. */
async function deliveriesOf(tx: Tx, event: SealedEvent, options: DeriveOptions): Promise<Delivery[]> {
  let operationId: string;
  let vetoGroup: string | null = null;
  let until: Date | null | undefined;
  let deadline: Date | undefined;
  let reason: string | undefined;
  let transaction: { txid: string; confirmations?: number } | undefined;
  let rule: { policyVersion: number; ruleId: string } | undefined;
  if (event.action === "operation.waiting") {
    const d = waitingData.safeParse(event.data);
    // Only a delay starts a notification: a closed window or a full velocity cap is shown on the page.
    if (!d.success || d.data.hold !== "delay") return [];
    operationId = d.data.id ?? d.data.operationId ?? "";
    vetoGroup = d.data.vetoGroup ?? null;
    until = d.data.until === null ? null : new Date(d.data.until);
  } else if (event.action === "operation.proposed") {
    const d = proposedData.safeParse(event.data);
    if (!d.success) return [];
    operationId = d.data.operationId;
    deadline = new Date(d.data.expiresAt);
    rule = { policyVersion: d.data.policyVersion, ruleId: d.data.ruleId };
  } else {
    const d = operationRef.safeParse(event.data);
    if (!d.success) return [];
    operationId = d.data.operationId;
    reason = reasonData.safeParse(event.data).data?.reason;
    transaction = transactionData.safeParse(event.data).data;
  }
  const [op] = await tx
    .select({
      id: operations.id,
      kind: operations.kind,
      payload: operations.payload,
      initiatorId: operations.initiatorId,
      systemInitiator: operations.systemInitiator,
      serviceAccountId: operations.serviceAccountId,
      serviceAccountName: serviceAccounts.name,
      policyVersion: operations.policyVersion,
      ruleId: operations.ruleId,
      memberName: members.name,
    })
    .from(operations)
    .leftJoin(members, eq(members.id, operations.initiatorId))
    .leftJoin(serviceAccounts, eq(serviceAccounts.id, operations.serviceAccountId))
    .where(eq(operations.id, operationId));
  if (!op) return [];
  let title = op.kind;
  try {
    title = operationKind(op.kind)?.describe(op.payload).title ?? op.kind;
  } catch {
    // A payload the kind no longer reads: the kind's name stands for it.
  }
  const message: Message = renderMessage({
    event: event.action,
    seq: event.seq,
    at: event.at,
    origin: options.origin,
    operation: { id: op.id, kind: op.kind, title, initiator: initiatorName(op) },
    deadline,
    until,
    vetoGroup,
    reason,
    transaction,
  });
  const base = {
    eventSeq: event.seq,
    event: event.action,
    message,
    nextAttemptAt: options.now,
    createdAt: options.now,
  };
  const out: Delivery[] = [];
  if (options.email) {
    const concerned = await recipientsOf(tx, event.action, { ...op, ...rule }, vetoGroup);
    if (concerned.length > 0) {
      const chosen = await tx
        .select({ memberId: notificationSettings.memberId, email: notificationSettings.email })
        .from(notificationSettings)
        .where(
          and(
            inArray(notificationSettings.memberId, concerned),
            isNotNull(notificationSettings.email),
            // The member's own choice: events they did not tick are not sent to them.
            arrayContains(notificationSettings.emailEvents, [event.action]),
          ),
        );
      for (const c of chosen) {
        if (c.email === null) continue;
        out.push({
          ...base,
          channel: "email",
          recipient: `member:${c.memberId}`,
          memberId: c.memberId,
          address: c.email,
        });
      }
    }
  }
  const endpoints = await tx
    .select({
      id: webhookEndpoints.id,
      url: webhookEndpoints.url,
      events: webhookEndpoints.events,
      owner: serviceAccounts.id,
    })
    .from(webhookEndpoints)
    .leftJoin(serviceAccounts, eq(serviceAccounts.webhookEndpointId, webhookEndpoints.id))
    .where(eq(webhookEndpoints.enabled, true));
  for (const e of endpoints) {
    if (!e.events.includes(event.action)) continue;
    // A service account's status endpoint hears only about the operations that account proposed.
    if (e.owner !== null && e.owner !== op.serviceAccountId) continue;
    out.push({ ...base, channel: "webhook", recipient: `webhook:${e.id}`, endpointId: e.id, address: e.url });
  }
  return out;
}

/** One batch: up to `limit` sealed events after the cursor, their deliveries written and the cursor moved. */
export async function deriveBatch(db: Db, options: DeriveOptions): Promise<DeriveReport> {
  const limit = options.limit ?? DERIVE_BATCH;
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${DERIVE_LOCK_KEY})`);
    // Read under the lock: the run before ours has committed its deliveries and its cursor.
    const cursor = await readCursor(tx, options.now);
    const rows = await tx
      .select({
        seq: auditEvents.seq,
        at: auditEvents.at,
        action: auditEvents.action,
        data: auditEvents.data,
      })
      .from(auditEvents)
      .where(gt(auditEvents.seq, cursor))
      .orderBy(asc(auditEvents.seq))
      .limit(limit);
    let last = cursor;
    let written = 0;
    for (const row of rows) {
      if (row.seq === null) continue;
      last = row.seq;
      if (!isNotifyEvent(row.action)) continue;
      const deliveries = await deliveriesOf(
        tx,
        { seq: row.seq, at: row.at, action: row.action, data: row.data },
        options,
      );
      if (deliveries.length === 0) continue;
      const inserted = await tx
        .insert(notificationDeliveries)
        .values(deliveries)
        .onConflictDoNothing({
          target: [
            notificationDeliveries.eventSeq,
            notificationDeliveries.recipient,
            notificationDeliveries.channel,
          ],
        })
        .returning({ id: notificationDeliveries.id });
      written += inserted.length;
    }
    if (last !== cursor) {
      await tx
        .update(notificationCursor)
        .set({ seq: last, updatedAt: options.now })
        .where(eq(notificationCursor.id, CURSOR_ID));
    }
    return { read: rows.length, deliveries: written, cursor: last };
  });
}

/**
 * Derives until the cursor reaches the head of the sealed trail, with every event committed before the call
 * sealed first (writers do not wait for their integration round), so a run right after a change sees it.
 */
export async function deriveNotifications(db: Db, options: DeriveOptions): Promise<DeriveReport> {
  await sealedSoFar(db);
  const total: DeriveReport = { read: 0, deliveries: 0, cursor: 0 };
  const limit = options.limit ?? DERIVE_BATCH;
  for (;;) {
    const batch = await deriveBatch(db, { ...options, limit });
    total.read += batch.read;
    total.deliveries += batch.deliveries;
    total.cursor = batch.cursor;
    if (batch.read < limit) return total;
  }
}
