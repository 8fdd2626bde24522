// The one check every signing path makes: a key signs only while it is active. A suspended key (restricted at
// once by one tap, server/operations/restrict.ts), a deactivated, compromised or destroyed one, or one still in
// pre-activation refuses, whatever was approved before. The coming withdrawal kind calls it in its execute step
// before the HSM signs, and again with { lock: true } in the transaction that records the signature, before
// the signed result can leave: a suspension that commits while the HSM is signing then keeps the signature
// from being released (the share lock makes a racing suspension wait for, or be seen by, that transaction).
// A freeze of all signing (server/operations/freeze.ts) is checked the same way, first: requireSigningAllowed
// before the HSM signs, and again with { lock: true } in the recording transaction, before requireActiveKey
// (lock order: freeze lock → key row). A freeze is a new row, not a change to one, so the shared freeze lock
// (an advisory lock the freeze takes exclusively) is what makes a racing freeze wait for, or be seen by, it.
// (The withdrawal kind applies the same check through server/withdrawals/withdrawal-key.ts, where a key deactivated
// by a rotation may also sign a sweep to its successor, and nothing else.)
// A refused signing is not a failed operation: the caller leaves it executing, repeated once the freeze is lifted.
import "server-only";
import { eq } from "drizzle-orm";
import type { DbOrTx } from "@/db/client";
import { type KeyState, keys } from "@/db/schema";
import { AppError } from "@/server/errors";
import { freezeInForce, lockFreezes } from "./freeze";

export type SigningKey = typeof keys.$inferSelect & { state: "active" };

export class KeyNotActiveError extends AppError {
  constructor(
    readonly keyId: string,
    readonly state: KeyState,
  ) {
    super(
      "CONFLICT",
      state === "pre-activation"
        ? `The key ${keyId} is in pre-activation: it cannot sign until a key.activate operation is approved.`
        : `The key ${keyId} is ${state}: it cannot sign until it is active again.`,
    );
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

export class SigningFrozenError extends AppError {
  constructor(
    readonly freezeId: string,
    readonly frozenAt: Date,
  ) {
    super(
      "CONFLICT",
      `Signing is frozen since ${frozenAt.toISOString()}: nothing signs until the quorum lifts the freeze.`,
    );
  }
}

/**
 * Refuses (SigningFrozenError, CONFLICT) while a freeze of all signing is in force. With `lock` (inside the
 * recording transaction) it first takes the freeze lock shared: a freeze committed before is seen, and one being
 * written now waits until this transaction ends, after the signature was recorded.
 */
export async function requireSigningAllowed(db: DbOrTx, options: { lock?: boolean } = {}): Promise<void> {
  if (options.lock === true) await lockFreezes(db, "shared");
  const freeze = await freezeInForce(db);
  if (freeze !== null) throw new SigningFrozenError(freeze.id, freeze.frozenAt);
}
