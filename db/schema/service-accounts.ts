// Service accounts (issue 14): machines that propose withdrawals and read their status over the HTTP API
// (app/api/v1/), judged by the same policy as people. Each holds one API key, stored only as the SHA-256 of its
// secret with a visible prefix to find it by; the secret itself is shown once, at creation, and never stored.
// idempotency_keys remembers each (account, Idempotency-Key) with the digest of the body it came with and the
// answer it got, so a retried request returns the same withdrawal and a reused key with another body is refused.
import {
  type AnyPgColumn,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from "drizzle-orm/pg-core";
import { members } from "./members";
import { webhookEndpoints } from "./notifications";
import { operations } from "./operations";

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

/** What a service account's key may do: propose withdrawals, read their status. Nothing else exists. */
export const SERVICE_SCOPES = ["withdrawals:propose", "withdrawals:read"] as const;
export type ServiceScope = (typeof SERVICE_SCOPES)[number];

export const serviceAccounts = pgTable("service_accounts", {
  id: uuid("id").primaryKey().defaultRandom(),
  name: text("name").notNull().unique(),
  scopes: text("scopes").array().$type<ServiceScope[]>().notNull(),
  /** The key's visible part ("kw_" and 12 hex characters): how a presented key is found. Not a secret. */
  keyPrefix: text("key_prefix").notNull().unique(),
  /** SHA-256 hex of the key's secret part (32 random bytes): compared in constant time, never reversible. */
  keyHash: text("key_hash").notNull(),
  /** Requests per minute this key may make (rate-limiter-flexible, server/service-accounts/rate-limit.ts). */
  ratePerMinute: integer("rate_per_minute").notNull(),
  createdBy: uuid("created_by")
    .notNull()
    .references(() => members.id),
  createdAt: ts("created_at").notNull(),
  /** Every key expires; after this instant it authenticates nothing. */
  expiresAt: ts("expires_at").notNull(),
  revokedAt: ts("revoked_at"),
  revokedBy: uuid("revoked_by").references(() => members.id),
  /** Where this account's withdrawal status webhooks go (server/notify delivers them); null: none. */
  webhookEndpointId: uuid("webhook_endpoint_id").references(() => webhookEndpoints.id),
});

/**
 * One Idempotency-Key of one account: the first request's body digest (SHA-256 of its canonical JSON), the
 * operation it created and the answer it got. Written in the proposing transaction, so a key exists exactly
 * when its withdrawal does; the primary key makes a second concurrent request wait for the first and then
 * read its answer.
 */
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    serviceAccountId: uuid("service_account_id")
      .notNull()
      .references(() => serviceAccounts.id),
    key: text("key").notNull(),
    bodyDigest: text("body_digest").notNull(),
    operationId: uuid("operation_id").references((): AnyPgColumn => operations.id),
    /** The first answer, { status, body }, returned again to a repeat with the same body. */
    response: jsonb("response").$type<{ status: number; body: unknown }>(),
    createdAt: ts("created_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.serviceAccountId, t.key] }),
    index("idempotency_keys_operation_idx").on(t.operationId),
  ],
);
