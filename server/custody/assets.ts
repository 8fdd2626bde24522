// The configured asset list: what Keyward can move, on which chain, with how many decimals, and (for tokens) the
// contract or mint that identifies it. The built-in list is the default of the contracts (BTC 8, ETH 18, SOL 9,
// USDC on Ethereum Sepolia and on Solana devnet); KEYWARD_ASSETS_FILE replaces it (server/chains/config.ts reads
// the file and hands its JSON to parseAssetList). Also: turning what a person types ("1.25") into bigint base
// units with the asset's decimals, refusing negative, zero, over-precise and malformed amounts in words.
// Browser-safe (no node: imports): the withdrawal form validates with the same functions.
import { getAddress, isAddress as isEthereumAddress } from "viem";
import { isAddress as isSolanaAddress } from "@solana/kit";
import { z } from "zod";
import { BASE_UNITS_PATTERN, formatUnits } from "@/server/policy/amounts";
import { assetSymbolSchema } from "@/server/policy/clauses";
import { type Asset, CHAINS, type Chain, type ChainNetworks } from "./types";

/** Each chain's native coin and its fixed decimals (a file may not change them: fees are counted in them). */
export const NATIVE_ASSETS: Readonly<Record<Chain, Asset>> = Object.freeze({
  bitcoin: { chain: "bitcoin", symbol: "BTC", name: "Bitcoin", decimals: 8, kind: "native" },
  ethereum: { chain: "ethereum", symbol: "ETH", name: "Ether", decimals: 18, kind: "native" },
  solana: { chain: "solana", symbol: "SOL", name: "Solana", decimals: 9, kind: "native" },
});

export const SEPOLIA_CHAIN_ID = 11155111;
/** Circle's USDC on Ethereum Sepolia. */
export const SEPOLIA_USDC = "0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238";
/** Circle's USDC mint on Solana devnet. */
export const DEVNET_USDC_MINT = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU";

/**
 * The built-in list for these networks: the three native coins, and USDC where its contract is known — on
 * Ethereum Sepolia and Solana devnet. On any other network a token contract from the built-in list would name
 * the wrong thing (or nothing), so only native coins are listed: name your tokens in KEYWARD_ASSETS_FILE.
 */
export function defaultAssets(networks: ChainNetworks): readonly Asset[] {
  const out: Asset[] = [NATIVE_ASSETS.bitcoin, NATIVE_ASSETS.ethereum, NATIVE_ASSETS.solana];
  if (networks.ethereum.chainId === SEPOLIA_CHAIN_ID)
    out.push({
      chain: "ethereum",
      symbol: "USDC",
      name: "USD Coin",
      decimals: 6,
      kind: "erc20",
      contract: SEPOLIA_USDC,
    });
  if (networks.solana === "devnet")
    out.push({
      chain: "solana",
      symbol: "USDC",
      name: "USD Coin",
      decimals: 6,
      kind: "spl",
      contract: DEVNET_USDC_MINT,
    });
  return Object.freeze(out.map((a) => Object.freeze({ ...a })));
}

const MAX_DECIMALS = 36;

