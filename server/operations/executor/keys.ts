// The keys row a key.create leaves: written in the transaction that marks the operation executed, with its
// key.created event. keys.operation_id and keys.hsm_ref are unique, so no operation can record two keys.
import "server-only";
import type { Tx } from "@/db/client";
import { keys } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import type { CreatedKeyRecord } from "./types";

export async function recordCreatedKey(tx: Tx, key: CreatedKeyRecord, at: Date): Promise<{ keyId: string }> {
  const [row] = await tx
    .insert(keys)
    .values({ ...key, state: "active", createdAt: at, stateChangedAt: at })
    .returning({ id: keys.id });
  if (row === undefined) throw new Error("insert into keys returned no row");
  await appendAudit(tx, {
    action: "key.created",
    data: { keyId: row.id, ...key },
    actor: "system",
    subject: `key:${row.id}`,
    at,
  });
  return { keyId: row.id };
}
