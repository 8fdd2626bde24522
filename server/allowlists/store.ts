// Reading and writing allow-lists (db/schema/allowlists.ts). Reads: the lists that hold one destination (what the
// judgement passes to evaluatePolicy), one list's entries on a chain (what allowlist.update's proposal checks
// against), and every list for the allow-lists page. The one write is applyAllowListUpdate, run by the executor
// in the transaction that marks an approved allowlist.update executed, with allowlist.updated in that transaction.
import "server-only";
import { and, asc, eq, inArray } from "drizzle-orm";
import type { DbOrTx, Tx } from "@/db/client";
import { allowlistEntries } from "@/db/schema";
import { appendAudit } from "@/server/audit/append";
import type { AllowLists } from "@/server/policy/schema";

/**
 * The allow-lists that hold `address` on `chain`, in the shape evaluatePolicy takes: every list name mapped to
 * that one entry. For judging one operation this answers every allow-list clause exactly as the full lists would
 * (the policy only ever asks whether this destination is on a list), in one indexed read.
 */
export async function allowListsHolding(db: DbOrTx, chain: string, address: string): Promise<AllowLists> {
  const rows = await db
    .select({ list: allowlistEntries.list })
    .from(allowlistEntries)
    .where(and(eq(allowlistEntries.chain, chain), eq(allowlistEntries.address, address)));
  return Object.fromEntries(rows.map((r) => [r.list, [{ chain, address }]]));
}

export type AllowListEntryRow = {
  address: string;
  label: string | null;
  addedAt: Date;
  addedBy: string;
};

/** One list's entries on one chain, oldest first. */
export async function allowListEntriesOf(
  db: DbOrTx,
  list: string,
  chain: string,
): Promise<AllowListEntryRow[]> {
  return db
    .select({
      address: allowlistEntries.address,
      label: allowlistEntries.label,
      addedAt: allowlistEntries.addedAt,
      addedBy: allowlistEntries.addedBy,
    })
    .from(allowlistEntries)
    .where(and(eq(allowlistEntries.list, list), eq(allowlistEntries.chain, chain)))
    .orderBy(asc(allowlistEntries.addedAt), asc(allowlistEntries.address));
}

export type AllowListView = { list: string; chain: string; entries: AllowListEntryRow[] };

/** Every list, by name then chain, each with its entries oldest first (the allow-lists page). */
export async function allAllowLists(db: DbOrTx): Promise<AllowListView[]> {
  const rows = await db
    .select()
    .from(allowlistEntries)
    .orderBy(
      asc(allowlistEntries.list),
      asc(allowlistEntries.chain),
      asc(allowlistEntries.addedAt),
      asc(allowlistEntries.address),
    );
  const out: AllowListView[] = [];
  for (const r of rows) {
    let last = out.at(-1);
    if (last?.list !== r.list || last.chain !== r.chain) {
      last = { list: r.list, chain: r.chain, entries: [] };
      out.push(last);
    }
    last.entries.push({ address: r.address, label: r.label, addedAt: r.addedAt, addedBy: r.addedBy });
  }
  return out;
}

export type AllowListChange = {
  operationId: string;
  list: string;
  chain: string;
  add: readonly { address: string; label?: string }[];
  remove: readonly { address: string }[];
};

/**
 * Adds and removes the entries in `tx` and records allowlist.updated with what actually changed. Idempotent: an
 * address already on the list is left as it is, one no longer on it is not removed twice.
 */
export async function applyAllowListUpdate(
  tx: Tx,
  change: AllowListChange,
  at: Date,
): Promise<{ added: number; removed: number }> {
  const added =
    change.add.length === 0
      ? []
      : await tx
          .insert(allowlistEntries)
          .values(
            change.add.map((e) => ({
              list: change.list,
              chain: change.chain,
              address: e.address,
              label: e.label ?? null,
              addedBy: change.operationId,
              addedAt: at,
            })),
          )
          .onConflictDoNothing()
          .returning({ address: allowlistEntries.address });
  const removed =
    change.remove.length === 0
      ? []
      : await tx
          .delete(allowlistEntries)
          .where(
            and(
              eq(allowlistEntries.list, change.list),
              eq(allowlistEntries.chain, change.chain),
              inArray(
                allowlistEntries.address,
                change.remove.map((e) => e.address),
              ),
            ),
          )
          .returning({ address: allowlistEntries.address });
  await appendAudit(tx, {
    action: "allowlist.updated",
    actor: "system",
    subject: `allowlist:${change.list}`,
    at,
    data: {
      operationId: change.operationId,
      list: change.list,
      chain: change.chain,
      added: added.map((r) => r.address).sort(),
      removed: removed.map((r) => r.address).sort(),
    },
  });
  return { added: added.length, removed: removed.length };
}
