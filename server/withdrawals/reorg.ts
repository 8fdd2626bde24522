// Chain reorganisations, as the tracker (broadcast.ts) sees them: whether a withdrawal's transaction is still in
// the block the tracker last recorded it in. Pure (the row's fields and the node's answer in, a decision out), the
// same rule for every chain: the block is the Ethereum or Bitcoin block hash, or the Solana slot, and each client
// answers only with inclusions on its node's chain as it is now (chains/ethereum-inclusion.ts, bitcoin-esplora.ts,
// solana-rpc.ts). Never decides anything final: a reorganised transaction is tracked on like a broadcast one.
import type { BroadcastStatus } from "@/server/chains/types";

/** Where the tracker last saw the transaction: its block (hash, or Solana slot), that block's number, the count. */
export type SeenInclusion = { block: string; blockNumber: number | null; confirmations: number };

/** A block that holds the transaction on the chain now, as the node says. */
export type Inclusion = { block: string; blockNumber: number; confirmations: number };

/** The inclusion that was reorganised away, and the one the chain has now (null: in no block any more). */
export type Reorg = { was: SeenInclusion; now: Inclusion | null };

/** The inclusion a withdrawal row records: null while it was never seen in a block (or since a reorganisation). */
export function seenInclusion(row: {
  block: string | null;
  blockNumber: number | null;
  confirmations: number;
}): SeenInclusion | null {
  if (row.block === null) return null;
  return { block: row.block, blockNumber: row.blockNumber, confirmations: row.confirmations };
}

/** The block the node says holds the transaction now, or null (pending, unknown to it, dead). */
export function inclusionOf(status: BroadcastStatus): Inclusion | null {
  if (status.state !== "confirmed" && status.state !== "failed") return null;
  return { block: status.block, blockNumber: status.height, confirmations: status.confirmations };
}

/**
 * The reorganisation the node's answer shows, or null when there is none: the transaction was not seen in a block
 * before, or the node still puts it in that same block. In any other block, back in the mempool, unknown to the
 * node, or dead (its nonce or inputs used by another transaction on the new chain), the block it was seen in is
 * no longer on the chain.
 */
export function reorgOf(seen: SeenInclusion | null, status: BroadcastStatus): Reorg | null {
  if (seen === null) return null;
  const now = inclusionOf(status);
  if (now !== null && sameBlock(now.block, seen.block)) return null;
  return { was: seen, now };
}

/** Ethereum hashes may come in either case; Bitcoin hashes and Solana slots compare as they are. */
function sameBlock(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
