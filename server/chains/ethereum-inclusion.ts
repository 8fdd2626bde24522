// What an Ethereum receipt proves about a transaction's inclusion, checked against the chain as it is now: a
// receipt counts only while its block is still the block at that number (a node can answer from a receipt index
// that a chain reorganisation has not caught up with). Pure, so the rule is tested on its own; the RPC calls are
// in ethereum-rpc.ts. Never decides "dead": a receipt whose block is gone proves nothing about the nonce.
import type { BroadcastStatus } from "./types";

/** The parts of eth_getTransactionReceipt read here. */
export type ReceiptSeen = { blockHash: string; blockNumber: bigint; status: "success" | "reverted" };

/**
 * The status the receipt proves, given the hash of the block now at the receipt's block number (null: the chain
 * has no block there) and the head's number; null when its block is not on the chain any more — then the
 * transaction is to be treated as not included (in the mempool, or unknown).
 */
export function receiptInclusion(
  receipt: ReceiptSeen,
  canonicalHash: string | null,
  head: bigint,
): Extract<BroadcastStatus, { state: "confirmed" | "failed" }> | null {
  if (canonicalHash === null || canonicalHash.toLowerCase() !== receipt.blockHash.toLowerCase()) return null;
  if (head < receipt.blockNumber) return null;
  const block = receipt.blockHash;
  const height = Number(receipt.blockNumber);
  const confirmations = Number(head - receipt.blockNumber + 1n);
  if (receipt.status === "reverted") {
    return {
      state: "failed",
      reason: "The transaction reverted (status 0): the fee is spent, no value moved.",
      confirmations,
      block,
      height,
    };
  }
  return { state: "confirmed", confirmations, block, height };
}
