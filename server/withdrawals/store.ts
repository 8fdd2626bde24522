// The withdrawals table as the execute step uses it: the transaction an operation built (read back on every
// repeat), the Ethereum nonce taken under the per-key lock and stored with the unsigned transaction in ONE
// database transaction, and the signed transaction recorded with withdrawal.signed in the completing one.
// The nonce is never handed out without its withdrawal row, and a row is never replaced: a repeat after an
// unknown HSM outcome re-signs the stored bytes. A speed-up's replacement (storeReplacement) is a row of its own,
// under its own operation, with the nonce of the transaction it replaces.
import "server-only";
import { and, eq, inArray, isNotNull, ne, or, sql } from "drizzle-orm";
import type { Db, Tx } from "@/db/client";
import { ethereumNonces, operations, type Withdrawal, withdrawals } from "@/db/schema";
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
 * The lowest nonce in [from, below) of this key on this chain id that only withdrawals never signed hold, each
 * of a failed operation — a nonce taken, then refused before the HSM's signature was recorded (the key revoked,
 * the HSM refusing the key, a built transaction failing its check): no signed transaction with it exists, so it
 * can be given to the next withdrawal. (An HSM answer lost in transit before the refusal would be a signature
 * over an approved intent: were it ever broadcast, it and the nonce's new holder compete for one nonce, and the
 * tracker finds the other dead — never both mined.) Called under the key's nonce lock. Reads only rows still `built` (few:
 * in-flight and failed ones), through the state index.
 */
async function unsignedFailedNonce(
  tx: Tx,
  o: { keyId: string; chain: string; network: string; from: number; below: number },
): Promise<{ nonce: number; rows: string[] } | null> {
  const ofKey = and(
    eq(withdrawals.keyId, o.keyId),
    eq(withdrawals.chain, o.chain),
    eq(withdrawals.network, o.network),
    isNotNull(withdrawals.nonce),
  );
  const failedUnsigned = await tx
    .select({ id: withdrawals.id, nonce: withdrawals.nonce })
    .from(withdrawals)
    .innerJoin(operations, eq(operations.id, withdrawals.operationId))
    .where(and(ofKey, eq(withdrawals.state, "built"), eq(operations.state, "failed")));
  const candidates = failedUnsigned
    .map((r) => ({ id: r.id, nonce: Number(r.nonce) }))
    .filter((r) => Number.isSafeInteger(r.nonce) && r.nonce >= o.from && r.nonce < o.below);
  if (candidates.length === 0) return null;
  // A nonce some other withdrawal holds (signed, or still being executed) is not free.
  const held = await tx
    .select({ nonce: withdrawals.nonce })
    .from(withdrawals)
    .innerJoin(operations, eq(operations.id, withdrawals.operationId))
    .where(
      and(
        ofKey,
        inArray(withdrawals.nonce, [...new Set(candidates.map((c) => String(c.nonce)))]),
        or(ne(withdrawals.state, "built"), ne(operations.state, "failed")),
      ),
    );
  const taken = new Set(held.map((h) => Number(h.nonce)));
  const free = candidates.filter((c) => !taken.has(c.nonce));
  if (free.length === 0) return null;
  const nonce = Math.min(...free.map((c) => c.nonce));
  return { nonce, rows: free.filter((c) => c.nonce === nonce).map((c) => c.id) };
}

/**
 * Ethereum: under the key's nonce row (FOR UPDATE, one per key and chain id), the next nonce — Keyward's own
 * counter, or the node's pending count when that is higher (a transaction sent from elsewhere) — is given to
 * `build`, and the built transaction is stored with it while the lock is held, the counter moved past it. Any
 * refusal in `build` (the built bytes fail the intent check) rolls back and takes no nonce. If the operation
 * already has a row (a repeat), that row is returned and no nonce is taken. A nonce taken by a withdrawal that
 * then failed unsigned is given out again before the counter's (unsignedFailedNonce), so it leaves no gap.
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
    const next = counter.nextNonce > BigInt(onChain) ? Number(counter.nextNonce) : onChain;
    // A nonce an earlier withdrawal took but never signed (its operation failed) is given out again first, so
    // the refusal leaves no gap for later transactions to wait behind.
    const reused = await unsignedFailedNonce(tx, { ...owner, from: onChain, below: next });
    const nonce = reused?.nonce ?? next;
    const built = await input.build(nonce);
    const { chainId: _chainId, ...rowOwner } = owner;
    const [row] = await tx
      .insert(withdrawals)
      .values(insertValues(rowOwner, { ...built, nonce: String(nonce) }))
      .returning();
    if (row === undefined) throw new AppError("INTERNAL", "The built withdrawal was not stored.");
    if (reused !== null) {
      await tx
        .update(withdrawals)
        .set({
          reason: `never signed (its operation failed); nonce ${nonce} was given to the withdrawal of operation ${owner.operationId}`,
          updatedAt: sql`now()`,
        })
        .where(inArray(withdrawals.id, reused.rows));
      return row;
    }
    await tx
      .update(ethereumNonces)
      .set({ nextNonce: BigInt(nonce + 1), updatedAt: sql`now()` })
      .where(and(eq(ethereumNonces.keyId, owner.keyId), eq(ethereumNonces.chainId, owner.chainId)));
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
