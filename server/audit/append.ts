// The audit writer. It requires the caller's transaction, so the record commits with the change or not at all.
// Appends are serialised by a transaction-scoped advisory lock; seq is the previous entry's plus one.
import "server-only";
import { desc, sql } from "drizzle-orm";
import type { Tx } from "@/db/client";
import { auditEvents } from "@/db/schema";
import { entryHash, GENESIS_HASH } from "./chain";
import { type Actor, type AuditEvent, auditEventSchema } from "./events";

/** Arbitrary constant naming the audit append lock (pg advisory locks are keyed by a bigint). */
const AUDIT_LOCK_KEY = 0x4b455957; // "KEYW"

export type AppendInput = AuditEvent & { actor: Actor; subject: string; at: Date };

export async function appendAudit(tx: Tx, input: AppendInput) {
  const event = auditEventSchema.parse({ action: input.action, data: input.data });
  await tx.execute(sql`SELECT pg_advisory_xact_lock(${AUDIT_LOCK_KEY})`);
  const [last] = await tx
    .select({ seq: auditEvents.seq, hash: auditEvents.hash })
    .from(auditEvents)
    .orderBy(desc(auditEvents.seq))
    .limit(1);
  const entry = {
    seq: (last?.seq ?? 0) + 1,
    at: input.at.toISOString(),
    actor: input.actor,
    action: event.action,
    subject: input.subject,
    data: event.data,
  };
  const prevHash = last?.hash ?? GENESIS_HASH;
  const hash = entryHash(prevHash, entry);
  await tx.insert(auditEvents).values({ ...entry, at: input.at, prevHash, hash });
  return { seq: entry.seq, hash };
}
