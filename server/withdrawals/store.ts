// The withdrawals table as the execute step uses it: the transaction an operation built (read back on every
// repeat), the Ethereum nonce taken under the per-key lock and stored with the unsigned transaction in ONE
// database transaction, and the signed transaction recorded with withdrawal.signed in the completing one.
// The nonce is never handed out without its withdrawal row, and a row is never replaced: a repeat after an
// unknown HSM outcome re-signs the stored bytes. A speed-up's replacement (storeReplacement) is a row of its own,
// under its own operation, with the nonce of the transaction it replaces.
import "server-only";
import { and, eq, sql } from "drizzle-orm";
import type { Db, Tx } from "@/db/client";
import { ethereumNonces, type Withdrawal, withdrawals } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import { type DecodedJson, decodedToJson } from "@/server/custody";
import type { DecodedTransaction, SignedTransaction } from "@/server/custody/types";
import { AppError } from "@/server/errors";

export type BuiltTransaction = {
  unsigned: string;
  decoded: DecodedTransaction;
  nonce?: string;
  lastValidBlockHeight?: bigint;
};

type Owner = { operationId: string; chain: string; network: string; keyId: string; asset: string };

/** The withdrawal the operation built, or null when it has none yet. */
export async function storedWithdrawal(db: Db | Tx, operationId: string): Promise<Withdrawal | null> {
  const [row] = await db.select().from(withdrawals).where(eq(withdrawals.operationId, operationId));
  return row ?? null;
}

function insertValues(owner: Owner, built: BuiltTransaction) {
  return {
    ...owner,
    nonce: built.nonce ?? null,
    lastValidBlockHeight: built.lastValidBlockHeight?.toString() ?? null,
    unsigned: built.unsigned,
    decoded: decodedToJson(built.decoded),
    state: "built" as const,
  };
}

/**
 * Stores a transaction whose uniqueness is in its own bytes (Bitcoin inputs, a Solana blockhash): the first one
 * stored for the operation is the one kept and returned (a racing repeat gets the first).
 */
export async function storeBuilt(db: Db, owner: Owner, built: BuiltTransaction): Promise<Withdrawal> {
  await db.insert(withdrawals).values(insertValues(owner, built)).onConflictDoNothing({
    target: withdrawals.operationId,
  });
  const row = await storedWithdrawal(db, owner.operationId);
  if (row === null) throw new AppError("INTERNAL", "The built withdrawal was not stored.");
  return row;
}

/**
 * Ethereum: under the key's nonce row (FOR UPDATE, one per key and chain id), the next nonce — Keyward's own
 * counter, or the node's pending count when that is higher (a transaction sent from elsewhere) — is given to
 * `build`, and the built transaction is stored with it while the lock is held, the counter moved past it. Any
 * refusal in `build` (the built bytes fail the intent check) rolls back and takes no nonce. If the operation
 * already has a row (a repeat), that row is returned and no nonce is taken.
 */
export async function storeWithNonce(
  db: Db,
  owner: Owner & { chainId: number },
  input: {
    chainNonce: (() => Promise<number>) | null;
    build: (nonce: number) => Promise<BuiltTransaction> | BuiltTransaction;
  },
): Promise<Withdrawal> {
  return db.transaction(async (tx) => {
    const lockCounter = () =>
      tx
        .select()
        .from(ethereumNonces)
        .where(and(eq(ethereumNonces.keyId, owner.keyId), eq(ethereumNonces.chainId, owner.chainId)))
        .for("update");
    let [counter] = await lockCounter();
    if (counter === undefined) {
      // The key's first withdrawal on this chain id: its counter is made (a concurrent first attempt's insert
      // waits on the primary key for this one to commit, then does nothing), then locked as above.
      await tx
        .insert(ethereumNonces)
        .values({ keyId: owner.keyId, chainId: owner.chainId, nextNonce: 0n })
        .onConflictDoNothing();
      [counter] = await lockCounter();
    }
    if (counter === undefined) throw new AppError("INTERNAL", "The key's nonce row is missing.");
    // Under the lock: a row stored by a concurrent attempt for this same operation is the one to sign.
    const existing = await storedWithdrawal(tx, owner.operationId);
    if (existing !== null) return existing;
    const onChain = input.chainNonce === null ? 0 : await input.chainNonce();
    const nonce = counter.nextNonce > BigInt(onChain) ? Number(counter.nextNonce) : onChain;
    const built = await input.build(nonce);
    const { chainId: _chainId, ...rowOwner } = owner;
    const [row] = await tx
      .insert(withdrawals)
      .values(insertValues(rowOwner, { ...built, nonce: String(nonce) }))
      .returning();
    await tx
      .update(ethereumNonces)
      .set({ nextNonce: BigInt(nonce + 1), updatedAt: sql`now()` })
      .where(and(eq(ethereumNonces.keyId, owner.keyId), eq(ethereumNonces.chainId, owner.chainId)));
    if (row === undefined) throw new AppError("INTERNAL", "The built withdrawal was not stored.");
    return row;
  });
}

