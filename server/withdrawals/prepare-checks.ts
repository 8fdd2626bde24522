// Refusals a withdrawal proposal shares between the intent and the imported transaction (prepare.ts,
// prepare-imported.ts): an AppError naming the payload field, and insufficient funds in words. Nothing here writes.
import { formatAssetAmount } from "@/server/custody/assets";
import type { Asset } from "@/server/custody/types";
import { AppError } from "@/server/errors";

/** BAD_INPUT naming payload.<field>, the message prefixed with it. */
export const bad = (field: string, message: string) =>
  new AppError("BAD_INPUT", `payload.${field}: ${message}`, { field: `payload.${field}` });

/** Insufficient funds, in words: the asset itself, and the native coin for the fee (and for native, both). */
export async function requireFunds(
  balance: (owner: string, asset: Asset) => Promise<bigint>,
  input: { from: string; asset: Asset; native: Asset; amount: bigint; fee: bigint },
): Promise<void> {
  const { asset, native } = input;
  if (asset.kind === "native") {
    const held = await balance(input.from, native);
    const needed = input.amount + input.fee;
    if (held < needed) {
      throw bad(
        "amount",
        `Insufficient funds: the key holds ${formatAssetAmount(held, native)}, the withdrawal needs ${formatAssetAmount(needed, native)} with its fee.`,
      );
    }
    return;
  }
  const held = await balance(input.from, asset);
  if (held < input.amount) {
    throw bad(
      "amount",
      `Insufficient funds: the key holds ${formatAssetAmount(held, asset)}, the withdrawal moves ${formatAssetAmount(input.amount, asset)}.`,
    );
  }
  const gas = await balance(input.from, native);
  if (gas < input.fee) {
    throw bad(
      "amount",
      `Insufficient funds for the fee: the key holds ${formatAssetAmount(gas, native)}, the fee is about ${formatAssetAmount(input.fee, native)}.`,
    );
  }
}
