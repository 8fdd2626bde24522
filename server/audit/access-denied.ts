// Refused authorisations are evidence: who tried which procedure, and which roles it needed. Written in a
// transaction of its own (the refused request changed nothing to join), bounded by the event's schema, and
// only for signed-in members (anonymous refusals would let anybody grow the append-only trail).
import "server-only";
import type { Db } from "@/db/client";
import type { Role } from "@/db/schema";
import { appendAudit } from "./append";

export type AccessDenial = { memberId: string; procedure: string; requiredRoles: readonly Role[]; at: Date };

export async function recordAccessDenied(db: Db, denial: AccessDenial): Promise<void> {
  try {
    await db.transaction((tx) =>
      appendAudit(tx, {
        action: "access.denied",
        actor: `member:${denial.memberId}`,
        subject: `procedure:${denial.procedure}`,
        at: denial.at,
        data: {
          memberId: denial.memberId,
          procedure: denial.procedure,
          requiredRoles: [...denial.requiredRoles],
        },
      }),
    );
  } catch (e) {
    // The refusal stands either way; a trail that cannot be written is the status page's to report.
    console.error("[audit] could not record access.denied", e);
  }
}
