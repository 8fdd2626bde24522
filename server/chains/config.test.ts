// The chain configuration from the environment: defaults, every variable's refusal naming it, and the assets file.
import { describe, expect, it } from "vitest";
import { ConfigError } from "@/server/config-error";
import { SEPOLIA_USDC } from "@/server/custody/assets";
import { networkLabel, networkOf, parseChainConfig } from "./config";

const natives = [
  { chain: "bitcoin", symbol: "BTC", name: "Bitcoin", decimals: 8, kind: "native" },
  { chain: "ethereum", symbol: "ETH", name: "Ether", decimals: 18, kind: "native" },
  { chain: "solana", symbol: "SOL", name: "Solana", decimals: 9, kind: "native" },
];
const fileOf = (files: Record<string, string>) => ({
  readFile: (p: string) => {
    const text = files[p];
    if (text === undefined) throw Object.assign(new Error("nope"), { code: "ENOENT" });
    return text;
  },
});

describe("parseChainConfig", () => {
  it("defaults to testnet, Sepolia, devnet, no node, 12, 1 and 6 confirmations, the built-in assets", () => {
    const c = parseChainConfig({});
    expect(c.networks).toEqual({ bitcoin: "testnet", ethereum: { chainId: 11155111 }, solana: "devnet" });
    expect(c.rpc).toStrictEqual({ ethereum: null, solana: null, bitcoin: null });
    expect(c.confirmations).toStrictEqual({ ethereum: 12, solana: 1, bitcoin: 6 });
    expect(c.assets.map((a) => `${a.chain}:${a.symbol}`)).toEqual([
      "bitcoin:BTC",
      "ethereum:ETH",
      "solana:SOL",
      "ethereum:USDC",
      "solana:USDC",
    ]);
    expect(c.assetsSource).toBe("built-in");
    expect(Object.isFrozen(c) && Object.isFrozen(c.networks)).toBe(true);
  });
  it("reads every variable; empty counts as unset", () => {
    const c = parseChainConfig({
      KEYWARD_BITCOIN_NETWORK: "regtest",
      KEYWARD_ETHEREUM_CHAIN_ID: "31337",
      KEYWARD_SOLANA_CLUSTER: "localnet",
      KEYWARD_ETHEREUM_RPC_URL: "http://127.0.0.1:8545",
      KEYWARD_SOLANA_RPC_URL: "",
      KEYWARD_CONFIRMATIONS_ETHEREUM: "3",
      KEYWARD_CONFIRMATIONS_SOLANA: " ",
      KEYWARD_BITCOIN_ESPLORA_URL: " https://blockstream.info/testnet/api ",
      KEYWARD_CONFIRMATIONS_BITCOIN: "2",
    });
    expect(c.networks).toEqual({ bitcoin: "regtest", ethereum: { chainId: 31337 }, solana: "localnet" });
    expect(c.rpc).toStrictEqual({
      ethereum: "http://127.0.0.1:8545",
      solana: null,
      bitcoin: "https://blockstream.info/testnet/api",
    });
    expect(c.confirmations).toStrictEqual({ ethereum: 3, solana: 1, bitcoin: 2 });
    expect(c.assets.map((a) => a.symbol)).toEqual(["BTC", "ETH", "SOL"]);
    expect(networkOf(c.networks, "ethereum")).toBe("31337");
    expect(networkOf(c.networks, "bitcoin")).toBe("regtest");
    expect(networkLabel(c.networks, "ethereum")).toBe("Ethereum chain 31337 (local)");
  });
  it.each([
    [{ KEYWARD_BITCOIN_NETWORK: "signet" }, /KEYWARD_BITCOIN_NETWORK: must be mainnet, testnet, regtest/],
    [{ KEYWARD_ETHEREUM_CHAIN_ID: "sepolia" }, /KEYWARD_ETHEREUM_CHAIN_ID: must be a whole number/],
    [{ KEYWARD_ETHEREUM_CHAIN_ID: "1.5" }, /KEYWARD_ETHEREUM_CHAIN_ID: must be a whole number/],
    [{ KEYWARD_ETHEREUM_CHAIN_ID: "0" }, /KEYWARD_ETHEREUM_CHAIN_ID: must be at least 1/],
    [
      { KEYWARD_SOLANA_CLUSTER: "mainnet" },
      /KEYWARD_SOLANA_CLUSTER: must be mainnet-beta, devnet, testnet, localnet/,
    ],
    [{ KEYWARD_ETHEREUM_RPC_URL: "not a url" }, /KEYWARD_ETHEREUM_RPC_URL: must be a URL/],
    [{ KEYWARD_SOLANA_RPC_URL: "ws://x" }, /KEYWARD_SOLANA_RPC_URL: must be an http/],
    [{ KEYWARD_CONFIRMATIONS_ETHEREUM: "0" }, /KEYWARD_CONFIRMATIONS_ETHEREUM: must be at least 1/],
    [{ KEYWARD_CONFIRMATIONS_SOLANA: "two" }, /KEYWARD_CONFIRMATIONS_SOLANA: must be a whole number/],
    [{ KEYWARD_BITCOIN_ESPLORA_URL: "blockstream.info/api" }, /KEYWARD_BITCOIN_ESPLORA_URL: must be a URL/],
    [
      { KEYWARD_BITCOIN_ESPLORA_URL: "ftp://electrs.local/api" },
      /KEYWARD_BITCOIN_ESPLORA_URL: must be an http/,
    ],
    [{ KEYWARD_CONFIRMATIONS_BITCOIN: "0" }, /KEYWARD_CONFIRMATIONS_BITCOIN: must be at least 1/],
  ])("refuses %o naming the variable", (raw, message) => {
    expect(() => parseChainConfig(raw)).toThrow(ConfigError);
    expect(() => parseChainConfig(raw)).toThrow(message);
  });
  it("reads the assets file instead of the built-in list", () => {
    const list = [
      ...natives,
      {
        chain: "ethereum",
        symbol: "TUSD",
        name: "Test USD",
        decimals: 6,
        kind: "erc20",
        contract: SEPOLIA_USDC,
      },
    ];
    const c = parseChainConfig(
      { KEYWARD_ASSETS_FILE: "/etc/assets.json" },
      fileOf({ "/etc/assets.json": JSON.stringify(list) }),
    );
    expect(c.assets.map((a) => a.symbol)).toEqual(["BTC", "ETH", "SOL", "TUSD"]);
    expect(c.assetsSource).toBe("/etc/assets.json");
  });
  it("names the file and the entry when it is missing, not JSON, or wrong", () => {
    const v = { KEYWARD_ASSETS_FILE: "/etc/assets.json" };
    expect(() => parseChainConfig(v, fileOf({}))).toThrow(
      "KEYWARD_ASSETS_FILE: cannot read /etc/assets.json: no such file",
    );
    expect(() => parseChainConfig(v, fileOf({ "/etc/assets.json": "[{" }))).toThrow(
      /KEYWARD_ASSETS_FILE: \/etc\/assets.json is not JSON/,
    );
    const bad = JSON.stringify([
      ...natives,
      { chain: "ethereum", symbol: "X", name: "x", decimals: 99, kind: "erc20", contract: SEPOLIA_USDC },
    ]);
    expect(() => parseChainConfig(v, fileOf({ "/etc/assets.json": bad }))).toThrow(
      /KEYWARD_ASSETS_FILE: \/etc\/assets.json: \[3\]\.\[decimals\]/,
    );
  });
});
