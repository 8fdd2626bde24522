// The key a withdrawal signs with, checked at execution: active, or deactivated (rotated) and paying its
// successor (successor-rule.ts); any other state (suspended, compromised, destroyed, pre-activation) refuses as
// key-guard.ts's requireActiveKey does, so the operation waits. execute.ts calls it before the HSM signs and again
// with { lock: true } in the transaction that records the signature.
import "server-only";
import { eq } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { keys } from "@/db/schema";
import type { Chain, ChainNetworks } from "@/server/custody/types";
import { AppError } from "@/server/errors";
import { StepRefusedError } from "@/server/operations/executor/step-refused";
import { KeyNotActiveError } from "@/server/operations/key-guard";
import { deactivatedKeyRefusal } from "./successor-rule";

type KeyRow = typeof keys.$inferSelect;
export type WithdrawalKey = KeyRow & { state: "active" | "deactivated" };

/** The key that succeeded `keyId` in a rotation, or null. */
export async function successorOf(db: DbOrTx, keyId: string): Promise<KeyRow | null> {
  const [row] = await db.select().from(keys).where(eq(keys.predecessorId, keyId)).limit(1);
  return row ?? null;
}

/**
 * The key a withdrawal signs with, if it may sign this one now: active, or deactivated and paying its successor.
 * Otherwise KeyNotActiveError (CONFLICT: the operation waits, as for a suspended key) or, for a deactivated key
 * paying anyone else, a StepRefusedError saying so: a rotation is not undone, so the withdrawal fails (one approved
 * before the key rotated, to another destination). With `lock`, the key row is share-locked (key-guard.ts's lock order).
 */
export async function requireWithdrawalKey(
  db: DbOrTx,
  input: { keyId: string; chain: Chain; destination: string; networks: ChainNetworks; lock?: boolean },
): Promise<WithdrawalKey> {
  const query = db.select().from(keys).where(eq(keys.id, input.keyId));
  const [row] = input.lock === true ? await query.for("share") : await query;
  if (!row) throw new AppError("NOT_FOUND", `No key ${input.keyId}.`);
  const { state } = row;
  if (state === "active") return { ...row, state };
  if (state !== "deactivated") throw new KeyNotActiveError(input.keyId, state);
  const refusal = deactivatedKeyRefusal({
    key: row,
    successor: await successorOf(db, row.id),
    chain: input.chain,
    destination: input.destination,
    networks: input.networks,
  });
  if (refusal !== null) throw new StepRefusedError(refusal);
  return { ...row, state };
}
