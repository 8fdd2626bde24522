// Short-lived identity state: WebAuthn challenges, server-side sessions, invitations, the first-admin setup code.
import { sql } from "drizzle-orm";
import { index, integer, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { tokens, members, type Role } from "./members";

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

// "add-token-step-up": the fresh assertion by one of a member's own tokens that must come before "add-token".
// "vote": a vote on an operation; its challenge is SHA-256(JCS({ v: 1, op, decision, voter, nonce })).
// "restrict": the one fresh tap of an immediate restriction (server/operations/restrict.ts), bound to its target.
export const CHALLENGE_PURPOSES = [
  "setup",
  "invitation",
  "add-token-step-up",
  "add-token",
  "sign-in",
  "vote",
  "restrict",
  "go-live",
] as const;
export type ChallengePurpose = (typeof CHALLENGE_PURPOSES)[number];

/** A challenge is issued once, kept server-side, and consumed exactly once by the ceremony that asked for it. */
export const webauthnChallenges = pgTable("webauthn_challenges", {
  id: uuid("id").primaryKey().defaultRandom(),
  purpose: text("purpose").$type<ChallengePurpose>().notNull(),
  challenge: text("challenge").notNull().unique(),
  /** What the ceremony is for: the setup code id, invitation id or member id; null for sign-in. */
  subject: text("subject"),
  /** For registrations: the user handle offered to the authenticator. */
  userHandle: text("user_handle"),
  createdAt: ts("created_at").notNull().defaultNow(),
  expiresAt: ts("expires_at").notNull(),
  consumedAt: ts("consumed_at"),
});

export const SESSION_END_REASONS = [
  "signed-out",
  "idle",
  "expired",
  "member-suspended",
  "token-revoked",
  "revoked",
] as const;
export type SessionEndReason = (typeof SESSION_END_REASONS)[number];

export const sessions = pgTable(
  "sessions",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    memberId: uuid("member_id")
      .notNull()
      .references(() => members.id),
    tokenId: text("token_id")
      .notNull()
      .references(() => tokens.id),
    createdAt: ts("created_at").notNull().defaultNow(),
    lastSeenAt: ts("last_seen_at").notNull().defaultNow(),
    expiresAt: ts("expires_at").notNull(),
    endedAt: ts("ended_at"),
    endReason: text("end_reason").$type<SessionEndReason>(),
  },
  (t) => [index("sessions_member_idx").on(t.memberId)],
);

export const invitations = pgTable("invitations", {
  id: uuid("id").primaryKey().defaultRandom(),
  /** SHA-256 of the secret in the link; the secret itself is shown once and never stored. */
  secretHash: text("secret_hash").notNull().unique(),
  name: text("name").notNull(),
  roles: text("roles").array().$type<Role[]>().notNull(),
  groups: text("groups").array().notNull().default(sql`'{}'::text[]`),
  createdBy: uuid("created_by")
    .notNull()
    .references(() => members.id),
  createdAt: ts("created_at").notNull().defaultNow(),
  expiresAt: ts("expires_at").notNull(),
  acceptedAt: ts("accepted_at"),
  acceptedBy: uuid("accepted_by").references(() => members.id),
  revokedAt: ts("revoked_at"),
});

/** One-time codes that let the first person become admin. Only the hash is kept. */
export const setupCodes = pgTable("setup_codes", {
  id: uuid("id").primaryKey().defaultRandom(),
  codeHash: text("code_hash").notNull(),
  createdAt: ts("created_at").notNull().defaultNow(),
  expiresAt: ts("expires_at").notNull(),
  failedAttempts: integer("failed_attempts").notNull().default(0),
  usedAt: ts("used_at"),
  /** Set when a newer code replaces this one or too many wrong guesses burn it. */
  voidedAt: ts("voided_at"),
});

/**
 * Anonymous sign-in failures counted per credential id, reason and minute (server/auth/failure-events.ts). The
 * first failure of each key writes one audit event; repeats only count here, and closed minutes are summarised
 * into the trail in one event and deleted. So a flood of failures cannot flood the append-only trail.
 */
export const signInFailureCounts = pgTable(
  "sign_in_failure_counts",
  {
    credentialId: text("credential_id").notNull(),
    reason: text("reason").notNull(),
    minute: ts("minute").notNull(),
    attempts: integer("attempts").notNull(),
  },
  (t) => [primaryKey({ columns: [t.credentialId, t.reason, t.minute] })],
);
