// receiptInclusion (ethereum-inclusion.ts): a receipt proves an inclusion only while its block is the chain's
// block at that number now. The chain's answers are written out here; ethereum-rpc.integration.test.ts and
// withdrawals/reorg.integration.test.ts read real receipts from EDR.
import { describe, expect, it } from "vitest";
import { receiptInclusion } from "./ethereum-inclusion";

const A = `0x${"ab".repeat(32)}`;
const B = `0x${"cd".repeat(32)}`;

describe("receiptInclusion", () => {
  it("confirms a successful receipt whose block is still at its number, counting that block as 1", () => {
    expect(receiptInclusion({ blockHash: A, blockNumber: 10n, status: "success" }, A, 12n)).toEqual({
      state: "confirmed",
      confirmations: 3,
      block: A,
      height: 10,
    });
  });

  it("reads a reverted receipt as failed in its block, with its confirmations", () => {
    expect(receiptInclusion({ blockHash: A, blockNumber: 10n, status: "reverted" }, A, 10n)).toMatchObject({
      state: "failed",
      confirmations: 1,
      block: A,
      height: 10,
    });
  });

  it("compares hashes in either hex case", () => {
    expect(
      receiptInclusion(
        { blockHash: A.toUpperCase().replace("0X", "0x"), blockNumber: 1n, status: "success" },
        A,
        1n,
      ),
    ).toMatchObject({ state: "confirmed" });
  });

  it("is null when another block is at that number now, or none is, or the head is below it", () => {
    const receipt = { blockHash: A, blockNumber: 10n, status: "success" } as const;
    expect(receiptInclusion(receipt, B, 12n)).toBeNull();
    expect(receiptInclusion(receipt, null, 9n)).toBeNull();
    expect(receiptInclusion(receipt, A, 9n)).toBeNull();
  });
});
