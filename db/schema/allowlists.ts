// Allow-lists (issue 14 item 2): named lists of destination addresses per chain, which policy rules name
// ("allowList": the destination must be on it; "destination": { onAllowList } in a match). A row is one address
// on one list, in its chain's canonical form (EIP-55, lower-case bech32, base58), written only by the execution of
// an approved allowlist.update operation (server/allowlists/store.ts), which adds and removes rows and records
// allowlist.updated; the history of every change is in the audit trail and the operations that made it.
import { sql } from "drizzle-orm";
import { check, index, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";
import { operations } from "./operations";

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

export const allowlistEntries = pgTable(
  "allowlist_entries",
  {
    id: uuid("id").primaryKey().defaultRandom(),
    /** The list's name as rules spell it (server/policy/clauses.ts allowListNameSchema): "exchange-hot". */
    list: text("list").notNull(),
    chain: text("chain").notNull(),
    /** Canonical form, compared exactly by the policy. */
    address: text("address").notNull(),
    /** What the proposer called it ("Kraken deposit"); shown, never matched. */
    label: text("label"),
    /** The allowlist.update operation whose execution added it. */
    addedBy: uuid("added_by")
      .notNull()
      .references(() => operations.id),
    addedAt: ts("added_at").notNull(),
  },
  (t) => [
    // The judgement asks "which lists hold this destination on this chain": (chain, address) first.
    uniqueIndex("allowlist_entries_chain_address_list").on(t.chain, t.address, t.list),
    index("allowlist_entries_list_idx").on(t.list, t.chain),
    check("allowlist_entries_chain", sql`${t.chain} IN ('bitcoin', 'ethereum', 'solana')`),
  ],
);

export type AllowlistEntry = typeof allowlistEntries.$inferSelect;
