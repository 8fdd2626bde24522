// The append-only audit trail. A change's transaction writes its event unsequenced (seq, prev_hash and hash
// empty); one integrator at a time then numbers and chains committed events in batches (server/audit/
// integrate.ts). Rows are numbered by the integrator, never by a database sequence: `id` is only the order in
// which events were staged, and may have holes.
import { sql } from "drizzle-orm";
import { bigint, check, index, jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";

export const auditEvents = pgTable(
  "audit_events",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    /** Gap-free from 1, set once by the integrator; null while the event waits to be sequenced. */
    seq: bigint("seq", { mode: "number" }).unique(),
    at: timestamp("at", { withTimezone: true, mode: "date" }).notNull(),
    /** "member:<uuid>", "system", or "anonymous". */
    actor: text("actor").notNull(),
    action: text("action").notNull(),
    subject: text("subject").notNull(),
    data: jsonb("data").notNull(),
    prevHash: text("prev_hash"),
    hash: text("hash").unique(),
  },
  (t) => [
    // One subject's story (a token's approvals, a key's life, an operation's votes) is read by subject and action.
    index("audit_events_subject_idx").on(t.subject, t.action),
    // What the integrator takes next: the few staged rows, in staging order.
    index("audit_events_staged_idx").on(t.id).where(sql`${t.seq} IS NULL`),
    check(
      "audit_events_sealed_together",
      sql`(${t.seq} IS NULL AND ${t.prevHash} IS NULL AND ${t.hash} IS NULL) OR (${t.seq} IS NOT NULL AND ${t.prevHash} IS NOT NULL AND ${t.hash} IS NOT NULL)`,
    ),
  ],
);