const assetEntrySchema = z
  .strictObject({
    chain: z.enum(CHAINS, { error: `chain must be one of ${CHAINS.join(", ")}` }),
    symbol: assetSymbolSchema,
    name: z
      .string()
      .min(1, "Say what the asset is called")
      .max(60, "At most 60 characters")
      .regex(/^[^\p{Cc}\p{Cf}]*$/u, "No control or formatting characters"),
    decimals: z.int("decimals is a whole number").min(0).max(MAX_DECIMALS),
    kind: z.enum(["native", "erc20", "spl"], { error: "kind is native, erc20 or spl" }),
    contract: z.string().max(100).optional(),
  })
  .superRefine((a, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
    if (a.kind === "native") {
      const native = NATIVE_ASSETS[a.chain];
      if (a.symbol !== native.symbol) issue("symbol", `The native coin of ${a.chain} is ${native.symbol}`);
      if (a.decimals !== native.decimals)
        issue("decimals", `${native.symbol} has ${native.decimals} decimals`);
      if (a.contract !== undefined) issue("contract", "A native coin has no contract");
      return;
    }
    const tokenChain = a.kind === "erc20" ? "ethereum" : "solana";
    if (a.chain !== tokenChain) issue("kind", `${a.kind} tokens live on ${tokenChain}, not ${a.chain}`);
    if (a.contract === undefined) {
      issue(
        "contract",
        a.kind === "erc20" ? "Name the token contract (0x…)" : "Name the token mint (base58)",
      );
      return;
    }
    if (a.kind === "erc20" && !isEthereumAddress(a.contract, { strict: true }))
      issue("contract", `${a.contract} is not an Ethereum address (0x and 40 hex digits, EIP-55 checksum)`);
    if (a.kind === "spl" && !isSolanaAddress(a.contract))
      issue("contract", `${a.contract} is not a Solana address (base58 of 32 bytes)`);
  })
  .transform(
    (a): Asset => ({
      chain: a.chain,
      symbol: a.symbol,
      name: a.name,
      decimals: a.decimals,
      kind: a.kind,
      ...(a.contract !== undefined
        ? { contract: a.kind === "erc20" ? getAddress(a.contract) : a.contract }
        : {}),
    }),
  );

/** The KEYWARD_ASSETS_FILE format: a JSON array of assets, one native coin per chain, symbols unique per chain. */
export const assetListSchema = z
  .array(assetEntrySchema)
  .max(500, "At most 500 assets")
  .superRefine((list, ctx) => {
    const seen = new Map<string, number>();
    const contracts = new Map<string, number>();
    list.forEach((a, i) => {
      const key = `${a.chain} ${a.symbol}`;
      const first = seen.get(key);
      if (first !== undefined)
        ctx.addIssue({
          code: "custom",
          path: [i, "symbol"],
          message: `${a.symbol} on ${a.chain} is listed twice (also entry ${first})`,
        });
      else seen.set(key, i);
      if (a.contract !== undefined) {
        const c = `${a.chain} ${a.contract}`;
        const other = contracts.get(c);
        if (other !== undefined)
          ctx.addIssue({
            code: "custom",
            path: [i, "contract"],
            message: `The contract ${a.contract} is also entry ${other}: one symbol per contract`,
          });
        else contracts.set(c, i);
      }
    });
    for (const chain of CHAINS) {
      if (!list.some((a) => a.chain === chain && a.kind === "native"))
        ctx.addIssue({
          code: "custom",
          path: [],
          message: `List ${NATIVE_ASSETS[chain].symbol}, the native coin of ${chain} (fees are paid in it)`,
        });
    }
  });

/** Parses a KEYWARD_ASSETS_FILE's JSON; throws an Error whose message names every bad entry and field. */
export function parseAssetList(json: unknown): readonly Asset[] {
  const parsed = assetListSchema.safeParse(json);
  if (!parsed.success) {
    const fields = parsed.error.issues
      .map((i) => `${i.path.length > 0 ? `[${i.path.join("].[")}]` : "the list"}: ${i.message}`)
      .join("; ");
    throw new Error(fields);
  }
  return Object.freeze(parsed.data.map((a) => Object.freeze(a)));
}

/** The asset `symbol` on `chain` in `assets`, compared exactly; undefined when the list has no such asset. */
export function findConfiguredAsset(
  assets: readonly Asset[],
  chain: string,
  symbol: string,
): Asset | undefined {
  return assets.find((a) => a.chain === chain && a.symbol === symbol);
}

