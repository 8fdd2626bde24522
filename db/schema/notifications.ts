// Notifications (issue 13): each member's e-mail address and choices, the admins' webhook endpoints, the delivery
// log, and the cursor over the sealed audit trail that deliveries are derived from (server/notify/). Nothing
// here is read by operations code: a failed delivery can never hold an operation back.
import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  unique,
  uuid,
} from "drizzle-orm/pg-core";
import { members } from "./members";

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

/** The audit actions notifications are made from (server/notify/derive.ts says who receives each). */
export const NOTIFY_EVENTS = [
  "operation.proposed",
  "operation.waiting",
  "operation.executed",
  "operation.failed",
  "operation.rejected",
  "operation.expired",
  "operation.cancelled",
  // What became of a withdrawal's signed transaction on its chain (server/withdrawals/broadcast.ts).
  "withdrawal.broadcast",
  "withdrawal.confirmed",
  "withdrawal.failed",
  "withdrawal.dead",
] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

export const NOTIFY_CHANNELS = ["email", "webhook"] as const;
export type NotifyChannel = (typeof NOTIFY_CHANNELS)[number];

export const DELIVERY_STATES = ["pending", "sending", "delivered", "failed"] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** A member's own settings: where e-mail goes and which events they receive by e-mail. No row: no e-mail. */
export const notificationSettings = pgTable("notification_settings", {
  memberId: uuid("member_id")
    .primaryKey()
    .references(() => members.id),
  /** Null: the member receives no e-mail. */
  email: text("email"),
  /** The events this member receives by e-mail (a subset of NOTIFY_EVENTS). */
  emailEvents: text("email_events").array().$type<NotifyEvent[]>().notNull(),
  updatedAt: ts("updated_at").notNull(),
});

/**
 * An HTTP endpoint that receives signed events (Standard Webhooks). The secret is stored as is: it must be
 * usable to sign every delivery, so it cannot be hashed. It is shown once, when the endpoint is added.
 */
export const webhookEndpoints = pgTable("webhook_endpoints", {
  id: uuid("id").primaryKey().defaultRandom(),
  url: text("url").notNull(),
  description: text("description").notNull(),
  /** whsec_<base64 of 32 random bytes>. Never shown again after the add, never logged. */
  secret: text("secret").notNull(),
  events: text("events").array().$type<NotifyEvent[]>().notNull(),
  enabled: boolean("enabled").notNull().default(true),
  createdAt: ts("created_at").notNull(),
  createdBy: uuid("created_by")
    .notNull()
    .references(() => members.id),
  disabledAt: ts("disabled_at"),
});

/**
 * One message to one recipient over one channel, derived once from one sealed audit event: unique per event,
 * recipient and channel, so two processes deriving at once cannot send it twice. Claimed for sending with
 * FOR UPDATE SKIP LOCKED; retried with back-off until delivered or out of attempts.
 */
export const notificationDeliveries = pgTable(
  "notification_deliveries",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    /** The audit event's seq. */
    eventSeq: bigint("event_seq", { mode: "number" }).notNull(),
    event: text("event").$type<NotifyEvent>().notNull(),
    channel: text("channel").$type<NotifyChannel>().notNull(),
    /** "member:<uuid>" for e-mail, "webhook:<uuid>" for an endpoint. */
    recipient: text("recipient").notNull(),
    memberId: uuid("member_id").references(() => members.id),
    endpointId: uuid("endpoint_id").references(() => webhookEndpoints.id),
    /** The e-mail address at derivation, or the endpoint's URL. */
    address: text("address").notNull(),
    /** What the message says (server/notify/message.ts): no secret, ever. */
    message: jsonb("message").notNull(),
    state: text("state").$type<DeliveryState>().notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: ts("next_attempt_at").notNull(),
    /** While sending: another process may take it back after this (the sender died). */
    lockedUntil: ts("locked_until"),
    lastError: text("last_error"),
    deliveredAt: ts("delivered_at"),
    createdAt: ts("created_at").notNull(),
  },
  (t) => [
    unique("notification_deliveries_once").on(t.eventSeq, t.recipient, t.channel),
    index("notification_deliveries_due_idx").on(t.state, t.nextAttemptAt),
    index("notification_deliveries_created_idx").on(t.createdAt),
    check(
      "notification_deliveries_one_target",
      sql`(${t.channel} = 'email' AND ${t.memberId} IS NOT NULL AND ${t.endpointId} IS NULL) OR (${t.channel} = 'webhook' AND ${t.endpointId} IS NOT NULL AND ${t.memberId} IS NULL)`,
    ),
  ],
);

/** Every attempt at a delivery, with its outcome: the log admins read. */
export const notificationAttempts = pgTable(
  "notification_attempts",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    deliveryId: uuid("delivery_id")
      .notNull()
      .references(() => notificationDeliveries.id),
    attempt: integer("attempt").notNull(),
    at: ts("at").notNull(),
    ok: boolean("ok").notNull(),
    /** The HTTP status for a webhook, when one came back. */
    status: integer("status"),
    error: text("error"),
  },
  (t) => [unique("notification_attempts_once").on(t.deliveryId, t.attempt)],
);

/** How far derivation has read the sealed trail: one row, id "audit". */
export const notificationCursor = pgTable("notification_cursor", {
  id: text("id").primaryKey(),
  seq: bigint("seq", { mode: "number" }).notNull(),
  updatedAt: ts("updated_at").notNull(),
});
