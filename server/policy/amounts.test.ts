// Amounts are bigint base units, written as decimal strings, shown with the asset's decimals.
import { describe, expect, it } from "vitest";
import { formatAmount, formatUnits, parseBaseUnits } from "./amounts";

const assets = [
  { chain: "bitcoin", symbol: "BTC", decimals: 8 },
  { chain: "ethereum", symbol: "ETH", decimals: 18 },
];

describe("amounts", () => {
  it.each([
    [1_000_000_000n, 8, "10"],
    [30_000_000n, 8, "0.3"],
    [1n, 8, "0.00000001"],
    [0n, 8, "0"],
    [123n, 0, "123"],
    [10n ** 18n + 5n, 18, "1.000000000000000005"],
    [-30_000_000n, 8, "-0.3"],
  ])("%s base units with %i decimals read %s", (amount, decimals, words) => {
    expect(formatUnits(amount, decimals)).toBe(words);
  });
  it("names the asset, or says base units when the asset list does not know it", () => {
    expect(formatAmount(1_000_000_000n, { chain: "bitcoin", symbol: "BTC" }, assets)).toBe("10 BTC");
    expect(formatAmount(5n, { chain: "polygon", symbol: "USDC" }, assets)).toBe("5 base units of USDC");
  });
  it("parses exact decimal strings only: no floats, signs, exponents or leading zeros", () => {
    expect(
      parseBaseUnits("115792089237316195423570985008687907853269984665640564039457584007913129639935"),
    ).toBe(2n ** 256n - 1n);
    for (const bad of ["1.5", "-1", "1e8", "01", "", " 1", "0x10", "1".repeat(79)])
      expect(() => parseBaseUnits(bad), bad).toThrow(RangeError);
  });
});
