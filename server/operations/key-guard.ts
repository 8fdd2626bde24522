// The one check every signing path makes: a key signs only while it is active. A suspended key (restricted at
// once by one tap, server/operations/restrict.ts), a deactivated, compromised or destroyed one, or one still in
// pre-activation refuses, whatever was approved before. The coming withdrawal kind calls it in its execute step
// before the HSM signs, and again with { lock: true } in the transaction that records the signature, before
// the signed result can leave: a suspension that commits while the HSM is signing then keeps the signature
// from being released (the share lock makes a racing suspension wait for, or be seen by, that transaction).
import "server-only";
import { eq } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { type KeyState, keys } from "@/db/schema";
import { AppError } from "@/server/errors";

export type SigningKey = typeof keys.$inferSelect & { state: "active" };

export class KeyNotActiveError extends AppError {
  constructor(
    readonly keyId: string,
    readonly state: KeyState,
  ) {
    super("CONFLICT", `The key ${keyId} is ${state}: it cannot sign until it is active again.`);
  }
}

/** The key `keyId` if it is active now; KeyNotActiveError (CONFLICT) or NOT_FOUND otherwise. */
export async function requireActiveKey(
  db: DbOrTx,
  keyId: string,
  options: { lock?: boolean } = {},
): Promise<SigningKey> {
  const query = db.select().from(keys).where(eq(keys.id, keyId));
  const [row] = options.lock === true ? await query.for("share") : await query;
  if (!row) throw new AppError("NOT_FOUND", `No key ${keyId}.`);
  const { state } = row;
  if (state !== "active") throw new KeyNotActiveError(keyId, state);
  return { ...row, state };
}
