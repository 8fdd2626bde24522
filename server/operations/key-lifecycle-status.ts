// What the key page shows of a key's lifecycle beyond its state: a scheduled destruction (when, whether it can
// still be cancelled, the operation that scheduled it), the key it succeeds and the key that succeeds it, and
// the open lifecycle operations for it (so the page does not offer a second rotation of a key being rotated).
// Read-only.
import "server-only";
import { and, eq, inArray, sql } from "drizzle-orm";
import type { Db } from "@/db/client";
import { keys, operations } from "@/db/schema";
import { AppError } from "@/server/errors";
import { scheduledDestruction } from "./key-destruction";

const LIFECYCLE_KINDS = ["key.revoke", "key.destroy", "key.rotate", "key.resume", "key.activate"];

export async function keyLifecycleStatus(db: Db, keyId: string) {
  const [key] = await db
    .select({ id: keys.id, predecessorId: keys.predecessorId })
    .from(keys)
    .where(eq(keys.id, keyId));
  if (!key) throw new AppError("NOT_FOUND", "No such key.");
  const [predecessor] = key.predecessorId
    ? await db.select({ id: keys.id, label: keys.label }).from(keys).where(eq(keys.id, key.predecessorId))
    : [];
  const [successor] = await db
    .select({ id: keys.id, label: keys.label })
    .from(keys)
    .where(eq(keys.predecessorId, keyId));
  const open = await db
    .select({ id: operations.id, kind: operations.kind, state: operations.state })
    .from(operations)
    .where(
      and(
        inArray(operations.kind, LIFECYCLE_KINDS),
        inArray(operations.state, ["pending", "waiting", "approved", "executing"]),
        sql`${operations.payload}->>'keyId' = ${keyId}`,
      ),
    );
  return {
    destruction: await scheduledDestruction(db, keyId),
    predecessor: predecessor ?? null,
    successor: successor ?? null,
    openOperations: open,
  };
}