/**
 * In the transaction that marks the operation executed: the signed transaction onto the operation's row
 * (built → signed, exactly once) and withdrawal.signed with the decoded signed transaction and its hash.
 */
export async function recordSigned(
  tx: Tx,
  input: { operationId: string; withdrawalId: string; signed: SignedTransaction },
  at: Date,
): Promise<void> {
  const decoded: DecodedJson = decodedToJson(input.signed.decoded);
  const [row] = await tx
    .update(withdrawals)
    .set({
      state: "signed",
      raw: input.signed.raw,
      txid: input.signed.txid,
      decoded,
      signedAt: at,
      updatedAt: at,
    })
    .where(and(eq(withdrawals.id, input.withdrawalId), eq(withdrawals.state, "built")))
    .returning({
      id: withdrawals.id,
      chain: withdrawals.chain,
      keyId: withdrawals.keyId,
      nonce: withdrawals.nonce,
    });
  if (row === undefined)
    throw new AppError("CONFLICT", "The withdrawal was signed already by another attempt.");
  await appendAudit(tx, {
    action: "withdrawal.signed",
    actor: "system",
    subject: `operation:${input.operationId}`,
    at,
    data: {
      operationId: input.operationId,
      withdrawalId: row.id,
      keyId: row.keyId,
      chain: input.signed.decoded.chain,
      txid: input.signed.txid,
      nonce: row.nonce,
      decoded,
    },
  });
}

/**
 * An Ethereum speed-up's replacement (server/withdrawals/speedup-execute.ts): stored under the key's nonce row
 * (FOR UPDATE, as storeWithNonce takes it) with the nonce of the transaction it replaces — no nonce is taken and
 * the counter does not move. `recheck` runs under that lock first (nothing of this nonce mined, no other speed-up
 * signed since); a refusal there rolls back and stores nothing. A repeat finds the operation's row and gets it.
 */
export async function storeReplacement(
  db: Db,
  owner: Owner & { chainId: number },
  input: { built: BuiltTransaction & { nonce: string }; recheck: (tx: Tx) => Promise<void> },
): Promise<Withdrawal> {
  return db.transaction(async (tx) => {
    await tx
      .insert(ethereumNonces)
      .values({ keyId: owner.keyId, chainId: owner.chainId, nextNonce: 0n })
      .onConflictDoNothing();
    await tx
      .select({ keyId: ethereumNonces.keyId })
      .from(ethereumNonces)
      .where(and(eq(ethereumNonces.keyId, owner.keyId), eq(ethereumNonces.chainId, owner.chainId)))
      .for("update");
    const existing = await storedWithdrawal(tx, owner.operationId);
    if (existing !== null) return existing;
    await input.recheck(tx);
    const { chainId: _chainId, ...rowOwner } = owner;
    const [row] = await tx.insert(withdrawals).values(insertValues(rowOwner, input.built)).returning();
    if (row === undefined) throw new AppError("INTERNAL", "The replacement was not stored.");
    return row;
  });
}
