// Cancelling a pending operation (not yet past its expiry) or a waiting one (its votes met the rule, a delay, a
// closed window or a velocity cap holds it: waiting never expires, and until its release approves it under the
// same row lock it can be stopped), with operation.cancelled in the same transaction; a cancelled operation's
// release job then finds it not waiting and does nothing (release.ts):
// - the initiator cancels their own (a reason is optional);
// - an operation Keyward proposed itself (a due rotation: no person initiated it, so nobody else could) is
//   cancelled by an active admin, who must say why;
// - nobody cancels another person's operation, admins included: disagreeing is what a rejection is for.
// Roles and membership are re-read here under the operation's row lock; the procedure only declares them.
import "server-only";
import { eq } from "drizzle-orm";
import type { Db } from "@/db/client";
import { operations } from "@/db/schema";
import { AppError } from "@/server/errors";
import type { Acting } from "@/server/members/guards";
import { activeMember } from "./actors";
import { SYSTEM_INITIATOR_NAMES } from "./initiator";
import { type OperationRow, transition } from "./transitions";

/** What a cancelled operation keeps in operations.result: who cancelled it and why (when a reason was given). */
export type CancellationRecord = { cancellation: { by: string; reason?: string } };

export async function cancelOperation(
  db: Db,
  input: { actor: Acting; operationId: string; reason?: string; now: Date },
): Promise<OperationRow> {
  return db.transaction(async (tx) => {
    const actor = await activeMember(tx, input.actor.id, "cancel an operation");
    const [op] = await tx.select().from(operations).where(eq(operations.id, input.operationId)).for("update");
    if (!op) throw new AppError("NOT_FOUND", "No such operation.");
    if (op.initiatorId === null) {
      // Proposed by Keyward itself: an admin's to cancel, with a reason.
      if (!actor.roles.includes("admin")) {
        const who = op.systemInitiator
          ? SYSTEM_INITIATOR_NAMES[op.systemInitiator]
          : op.serviceAccountId
            ? "a service account"
            : "Keyward";
        throw new AppError(
          "FORBIDDEN",
          `Only an admin can cancel an operation proposed by ${who}; approvers reject it instead.`,
        );
      }
      if (input.reason === undefined)
        throw new AppError(
          "BAD_INPUT",
          "reason: say why you cancel an operation Keyward proposed (it is kept with the operation).",
          { field: "reason" },
        );
    } else if (op.initiatorId !== actor.id) {
      throw new AppError("FORBIDDEN", "Only the person who proposed an operation can cancel it.");
    }
    if (op.state !== "pending" && op.state !== "waiting")
      throw new AppError("CONFLICT", `This operation is ${op.state}: it can no longer be cancelled.`);
    if (op.state === "pending" && input.now >= op.expiresAt)
      throw new AppError("CONFLICT", "This operation has expired: there is nothing left to cancel.");
    const record: CancellationRecord = {
      cancellation: {
        by: actor.id,
        ...(input.reason !== undefined ? { reason: input.reason } : {}),
      },
    };
    return transition(tx, {
      id: op.id,
      from: op.state,
      to: "cancelled",
      actor: `member:${actor.id}`,
      at: input.now,
      set: { result: record },
      event: {
        action: "operation.cancelled",
        data: { operationId: op.id, ...(input.reason !== undefined ? { reason: input.reason } : {}) },
      },
    });
  });
}
