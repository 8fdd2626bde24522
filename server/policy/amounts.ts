// Amounts: bigint base units, written in documents as decimal strings (never floats), shown with the asset's
// decimals ("10 BTC", "0.3 BTC"). Pure and browser-safe: no imports. The decimals are for words only; every
// comparison and sum is exact on base units.

/** Base units as a decimal string: no sign, no leading zeros, no exponent, at most 78 digits (2^256 fits). */
export const BASE_UNITS_PATTERN = /^(0|[1-9][0-9]{0,77})$/;

/** An asset as the configured asset list names it: identified by chain and symbol; decimals for display. */
export type AssetInfo = { chain: string; symbol: string; decimals: number };

/** Parses a document's base-unit string; throws on anything else (the schema has refused it before). */
export function parseBaseUnits(s: string): bigint {
  if (!BASE_UNITS_PATTERN.test(s)) throw new RangeError(`Not an amount in base units: ${s}`);
  return BigInt(s);
}

/** `amount` base units with `decimals` decimals, trailing zeros dropped: 30000000n, 8 → "0.3". */
export function formatUnits(amount: bigint, decimals: number): string {
  const negative = amount < 0n;
  const digits = (negative ? -amount : amount).toString();
  if (decimals <= 0) return `${negative ? "-" : ""}${digits}`;
  const padded = digits.padStart(decimals + 1, "0");
  const whole = padded.slice(0, -decimals);
  const fraction = padded.slice(-decimals).replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${fraction ? `.${fraction}` : ""}`;
}

/** The asset's entry in the caller's list, if it has one. */
export function findAsset(
  assets: readonly AssetInfo[],
  chain: string,
  symbol: string,
): AssetInfo | undefined {
  return assets.find((a) => a.chain === chain && a.symbol === symbol);
}

/** "10 BTC" with the asset's decimals; "1000000000 base units of BTC" when the asset list does not know it. */
export function formatAmount(
  amount: bigint,
  asset: { chain: string; symbol: string },
  assets: readonly AssetInfo[],
): string {
  const info = findAsset(assets, asset.chain, asset.symbol);
  return info
    ? `${formatUnits(amount, info.decimals)} ${asset.symbol}`
    : `${amount} base units of ${asset.symbol}`;
}
