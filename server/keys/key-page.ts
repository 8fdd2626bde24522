// Everything the key page shows about one key: the key and its lifecycle (list-keys.ts) with the operations
// still open that name it (any kind) — database reads only, so the page renders without waiting for the HSM —
// and, apart, which HSM tokens hold it, each compared with the recorded public key (server/hsm, cached
// briefly). Read-only.
import "server-only";
import { eq } from "drizzle-orm";
import type { Db } from "@/db/client";
import { keys } from "@/db/schema";
import { AppError } from "@/server/errors";
import { type KeyPresence, keyPresence } from "@/server/hsm";
import type { Acting } from "@/server/members/guards";
import { openOperationsOnKey } from "@/server/operations/read";
import { getKey } from "./list-keys";

export async function keyPage(db: Db, input: { viewer: Acting; keyId: string; now: Date }) {
  const found = await getKey(db, input.keyId);
  const openOperations = await openOperationsOnKey(db, {
    viewer: input.viewer,
    keyId: input.keyId,
    now: input.now,
  });
  return { ...found, openOperations };
}

/**
 * Every configured HSM token and whether it holds the key (its CKA_ID) with the recorded public key, from the
 * HSM through the server's token set.
 */
export async function keyHolders(db: Db, keyId: string): Promise<KeyPresence> {
  const [key] = await db
    .select({ ref: keys.hsmRef, publicKey: keys.publicKey, curve: keys.curve, exportable: keys.exportable })
    .from(keys)
    .where(eq(keys.id, keyId));
  if (!key) throw new AppError("NOT_FOUND", "No such key.");
  return keyPresence(key);
}
