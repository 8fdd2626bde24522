// The replacement rule and the "same transaction but its fees" comparison, on ETH and ERC-20 transfers built by
// server/custody/ethereum.ts (pure).
import { describe, expect, it } from "vitest";
import { buildTransfer, replaceFees } from "@/server/custody/ethereum";
import type { Asset } from "@/server/custody/types";
import { bumped, differencesFromOriginal, feesOf, leastReplacementFees } from "./speedup-fees";

const ETH: Asset = { chain: "ethereum", symbol: "ETH", name: "Ether", decimals: 18, kind: "native" };
const USDC: Asset = {
  chain: "ethereum",
  symbol: "USDC",
  name: "USD Coin",
  decimals: 6,
  kind: "erc20",
  contract: "0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238",
};
const GWEI = 10n ** 9n;
const to = "0x000000000000000000000000000000000000bEEF";
const base = {
  chainId: 11155111,
  destination: to,
  nonce: 7,
  maxFeePerGas: 3n * GWEI,
  maxPriorityFeePerGas: GWEI,
};

describe("speed-up fees", () => {
  it("raises each fee by 10 %, rounded up (as nodes require)", () => {
    expect(bumped(100n)).toBe(110n);
    expect(bumped(101n)).toBe(112n);
    expect(bumped(1n)).toBe(2n);
    expect(bumped(0n)).toBe(0n);
    expect(leastReplacementFees({ maxFeePerGas: 3n * GWEI, maxPriorityFeePerGas: GWEI })).toEqual({
      maxFeePerGas: 3_300_000_000n,
      maxPriorityFeePerGas: 1_100_000_000n,
    });
  });

  it("reads fees and gas limit from the bytes", () => {
    expect(feesOf(buildTransfer({ ...base, asset: USDC, amount: 5n }))).toEqual({
      maxFeePerGas: 3n * GWEI,
      maxPriorityFeePerGas: GWEI,
      gasLimit: 100_000n,
    });
  });

  it("finds no difference in replaceFees' output but the fees, for ETH and an ERC-20 transfer's calldata", () => {
    const fees = { maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: 2n * GWEI };
    for (const original of [
      buildTransfer({ ...base, asset: ETH, amount: 10n ** 17n }),
      buildTransfer({ ...base, asset: USDC, amount: 1_250_000n }),
    ]) {
      expect(differencesFromOriginal(original, replaceFees(original, fees), fees)).toEqual([]);
    }
  });

  it("names every other difference: amount (calldata), recipient, nonce, gas limit, and fees not as approved", () => {
    const fees = { maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: 2n * GWEI };
    const original = buildTransfer({ ...base, asset: USDC, amount: 1_250_000n });
    const other = buildTransfer({
      ...base,
      ...fees,
      asset: USDC,
      amount: 9_250_000n,
      nonce: 8,
      gasLimit: 120_000n,
      destination: "0x000000000000000000000000000000000000dEaD",
    });
    const words = differencesFromOriginal(original, other, fees).join("; ");
    expect(words).toContain("its nonce is 8, the original's 7");
    expect(words).toContain("its calldata is");
    expect(words).toContain("its gas limit is 120000, the original's 100000");
    expect(
      differencesFromOriginal(original, replaceFees(original, fees), { ...fees, maxFeePerGas: 11n * GWEI }),
    ).toEqual(["its max fee is 10000000000 wei per gas, not the approved 11000000000"]);
    const eth = buildTransfer({ ...base, asset: ETH, amount: 1n });
    const elsewhere = buildTransfer({
      ...base,
      ...fees,
      asset: ETH,
      amount: 2n,
      destination: USDC.contract ?? "",
    });
    expect(differencesFromOriginal(eth, elsewhere, fees)).toEqual([
      `its recipient is ${USDC.contract?.toLowerCase()}, the original's ${to.toLowerCase()}`,
      "its value is 2, the original's 1",
    ]);
  });
});
