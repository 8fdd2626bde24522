// The append-only audit trail. A change's transaction writes its event unsequenced (seq, prev_hash and hash
// empty); one integrator at a time then numbers and chains committed events in batches (server/audit/
// integrate.ts). Rows are numbered by the integrator, never by a database sequence: `id` is only the order in
// which events were staged, and may have holes.
import { sql } from "drizzle-orm";
import {
  bigint,
  check,
  customType,
  index,
  jsonb,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
} from "drizzle-orm/pg-core";

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
    // The auditor's filters (server/audit/read.ts auditEventsPage), newest first by seq.
    index("audit_events_actor_idx").on(t.actor, t.seq),
    index("audit_events_action_idx").on(t.action, t.seq),
    index("audit_events_at_idx").on(t.at),
    // What the integrator takes next: the few staged rows, in staging order.
    index("audit_events_staged_idx").on(t.id).where(sql`${t.seq} IS NULL`),
    check(
      "audit_events_sealed_together",
      sql`(${t.seq} IS NULL AND ${t.prevHash} IS NULL AND ${t.hash} IS NULL) OR (${t.seq} IS NOT NULL AND ${t.prevHash} IS NOT NULL AND ${t.hash} IS NOT NULL)`,
    ),
  ],
);

/** A SHA-256 hash, 32 bytes, stored as bytea (PGlite gives a Uint8Array back, node-postgres a Buffer: both are). */
const hash32 = customType<{ data: Uint8Array; driverData: Uint8Array }>({
  dataType: () => "bytea",
});

/**
 * The audit log's RFC 9162 Merkle tree (server/audit/log/tree.ts), as every perfect subtree's hash: level 0 holds
 * the leaf hash of the event with seq = idx + 1, level l index i the hash over leaves [i*2^l, (i+1)*2^l). A
 * proof is read as a few of these rows. Written by the integrator only, in the batch that seals the events,
 * and append-only by trigger (migration 0023).
 */
export const auditTreeNodes = pgTable(
  "audit_tree_nodes",
  {
    level: smallint("level").notNull(),
    idx: bigint("idx", { mode: "number" }).notNull(),
    hash: hash32("hash").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.level, t.idx] }),
    check(
      "audit_tree_nodes_shape",
      sql`${t.level} BETWEEN 0 AND 62 AND ${t.idx} >= 0 AND octet_length(${t.hash}) = 32`,
    ),
  ],
);

/**
 * Signed tree heads (server/audit/checkpoint*.ts): the tree of the first `size` events has root `rootHash`,
 * signed in the HSM by the audit key as a C2SP signed note (`note`, the exact bytes served publicly).
 * Append-only by trigger (migration 0023); one per size.
 */
export const auditCheckpoints = pgTable(
  "audit_checkpoints",
  {
    size: bigint("size", { mode: "number" }).primaryKey(),
    rootHash: hash32("root_hash").notNull(),
    signedAt: timestamp("signed_at", { withTimezone: true, mode: "date" }).notNull(),
    /** The signed note: checkpoint text, blank line, signature line(s). */
    note: text("note").notNull(),
    /** The verifier key (name+keyid+base64) it was signed with, as the status page publishes it. */
    verifierKey: text("verifier_key").notNull(),
  },
  (t) => [
    index("audit_checkpoints_signed_at_idx").on(t.signedAt),
    check("audit_checkpoints_shape", sql`${t.size} > 0 AND octet_length(${t.rootHash}) = 32`),
  ],
);
