// Withdrawals (issue 14): the transaction each approved withdrawal operation built, signed and (with an RPC
// endpoint) broadcast, one row per operation; and the next Ethereum nonce per key and chain id, the row the
// executor locks (FOR UPDATE) to hand nonces out in order. Written only by the executor (server/withdrawals/)
// and the broadcast tracker; the unsigned transaction is stored BEFORE the HSM signs it, so a repeat after an
// unknown HSM outcome re-signs exactly the same transaction (same nonce, fees, blockhash, inputs).
import { sql } from "drizzle-orm";
import {
  bigint,
  check,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from "drizzle-orm/pg-core";
import { keys, operations } from "./operations";

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

/**
 * built: the unsigned transaction is stored (its nonce taken), not yet signed; signed: the signed transaction is
 * stored (ready to broadcast or download); broadcast: sent to the node; confirmed: in a block that succeeded,
 * with enough confirmations; failed: in a block that failed (fee spent, nothing moved); dead: provably never
 * going to confirm (its nonce, inputs or blockhash used up by something else).
 */
export const WITHDRAWAL_STATES = ["built", "signed", "broadcast", "confirmed", "failed", "dead"] as const;
export type WithdrawalState = (typeof WITHDRAWAL_STATES)[number];

export const withdrawals = pgTable(
  "withdrawals",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    /** The withdrawal operation: one transaction per operation, so a repeated step cannot build a second. */
    operationId: uuid("operation_id")
      .notNull()
      .unique()
      .references(() => operations.id),
    chain: text("chain").notNull(),
    /** "regtest"; the Ethereum chain id as a decimal string; the Solana cluster. */
    network: text("network").notNull(),
    keyId: uuid("key_id")
      .notNull()
      .references(() => keys.id),
    /** The asset's symbol on its chain ("ETH", "USDC"). */
    asset: text("asset").notNull(),
    /** Ethereum: the nonce (decimal); Solana: the recent blockhash; Bitcoin: null (its inputs are its uniqueness). */
    nonce: text("nonce"),
    /** Solana: the last block height at which the blockhash is valid (decimal); else null. */
    lastValidBlockHeight: text("last_valid_block_height"),
    /** What the HSM signs over: Ethereum unsigned serialisation (0x-hex), Solana message (base64), Bitcoin PSBT (base64). */
    unsigned: text("unsigned").notNull(),
    /** The signed transaction in its chain's wire format (custody/types.ts SignedTransaction.raw); null while built. */
    raw: text("raw"),
    txid: text("txid"),
    /** The DecodedTransaction of the signed (else the unsigned) transaction, amounts as decimal strings. */
    decoded: jsonb("decoded").notNull(),
    state: text("state").$type<WithdrawalState>().notNull(),
    /** Confirmations seen by the tracker (the including block counts as 1). */
    confirmations: integer("confirmations").notNull().default(0),
    /** The block that holds it (Ethereum and Bitcoin: its hash; Solana: its slot), once seen in one. */
    block: text("block"),
    /**
     * That block's number (Ethereum block number, Bitcoin height, Solana slot); null before it is seen in a block,
     * after a reorganisation took that block away, and for rows tracked before this column existed.
     */
    blockNumber: bigint("block_number", { mode: "number" }),
    /** Why it failed or is dead, in words. */
    reason: text("reason"),
    createdAt: ts("created_at").notNull().defaultNow(),
    signedAt: ts("signed_at"),
    broadcastAt: ts("broadcast_at"),
    confirmedAt: ts("confirmed_at"),
    updatedAt: ts("updated_at").notNull().defaultNow(),
  },
  (t) => [
    index("withdrawals_state_idx").on(t.state),
    index("withdrawals_key_idx").on(t.keyId),
    index("withdrawals_txid_idx").on(t.txid),
    check(
      "withdrawals_signed_has_raw",
      sql`${t.state} = 'built' OR (${t.raw} IS NOT NULL AND ${t.txid} IS NOT NULL)`,
    ),
  ],
);

/**
 * The next nonce Keyward gives a transaction from this key on this Ethereum chain. Locked FOR UPDATE while a
 * withdrawal takes its nonce (server/withdrawals/nonce.ts), so executions of the same key are serialised and
 * nonces are handed out in execution order with no gap, whatever order the approvals came in.
 */
export const ethereumNonces = pgTable(
  "ethereum_nonces",
  {
    keyId: uuid("key_id")
      .notNull()
      .references(() => keys.id),
    chainId: integer("chain_id").notNull(),
    nextNonce: bigint("next_nonce", { mode: "bigint" }).notNull(),
    updatedAt: ts("updated_at").notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.keyId, t.chainId] }),
    check("ethereum_nonces_non_negative", sql`${t.nextNonce} >= 0`),
  ],
);

export type Withdrawal = typeof withdrawals.$inferSelect;
