// Fees of an Ethereum speed-up, from the stored transactions' own bytes: what a transaction offers per gas, the
// least a replacement must offer (REPLACEMENT_BUMP_PERCENT above both fees, the rule nodes enforce), and whether a
// replacement is the very same transfer as the original with only its fees changed. Pure: no database, no HSM,
// no network; it never builds what it compares (server/custody/ethereum.ts replaceFees does the building).
import { type Hex, parseTransaction } from "viem";
import { REPLACEMENT_BUMP_PERCENT } from "@/server/custody/ethereum";

export type Eip1559Fees = { maxFeePerGas: bigint; maxPriorityFeePerGas: bigint };

function parsed(unsigned: string) {
  const tx = parseTransaction(unsigned as Hex);
  if (tx.type !== "eip1559") throw new Error(`a ${tx.type} transaction, not EIP-1559`);
  return tx;
}

/** The fees and gas limit an unsigned EIP-1559 transaction (0x02 ‖ RLP) offers. */
export function feesOf(unsigned: string): Eip1559Fees & { gasLimit: bigint } {
  const tx = parsed(unsigned);
  return {
    maxFeePerGas: tx.maxFeePerGas ?? 0n,
    maxPriorityFeePerGas: tx.maxPriorityFeePerGas ?? 0n,
    gasLimit: tx.gas ?? 0n,
  };
}

/** One fee raised by the replacement rule, rounded up: 100 → 110, 1 → 2. */
export function bumped(fee: bigint): bigint {
  return fee + (fee * REPLACEMENT_BUMP_PERCENT + 99n) / 100n;
}

/** The least fees a replacement of a transaction offering `fees` must offer. */
export function leastReplacementFees(fees: Eip1559Fees): Eip1559Fees {
  return { maxFeePerGas: bumped(fees.maxFeePerGas), maxPriorityFeePerGas: bumped(fees.maxPriorityFeePerGas) };
}

/**
 * Every way `replacement` differs from `original` other than its two fees (chain id, nonce, recipient, value,
 * calldata, gas limit, access list), and its fees against `fees`, in words; empty when it is exactly the
 * original transfer at those fees.
 */
export function differencesFromOriginal(original: string, replacement: string, fees: Eip1559Fees): string[] {
  const a = parsed(original);
  const b = parsed(replacement);
  const out: string[] = [];
  const same = (what: string, x: unknown, y: unknown) => {
    if (String(x) !== String(y)) out.push(`its ${what} is ${String(y)}, the original's ${String(x)}`);
  };
  same("chain id", a.chainId, b.chainId);
  same("nonce", a.nonce ?? 0, b.nonce ?? 0);
  same("recipient", a.to?.toLowerCase(), b.to?.toLowerCase());
  same("value", a.value ?? 0n, b.value ?? 0n);
  same("calldata", (a.data ?? "0x").toLowerCase(), (b.data ?? "0x").toLowerCase());
  same("gas limit", a.gas ?? 0n, b.gas ?? 0n);
  same("access list", JSON.stringify(a.accessList ?? []), JSON.stringify(b.accessList ?? []));
  if ((b.maxFeePerGas ?? 0n) !== fees.maxFeePerGas)
    out.push(`its max fee is ${b.maxFeePerGas ?? 0n} wei per gas, not the approved ${fees.maxFeePerGas}`);
  if ((b.maxPriorityFeePerGas ?? 0n) !== fees.maxPriorityFeePerGas)
    out.push(
      `its priority fee is ${b.maxPriorityFeePerGas ?? 0n} wei per gas, not the approved ${fees.maxPriorityFeePerGas}`,
    );
  return out;
}
