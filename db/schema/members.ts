// People and their hardware tokens. A member holds one or more tokens; each is one WebAuthn credential, keyed by its credential id.
import { sql } from "drizzle-orm";
import { bigint, boolean, index, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";

export const ROLES = ["admin", "operator", "approver", "auditor"] as const;
export type Role = (typeof ROLES)[number];

export const MEMBER_STATUSES = ["active", "suspended"] as const;
export type MemberStatus = (typeof MEMBER_STATUSES)[number];

const createdAt = timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow();

export const members = pgTable("members", {
  id: uuid("id").primaryKey().defaultRandom(),
  name: text("name").notNull(),
  roles: text("roles").array().$type<Role[]>().notNull().default(sql`'{}'::text[]`),
  groups: text("groups").array().notNull().default(sql`'{}'::text[]`),
  status: text("status").$type<MemberStatus>().notNull().default("active"),
  /** The WebAuthn user handle: random, opaque, never the member id or name. */
  userHandle: text("user_handle").notNull().unique(),
  createdAt,
  suspendedAt: timestamp("suspended_at", { withTimezone: true, mode: "date" }),
});

export const tokens = pgTable(
  "tokens",
  {
    /** The WebAuthn credential id, base64url. */
    id: text("id").primaryKey(),
    memberId: uuid("member_id")
      .notNull()
      .references(() => members.id),
    nickname: text("nickname").notNull(),
    /** COSE public key as registered. */
    publicKey: text("public_key").notNull(),
    counter: bigint("counter", { mode: "number" }).notNull(),
    aaguid: text("aaguid").notNull(),
    attestationFormat: text("attestation_format").notNull(),
    transports: text("transports").array().notNull().default(sql`'{}'::text[]`),
    deviceType: text("device_type").notNull(),
    backedUp: boolean("backed_up").notNull(),
    createdAt,
    lastUsedAt: timestamp("last_used_at", { withTimezone: true, mode: "date" }),
    revokedAt: timestamp("revoked_at", { withTimezone: true, mode: "date" }),
    revokedBy: uuid("revoked_by").references(() => members.id),
    /**
     * The registration response's attestationObject and clientDataJSON (base64url), as the token gave them: the
     * evidence bundle carries them so a reader can check the key was the token's. NULL: registered before
     * migration 0024 stored them.
     */
    attestationObject: text("attestation_object"),
    registrationClientData: text("registration_client_data"),
  },
  (t) => [index("credentials_member_idx").on(t.memberId)],
);
