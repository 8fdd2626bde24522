// The asset list and amount input: the built-in list per network, the KEYWARD_ASSETS_FILE schema's refusals, lookup,
// and "1.25" → base units with every refusal in words.
import { describe, expect, it } from "vitest";
import {
  assetByContract,
  checkAmountInput,
  DEVNET_USDC_MINT,
  defaultAssets,
  formatAssetAmount,
  lookupAsset,
  nativeAsset,
  parseAmountInput,
  parseAssetList,
  SEPOLIA_USDC,
} from "./assets";

const defaults = { bitcoin: "testnet", ethereum: { chainId: 11155111 }, solana: "devnet" } as const;
const usdc = { symbol: "USDC", decimals: 6 };
const btc = { symbol: "BTC", decimals: 8 };
const eth = { symbol: "ETH", decimals: 18 };

const natives = [
  { chain: "bitcoin", symbol: "BTC", name: "Bitcoin", decimals: 8, kind: "native" },
  { chain: "ethereum", symbol: "ETH", name: "Ether", decimals: 18, kind: "native" },
  { chain: "solana", symbol: "SOL", name: "Solana", decimals: 9, kind: "native" },
];

describe("defaultAssets", () => {
  it("lists BTC 8, ETH 18, SOL 9 and USDC 6 on Sepolia and devnet", () => {
    const list = defaultAssets(defaults);
    expect(list.map((a) => `${a.chain}:${a.symbol}:${a.decimals}:${a.kind}:${a.contract ?? ""}`)).toEqual([
      "bitcoin:BTC:8:native:",
      "ethereum:ETH:18:native:",
      "solana:SOL:9:native:",
      `ethereum:USDC:6:erc20:${SEPOLIA_USDC}`,
      `solana:USDC:6:spl:${DEVNET_USDC_MINT}`,
    ]);
  });
  it("leaves the tokens out on other networks (their contract would name the wrong thing)", () => {
    const list = defaultAssets({ bitcoin: "mainnet", ethereum: { chainId: 1 }, solana: "mainnet-beta" });
    expect(list.map((a) => a.symbol)).toEqual(["BTC", "ETH", "SOL"]);
  });
  it("is valid under its own file schema", () => {
    expect(parseAssetList(JSON.parse(JSON.stringify(defaultAssets(defaults))))).toEqual(
      defaultAssets(defaults),
    );
  });
});

describe("parseAssetList", () => {
  it("accepts natives and tokens, canonicalising an ERC-20 contract to EIP-55", () => {
    const list = parseAssetList([
      ...natives,
      {
        chain: "ethereum",
        symbol: "USDC",
        name: "USD Coin",
        decimals: 6,
        kind: "erc20",
        contract: SEPOLIA_USDC.toLowerCase(),
      },
    ]);
    expect(list[3]?.contract).toBe(SEPOLIA_USDC);
  });
  const refuse = (extra: unknown[], message: RegExp, base: unknown[] = natives) =>
    expect(() => parseAssetList([...base, ...extra])).toThrow(message);
  it("refuses a missing native coin", () =>
    refuse([], /List SOL, the native coin of solana/, natives.slice(0, 2)));
  it("refuses a native coin with other decimals", () =>
    refuse([], /\[1\]\.\[decimals\]: ETH has 18 decimals/, [
      natives[0],
      { ...natives[1], decimals: 6 },
      natives[2],
    ]));
  it("refuses a symbol twice on one chain", () =>
    refuse([{ ...natives[0] }], /\[3\]\.\[symbol\]: BTC on bitcoin is listed twice \(also entry 0\)/));
  it("refuses a bad EIP-55 checksum", () =>
    refuse(
      [
        {
          chain: "ethereum",
          symbol: "USDC",
          name: "x",
          decimals: 6,
          kind: "erc20",
          contract: "0x1C7D4B196Cb0C7B01d743Fbc6116a902379C7238",
        },
      ],
      /\[3\]\.\[contract\]: .* is not an Ethereum address/,
    ));
  it("refuses an erc20 on solana and a token without contract", () => {
    refuse(
      [{ chain: "solana", symbol: "X", name: "x", decimals: 6, kind: "erc20", contract: SEPOLIA_USDC }],
      /erc20 tokens live on ethereum, not solana/,
    );
    refuse([{ chain: "solana", symbol: "X", name: "x", decimals: 6, kind: "spl" }], /Name the token mint/);
  });
  it("refuses a mint that is not base58 of 32 bytes", () =>
    refuse(
      [{ chain: "solana", symbol: "X", name: "x", decimals: 6, kind: "spl", contract: "0OIl" }],
      /is not a Solana address/,
    ));
  it("refuses an unknown chain, a bad kind, unknown fields and one contract under two symbols", () => {
    refuse(
      [{ chain: "dogecoin", symbol: "D", name: "x", decimals: 8, kind: "native" }],
      /\[3\]\.\[chain\]: chain must be one of bitcoin, ethereum, solana/,
    );
    refuse(
      [{ chain: "ethereum", symbol: "D", name: "x", decimals: 8, kind: "bep20" }],
      /kind is native, erc20 or spl/,
    );
    refuse([{ ...natives[0], symbol: "BTC2", colour: "red" }], /colour/);
    const t = { chain: "ethereum", name: "x", decimals: 6, kind: "erc20", contract: SEPOLIA_USDC };
    refuse(
      [
        { ...t, symbol: "A" },
        { ...t, symbol: "B" },
      ],
      /\[4\]\.\[contract\]: .* also entry 3/,
    );
  });
  it("refuses something that is not a list", () => expect(() => parseAssetList({})).toThrow(/the list/));
});

