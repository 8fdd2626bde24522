// The tracker's reorganisation rule (reorg.ts), per chain, on the answers each client gives: an inclusion holds
// only while the node puts the transaction in the very block the tracker saw (Ethereum and Bitcoin: that block
// hash; Solana: that slot); another block, the mempool, unknown or dead is a reorganisation. The node answers are
// written out here (the rule is pure); chains/ethereum-inclusion.test.ts covers how an Ethereum receipt is read.
import { describe, expect, it } from "vitest";
import type { BroadcastStatus } from "@/server/chains/types";
import { inclusionOf, reorgOf, type SeenInclusion, seenInclusion } from "./reorg";

const ETH_A = `0x${"a1".repeat(32)}`;
const ETH_B = `0x${"b2".repeat(32)}`;
const BTC_A = "00000000000000000001".padEnd(64, "a");
const BTC_B = "00000000000000000001".padEnd(64, "b");

const confirmed = (block: string, height: number, confirmations: number): BroadcastStatus => ({
  state: "confirmed",
  block,
  height,
  confirmations,
});

describe("seenInclusion", () => {
  it("is null for a row never seen in a block, else its block, number and count", () => {
    expect(seenInclusion({ block: null, blockNumber: null, confirmations: 0 })).toBeNull();
    expect(seenInclusion({ block: ETH_A, blockNumber: 12, confirmations: 1 })).toEqual({
      block: ETH_A,
      blockNumber: 12,
      confirmations: 1,
    });
  });
});

describe("reorgOf", () => {
  const none: BroadcastStatus[] = [
    { state: "pending" },
    { state: "unknown" },
    { state: "dead", reason: "nonce used" },
  ];

  it("sees nothing for a transaction never seen in a block, whatever the node says now", () => {
    for (const status of [...none, confirmed(ETH_A, 12, 1)]) expect(reorgOf(null, status)).toBeNull();
  });

  describe("Ethereum (receipt block hash)", () => {
    const seen: SeenInclusion = { block: ETH_A, blockNumber: 12, confirmations: 1 };

    it("holds while the receipt is in the same block, more confirmations on, either hex case", () => {
      expect(reorgOf(seen, confirmed(ETH_A, 12, 3))).toBeNull();
      expect(reorgOf(seen, confirmed(ETH_A.toUpperCase().replace("0X", "0x"), 12, 2))).toBeNull();
      expect(
        reorgOf(seen, { state: "failed", reason: "reverted", block: ETH_A, height: 12, confirmations: 2 }),
      ).toBeNull();
    });

    it("is a reorganisation when the receipt is gone (pending, unknown, or its nonce now used: dead)", () => {
      for (const status of none) expect(reorgOf(seen, status)).toEqual({ was: seen, now: null });
    });

    it("is a reorganisation when the same transaction is now in another block, even at the same number", () => {
      expect(reorgOf(seen, confirmed(ETH_B, 12, 1))).toEqual({
        was: seen,
        now: { block: ETH_B, blockNumber: 12, confirmations: 1 },
      });
      expect(reorgOf(seen, confirmed(ETH_B, 14, 5))?.now).toEqual({
        block: ETH_B,
        blockNumber: 14,
        confirmations: 5,
      });
    });
  });

  describe("Bitcoin (Esplora's block_hash and block_height)", () => {
    const seen: SeenInclusion = { block: BTC_A, blockNumber: 800_000, confirmations: 2 };

    it("holds in the same block; another block or back in the mempool is a reorganisation", () => {
      expect(reorgOf(seen, confirmed(BTC_A, 800_000, 4))).toBeNull();
      expect(reorgOf(seen, confirmed(BTC_B, 800_001, 1))?.now?.block).toBe(BTC_B);
      expect(reorgOf(seen, { state: "pending" })).toEqual({ was: seen, now: null });
      // Its input spent by a confirmed other transaction on the new chain: dead, after the reorganisation.
      expect(reorgOf(seen, { state: "dead", reason: "input spent" })).toEqual({ was: seen, now: null });
    });

    it("compares a row from before block numbers were kept by its hash alone", () => {
      const old = seenInclusion({ block: BTC_A, blockNumber: null, confirmations: 1 });
      expect(reorgOf(old, confirmed(BTC_A, 800_000, 2))).toBeNull();
      expect(reorgOf(old, { state: "unknown" })?.was).toEqual({
        block: BTC_A,
        blockNumber: null,
        confirmations: 1,
      });
    });
  });

  describe("Solana (the signature status's slot)", () => {
    const seen: SeenInclusion = { block: "3100", blockNumber: 3100, confirmations: 1 };

    it("holds at the same slot; another slot, a processed-only status, or no status is a reorganisation", () => {
      expect(reorgOf(seen, confirmed("3100", 3100, 32))).toBeNull();
      expect(reorgOf(seen, confirmed("3104", 3104, 1))?.now).toEqual({
        block: "3104",
        blockNumber: 3104,
        confirmations: 1,
      });
      // solana-rpc.ts answers pending for a status only "processed" (on a fork not yet voted on).
      expect(reorgOf(seen, { state: "pending" })).toEqual({ was: seen, now: null });
      expect(reorgOf(seen, { state: "unknown" })).toEqual({ was: seen, now: null });
      expect(reorgOf(seen, { state: "dead", reason: "blockhash expired" })).toEqual({ was: seen, now: null });
    });
  });
});

describe("inclusionOf", () => {
  it("is the block of a confirmed or failed status, else null", () => {
    expect(inclusionOf(confirmed(ETH_A, 7, 2))).toEqual({ block: ETH_A, blockNumber: 7, confirmations: 2 });
    expect(inclusionOf({ state: "failed", reason: "x", block: "9", height: 9, confirmations: 1 })).toEqual({
      block: "9",
      blockNumber: 9,
      confirmations: 1,
    });
    expect(inclusionOf({ state: "pending" })).toBeNull();
  });
});
