// The append-only audit trail. Rows are chained by hash and numbered by the writer, never by a sequence.
import { bigint, index, jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";

export const auditEvents = pgTable(
  "audit_events",
  {
    seq: bigint("seq", { mode: "number" }).primaryKey(),
    at: timestamp("at", { withTimezone: true, mode: "date" }).notNull(),
    /** "member:<uuid>", "system", or "anonymous". */
    actor: text("actor").notNull(),
    action: text("action").notNull(),
    subject: text("subject").notNull(),
    data: jsonb("data").notNull(),
    prevHash: text("prev_hash").notNull(),
    hash: text("hash").notNull().unique(),
  },
  // One subject's story (a token's approvals, a key's life, an operation's votes) is read by subject and action.
  (t) => [index("audit_events_subject_idx").on(t.subject, t.action)],
);