describe("lookup", () => {
  const list = defaultAssets(defaults);
  it("finds by chain and symbol exactly", () => {
    expect(lookupAsset(list, "solana", "USDC")).toMatchObject({ ok: true, asset: { kind: "spl" } });
    expect(lookupAsset(list, "bitcoin", "USDC")).toEqual({
      ok: false,
      reason: "USDC is not a configured asset on bitcoin (configured: BTC)",
    });
    expect(lookupAsset(list, "ethereum", "usdc").ok).toBe(false);
    expect(lookupAsset(list, "dogecoin", "D")).toEqual({
      ok: false,
      reason: "Keyward has no assets on dogecoin",
    });
  });
  it("finds the native coin and a token by its contract", () => {
    expect(nativeAsset(list, "ethereum").symbol).toBe("ETH");
    expect(assetByContract(list, "ethereum", SEPOLIA_USDC.toLowerCase())?.symbol).toBe("USDC");
    expect(assetByContract(list, "solana", DEVNET_USDC_MINT.toLowerCase())).toBeUndefined();
  });
});

describe("parseAmountInput", () => {
  it("reads decimals exactly, in base units", () => {
    expect(parseAmountInput("1.25", usdc)).toBe(1_250_000n);
    expect(parseAmountInput("0.00000001", btc)).toBe(1n);
    expect(parseAmountInput("21000000", btc)).toBe(2_100_000_000_000_000n);
    expect(parseAmountInput("0.1", eth)).toBe(100_000_000_000_000_000n);
    expect(parseAmountInput(" 7 ", usdc)).toBe(7_000_000n);
    expect(parseAmountInput("1.500000000", usdc)).toBe(1_500_000n); // trailing zeros add no precision
    expect(parseAmountInput("007.5", usdc)).toBe(7_500_000n);
  });
  const reason = (s: string, a = usdc) => {
    const r = checkAmountInput(s, a);
    return r.ok ? `ok ${r.amount}` : r.reason;
  };
  it("refuses negative, zero, over-precise and garbage, in words", () => {
    expect(reason("-1")).toBe("The amount must be positive, not -1");
    expect(reason("0")).toBe("The amount must be more than 0 USDC");
    expect(reason("0.000000")).toBe("The amount must be more than 0 USDC");
    expect(reason("1.0000001")).toBe("USDC has 6 decimal places: 1.0000001 has 7");
    expect(reason("0.000000001", btc)).toBe("BTC has 8 decimal places: 0.000000001 has 9");
    expect(reason("1", { symbol: "NFT", decimals: 0 })).toBe("ok 1");
    expect(reason("1.5", { symbol: "NFT", decimals: 0 })).toBe(
      "NFT has no decimal places: 1.5 is too precise",
    );
    expect(reason("")).toBe("Enter an amount of USDC");
    for (const bad of [
      "1e6",
      "1,000",
      "+1",
      "1.",
      ".5",
      "1.2.3",
      "0x10",
      "one",
      "١",
      "Infinity",
      "NaN",
      "1 000",
    ])
      expect(reason(bad)).toMatch(/is not an amount: write digits/);
    expect(reason("9".repeat(80))).toMatch(/too large an amount/);
  });
  it("throws the reason", () => {
    expect(() => parseAmountInput("-0.5", usdc)).toThrow("The amount must be positive, not -0.5");
  });
  it("formats back", () => {
    expect(formatAssetAmount(1_250_000n, usdc)).toBe("1.25 USDC");
  });
});
