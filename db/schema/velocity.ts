// The velocity ledger (issue 14 item 10): one row per operation whose amount counts towards velocity caps now —
// approved but not executed (waiting, approved, executing: executed_at null) or executed (executed_at set) —
// so a judgement sums what a cap counts in SQL, over an index, instead of reading and parsing every operation in
// the window (server/operations/judgement.ts velocityTotals). Written only by triggers on `operations`
// (migration 0022): in the same transaction as the state change that makes an amount count, changes it or
// makes it stop counting (failed, cancelled, rejected, expired: the row goes), whichever code path made it.
// The trigger reads the facts a withdrawal's kind gives the policy (chain, asset, amount in base units, key);
// the migration also filled it from the operations already there.
import { sql } from "drizzle-orm";
import { check, index, numeric, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { operations } from "./operations";

export const velocityLedger = pgTable(
  "velocity_ledger",
  {
    operationId: uuid("operation_id")
      .primaryKey()
      .references(() => operations.id),
    chain: text("chain").notNull(),
    /** The asset's symbol on the chain ("ETH", "USDC"), as the kind's facts give it. */
    asset: text("asset").notNull(),
    keyId: uuid("key_id"),
    /** Base units (a bigint can exceed int8: 10^30 wei and more). */
    amount: numeric("amount", { precision: 78, scale: 0 }).notNull(),
    /** When it was executed; null while approved and not executed yet (then it always counts). */
    executedAt: timestamp("executed_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [
    // Per chain: (asset, chain) then executed_at, a range for the window and one for the unexecuted (nulls last).
    index("velocity_ledger_chain_idx").on(t.asset, t.chain, t.executedAt, t.amount),
    // Per key.
    index("velocity_ledger_key_idx").on(t.asset, t.chain, t.keyId, t.executedAt, t.amount),
    check("velocity_ledger_chain", sql`${t.chain} IN ('bitcoin', 'ethereum', 'solana')`),
  ],
);

export type VelocityLedgerRow = typeof velocityLedger.$inferSelect;
