// What a rotation sweep moves on one chain, from the old key's balances and each transfer's fee cap: every token
// it holds in full, while the native coin left over can pay that token transfer's fee, and then the native coin
// less every fee cap (its own and the tokens'), so whatever order the sweeps execute in, each one's fee is
// covered. Pure: balances and fee caps come in, the plan goes out; nothing is read or proposed here
// (rotation-sweep.ts does that). It never plans a zero or negative amount.
import { formatAssetAmount } from "@/server/custody/assets";
import type { Asset } from "@/server/custody/types";

export type SweepHolding = {
  asset: Asset;
  /** What the old key holds, base units. */
  balance: bigint;
  /** The most this asset's transfer may cost in fees, in native base units (the withdrawal's fee cap). */
  feeCap: bigint;
};

export type PlannedSweep = { asset: Asset; amount: bigint; feeCap: bigint };
export type SkippedSweep = { asset: Asset; reason: string };
export type SweepPlan = { sweeps: PlannedSweep[]; skipped: SkippedSweep[] };

/**
 * `native` is the chain's native coin, `tokens` the configured tokens on the chain (in the configured order: when
 * the native coin cannot pay every token's fee, the first ones get it). Zero balances plan nothing and are not
 * "skipped": there is nothing to sweep.
 */
export function planSweeps(native: SweepHolding, tokens: readonly SweepHolding[]): SweepPlan {
  const sweeps: PlannedSweep[] = [];
  const skipped: SkippedSweep[] = [];
  let left = native.balance;
  for (const token of tokens) {
    if (token.balance <= 0n) continue;
    if (left < token.feeCap) {
      skipped.push({
        asset: token.asset,
        reason:
          `the old key holds ${formatAssetAmount(token.balance, token.asset)} but ${left === native.balance ? "only " : "after the other sweeps' fees only "}` +
          `${formatAssetAmount(left, native.asset)}, not the ${formatAssetAmount(token.feeCap, native.asset)} ` +
          `its transfer's fee may cost: send ${native.asset.symbol} to the old key for the fee, then propose this withdrawal by hand`,
      });
      continue;
    }
    left -= token.feeCap;
    sweeps.push({ asset: token.asset, amount: token.balance, feeCap: token.feeCap });
  }
  if (native.balance > 0n) {
    const amount = left - native.feeCap;
    if (amount > 0n) sweeps.unshift({ asset: native.asset, amount, feeCap: native.feeCap });
    else
      skipped.push({
        asset: native.asset,
        reason:
          `the old key holds ${formatAssetAmount(native.balance, native.asset)}, no more than the fees ` +
          `(${formatAssetAmount(native.balance - left + native.feeCap, native.asset)} at most) of sweeping it${sweeps.length > 0 ? " and its tokens" : ""}: nothing is left to move`,
      });
  }
  return { sweeps, skipped };
}
