// Everything the key page shows about one key: the key and its lifecycle (list-keys.ts), the operations still
// open that name it (any kind), and which HSM tokens hold it (server/hsm, cached briefly). Read-only.
import "server-only";
import type { Db } from "@/db/client";
import { keyPresence } from "@/server/hsm";
import type { Acting } from "@/server/members/guards";
import { openOperationsOnKey } from "@/server/operations/read";
import { getKey } from "./list-keys";

export async function keyPage(db: Db, input: { viewer: Acting; keyId: string; now: Date }) {
  const found = await getKey(db, input.keyId);
  const [openOperations, hsm] = await Promise.all([
    openOperationsOnKey(db, { viewer: input.viewer, keyId: input.keyId, now: input.now }),
    keyPresence(found.key.hsmRef),
  ]);
  return { ...found, openOperations, hsm };
}
