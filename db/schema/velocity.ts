// The velocity ledger (issue 14 item 10): one row per operation whose amount counts towards velocity caps now —
// approved but not executed (waiting, approved, executing: executed_at null) or executed (executed_at set) —
// so a judgement sums what a cap counts in SQL, over an index, instead of reading and parsing every operation in
// the window (server/operations/judgement.ts velocityTotals). Written only by triggers on `operations`
// (migration 0022): in the same transaction as the state change that makes an amount count, changes it or
// makes it stop counting (failed, cancelled, rejected, expired: the row goes), whichever code path made it.
// The trigger reads the facts a withdrawal's kind gives the policy (chain, asset, amount in base units, key);
// the migration also filled it from the operations already there.
import { sql } from "drizzle-orm";
import {
  boolean,
  check,
  index,
  integer,
  numeric,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
} from "drizzle-orm/pg-core";
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
    /**
     * Executed and added to velocity_buckets (by a judgement under the chain's velocity lock): counted through
     * its buckets from then on, never row by row, except in the second the window starts in. Never changes after.
     */
    rolled: boolean("rolled").notNull().default(false),
  },
  (t) => [
    // Executed-at order per (asset, chain): the window's first second, the fit time, amounts rounded one by one.
    index("velocity_ledger_chain_idx").on(t.asset, t.chain, t.executedAt, t.amount),
    // What is counted row by row: not rolled up yet (the unexecuted ones, and the executed ones since the last roll-up).
    index("velocity_ledger_open_idx").on(t.asset, t.chain, t.executedAt).where(sql`NOT ${t.rolled}`),
    check("velocity_ledger_chain", sql`${t.chain} IN ('bitcoin', 'ethereum', 'solana')`),
  ],
);

/** A bucket's width in seconds: a second, a minute, an hour (UTC, from the Unix epoch). */
export const VELOCITY_GRAINS = [1, 60, 3600] as const;

/**
 * Sums of rolled-up executed amounts per (asset, chain, key) and time bucket, at three widths, so a window's sum
 * reads at most 59 second buckets, 59 minute buckets and one bucket per hour of the window, whatever the
 * volume. `key` is the key's id, or "*" for every key's amounts (per-chain and per-asset caps). Written only
 * by the roll-up in server/operations/judgement.ts, under the chain's velocity lock; amounts only ever added.
 */
export const velocityBuckets = pgTable(
  "velocity_buckets",
  {
    asset: text("asset").notNull(),
    chain: text("chain").notNull(),
    key: text("key").notNull(),
    grain: integer("grain").notNull(),
    start: timestamp("start", { withTimezone: true, mode: "date" }).notNull(),
    /** Base units, as they are (no scaling). */
    units: numeric("units", { precision: 78, scale: 0 }).notNull(),
    entries: integer("entries").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.asset, t.chain, t.key, t.grain, t.start] }),
    check("velocity_buckets_grain", sql`${t.grain} IN (1, 60, 3600)`),
  ],
);

export type VelocityLedgerRow = typeof velocityLedger.$inferSelect;