/** The asset, or an error naming what the list does offer on that chain. */
export function lookupAsset(
  assets: readonly Asset[],
  chain: string,
  symbol: string,
): { ok: true; asset: Asset } | { ok: false; reason: string } {
  const asset = findConfiguredAsset(assets, chain, symbol);
  if (asset) return { ok: true, asset };
  const offered = assets.filter((a) => a.chain === chain).map((a) => a.symbol);
  if (offered.length === 0) return { ok: false, reason: `Keyward has no assets on ${chain}` };
  return {
    ok: false,
    reason: `${symbol} is not a configured asset on ${chain} (configured: ${offered.join(", ")})`,
  };
}

/** The native coin of `chain` in `assets` (always present: the list's schema requires it). */
export function nativeAsset(assets: readonly Asset[], chain: Chain): Asset {
  return assets.find((a) => a.chain === chain && a.kind === "native") ?? NATIVE_ASSETS[chain];
}

/** The token whose contract or mint is `contract` on `chain` (ERC-20 contracts compared case-insensitively). */
export function assetByContract(assets: readonly Asset[], chain: Chain, contract: string): Asset | undefined {
  return assets.find(
    (a) =>
      a.chain === chain &&
      a.contract !== undefined &&
      (chain === "ethereum" ? a.contract.toLowerCase() === contract.toLowerCase() : a.contract === contract),
  );
}

export type AmountCheck = { ok: true; amount: bigint } | { ok: false; reason: string };

const DECIMAL = /^([0-9]+)(?:\.([0-9]+))?$/;

/**
 * What a person typed ("1.25", "0.5", "100") in base units of `asset`: 1.25 USDC → 1250000n. Refused in words:
 * empty, negative, zero, more decimal places than the asset has (trailing zeros are fine: they add no
 * precision), anything but digits and one point (no exponent, no thousands separator, no sign), and amounts too
 * large for base units (more than 78 digits).
 */
export function checkAmountInput(input: string, asset: Pick<Asset, "symbol" | "decimals">): AmountCheck {
  const s = input.trim();
  if (s === "") return { ok: false, reason: `Enter an amount of ${asset.symbol}` };
  if (/^-/.test(s)) return { ok: false, reason: `The amount must be positive, not ${s}` };
  const m = DECIMAL.exec(s);
  if (m === null)
    return {
      ok: false,
      reason: `“${input.slice(0, 40)}” is not an amount: write digits with at most one decimal point, e.g. 1.25`,
    };
  const whole = m[1] ?? "0";
  const fraction = (m[2] ?? "").replace(/0+$/, "");
  if (fraction.length > asset.decimals)
    return {
      ok: false,
      reason:
        asset.decimals === 0
          ? `${asset.symbol} has no decimal places: ${s} is too precise`
          : `${asset.symbol} has ${asset.decimals} decimal places: ${s} has ${fraction.length}`,
    };
  const digits = `${whole}${fraction.padEnd(asset.decimals, "0")}`.replace(/^0+(?=.)/, "");
  if (!BASE_UNITS_PATTERN.test(digits))
    return { ok: false, reason: `${s} ${asset.symbol} is too large an amount` };
  const amount = BigInt(digits);
  if (amount === 0n) return { ok: false, reason: `The amount must be more than 0 ${asset.symbol}` };
  return { ok: true, amount };
}

/** An error about one input field, with the field's name (what the withdrawal form and API put next to it). */
export class AmountInputError extends Error {
  override name = "AmountInputError";
}

/** checkAmountInput, throwing AmountInputError with the reason instead. */
export function parseAmountInput(input: string, asset: Pick<Asset, "symbol" | "decimals">): bigint {
  const r = checkAmountInput(input, asset);
  if (!r.ok) throw new AmountInputError(r.reason);
  return r.amount;
}

/** Base units back in the asset's words: 1250000n USDC → "1.25 USDC". */
export function formatAssetAmount(amount: bigint, asset: Pick<Asset, "symbol" | "decimals">): string {
  return `${formatUnits(amount, asset.decimals)} ${asset.symbol}`;
}
