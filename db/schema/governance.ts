// The go-live ceremony (issue 13 item 6). An installation is in setup mode until the one row of
// installation_live exists; that row records when it went live, under which policy version and which admins
// approved it, and is never changed or removed (migration triggers), so going live is never undone. Each
// admin's tap for the ceremony is kept in go_live_taps, also append-only: a tap binds one policy digest and one
// set of admins, so a new policy version or a change to the admins makes earlier taps stop counting without
// touching them.
import { sql } from "drizzle-orm";
import {
  boolean,
  check,
  integer,
  jsonb,
  pgTable,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from "drizzle-orm/pg-core";
import { members, tokens } from "./members";
import { policyVersions } from "./operations";

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

export const installationLive = pgTable(
  "installation_live",
  {
    /** Always true: the primary key over a constant makes this a table of at most one row. */
    id: boolean("id").primaryKey().default(true),
    since: ts("since").notNull(),
    policyVersion: integer("policy_version")
      .notNull()
      .references(() => policyVersions.version),
    policyDigest: text("policy_digest").notNull(),
    /** SHA-256 hex of the sorted admin ids that approved (go-live.ts adminSetDigest). */
    adminSetDigest: text("admin_set_digest").notNull(),
    /** The admins whose taps took it live, in id order. */
    admins: uuid("admins").array().notNull(),
    /** The admin whose tap was the last one. */
    completedBy: uuid("completed_by")
      .notNull()
      .references(() => members.id),
  },
  (t) => [check("installation_live_one_row", sql`${t.id}`)],
);

export const goLiveTaps = pgTable(
  "go_live_taps",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    adminId: uuid("admin_id")
      .notNull()
      .references(() => members.id),
    tokenId: text("token_id")
      .notNull()
      .references(() => tokens.id),
    policyVersion: integer("policy_version")
      .notNull()
      .references(() => policyVersions.version),
    policyDigest: text("policy_digest").notNull(),
    adminSetDigest: text("admin_set_digest").notNull(),
    /** The challenge's random nonce (base64url), single use. */
    nonce: text("nonce").notNull(),
    /** The whole AuthenticationResponseJSON: anyone with the token's public key can re-check the tap. */
    assertion: jsonb("assertion").notNull(),
    tappedAt: ts("tapped_at").notNull(),
  },
  // One tap per admin per (policy, admin set): a second one for the same content is refused.
  (t) => [uniqueIndex("go_live_taps_once").on(t.adminId, t.policyDigest, t.adminSetDigest)],
);

export type InstallationLive = typeof installationLive.$inferSelect;
export type GoLiveTap = typeof goLiveTaps.$inferSelect;
