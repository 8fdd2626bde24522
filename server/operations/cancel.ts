// The initiator can cancel their own operation while it is pending (and not yet past its expiry).
import "server-only";
import { eq } from "drizzle-orm";
import type { Db } from "@/db/client";
import { operations } from "@/db/schema";
import { AppError } from "@/server/errors";
import type { Acting } from "@/server/members/guards";
import { activeMember } from "./actors";
import { type OperationRow, transition } from "./transitions";

export async function cancelOperation(
  db: Db,
  input: { actor: Acting; operationId: string; now: Date },
): Promise<OperationRow> {
  return db.transaction(async (tx) => {
    const actor = await activeMember(tx, input.actor.id, "cancel an operation");
    const [op] = await tx.select().from(operations).where(eq(operations.id, input.operationId)).for("update");
    if (!op) throw new AppError("NOT_FOUND", "No such operation.");
    if (op.initiatorId !== actor.id) {
      throw new AppError("FORBIDDEN", "Only the person who proposed an operation can cancel it.");
    }
    if (op.state !== "pending")
      throw new AppError("CONFLICT", `This operation is ${op.state}: it can no longer be cancelled.`);
    if (input.now >= op.expiresAt)
      throw new AppError("CONFLICT", "This operation has expired: there is nothing left to cancel.");
    return transition(tx, {
      id: op.id,
      from: "pending",
      to: "cancelled",
      actor: `member:${actor.id}`,
      at: input.now,
      event: { action: "operation.cancelled", data: { operationId: op.id } },
    });
  });
}
