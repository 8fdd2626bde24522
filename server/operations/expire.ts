// Pending operations past their expiry become expired, by the scheduler's sweep on every engine (nobody has to
// press a button). A vote arriving after expiry is refused by vote.ts whether or not the sweep has run yet.
import "server-only";
import { and, asc, eq, lte } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { operations } from "@/db/schema";
import { transition } from "./transitions";

const BATCH = 100;

/**
 * Moves every pending operation whose expiry is at or before `now` to expired (operation.expired), in batches
 * of one transaction each. Rows another process holds (a vote being counted, another sweep) are skipped and
 * picked up by the next sweep. Returns how many this call expired.
 */
export async function expireDue(db: DbOrTx, now: Date): Promise<number> {
  let total = 0;
  for (;;) {
    const moved = await db.transaction(async (tx) => {
      const due = await tx
        .select({ id: operations.id, expiresAt: operations.expiresAt })
        .from(operations)
        .where(and(eq(operations.state, "pending"), lte(operations.expiresAt, now)))
        .orderBy(asc(operations.expiresAt))
        .limit(BATCH)
        .for("update", { skipLocked: true });
      for (const op of due) {
        await transition(tx, {
          id: op.id,
          from: "pending",
          to: "expired",
          actor: "system",
          at: now,
          event: {
            action: "operation.expired",
            data: { operationId: op.id, expiresAt: op.expiresAt.toISOString() },
          },
        });
      }
      return due.length;
    });
    total += moved;
    if (moved < BATCH) return total;
  }
}
