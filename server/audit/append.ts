// The audit writer. It requires the caller's transaction, so the record commits with the change or not at all.
// The event is written staged, without seq or hash; the integrator (integrate.ts) numbers and chains it after
// the commit, in a round the handle's after-commit hook starts (the caller does not wait for it: a reader that
// must see the event in the chain awaits sealedSoFar).
import "server-only";
import type { Tx } from "@/db/client";
import { auditEvents } from "@/db/schema";
import { canonicalJson } from "./chain";
import { type Actor, type AuditEvent, auditEventSchema } from "./events";
import { integrateAfterCommit } from "./integrate";

export type AppendInput = AuditEvent & { actor: Actor; subject: string; at: Date };

/** Stages the event in the caller's transaction; returns its staging id (not its seq, which comes later). */
export async function appendAudit(tx: Tx, input: AppendInput): Promise<{ id: number }> {
  const event = auditEventSchema.parse({ action: input.action, data: input.data });
  // Refused here, in the change's transaction, rather than by the integrator later: what JSON cannot carry
  // faithfully (a Date, a bigint, NaN) would be stored as something else than what was recorded.
  canonicalJson(event.data);
  const [row] = await tx
    .insert(auditEvents)
    .values({
      at: input.at,
      actor: input.actor,
      action: event.action,
      subject: input.subject,
      data: event.data,
    })
    .returning({ id: auditEvents.id });
  if (!row) throw new Error("the audit event was not written");
  integrateAfterCommit();
  return { id: row.id };
}
