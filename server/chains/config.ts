// The chains Keyward works on, from the environment: which network each chain's addresses and transactions are
// for, the optional node endpoints (Ethereum and Solana JSON-RPC, a Bitcoin Esplora HTTP API; without one, signed
// transactions are offered as a download and balances are not checked), how many confirmations count as done, and the asset list (built in, or KEYWARD_ASSETS_FILE).
// server/env.ts calls parseChainConfig with the same raw environment and hands the result out as env().chains;
// tests call parseChainConfig with their own variables (or build a ChainConfig literally). Every error names
// the variable (and for the assets file, the entry and field) to fix.
import "server-only";
import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { ConfigError } from "@/server/config-error";
import { defaultAssets, parseAssetList, SEPOLIA_CHAIN_ID } from "@/server/custody/assets";
import {
  type Asset,
  BITCOIN_NETWORKS,
  type Chain,
  type ChainNetworks,
  SOLANA_CLUSTERS,
} from "@/server/custody/types";

export type ChainConfig = {
  networks: ChainNetworks;
  /**
   * Node endpoints; null: no node (signed transactions are downloaded, balances unchecked). Ethereum and Solana:
   * JSON-RPC; Bitcoin: the base URL of an Esplora HTTP API (KEYWARD_BITCOIN_ESPLORA_URL; absent in a configuration
   * built by hand counts as none).
   */
  rpc: { ethereum: string | null; solana: string | null; bitcoin?: string | null };
  /** Confirmations after which a broadcast transaction counts as confirmed (Bitcoin absent: 6). */
  confirmations: { ethereum: number; solana: number; bitcoin?: number };
  assets: readonly Asset[];
  /** Where the asset list came from: "built-in", or the file's absolute path. */
  assetsSource: string;
};

const httpUrl = () =>
  z
    .string()
    .url("must be a URL, e.g. http://127.0.0.1:8545")
    .refine(
      (u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol),
      "must be an http:// or https:// URL",
    )
    .optional();

const count = (fallback: number) =>
  z.coerce
    .number({ error: "must be a whole number" })
    .int("must be a whole number")
    .min(1, "must be at least 1")
    .max(10_000, "must be at most 10000")
    .default(fallback);

const chainEnvSchema = z.object({
  KEYWARD_BITCOIN_NETWORK: z
    .enum(BITCOIN_NETWORKS, { error: `must be ${BITCOIN_NETWORKS.join(", ")}` })
    .default("testnet"),
  KEYWARD_ETHEREUM_CHAIN_ID: z.coerce
    .number({ error: "must be a whole number, e.g. 11155111 (Sepolia)" })
    .int("must be a whole number, e.g. 11155111 (Sepolia)")
    .min(1, "must be at least 1")
    .max(Number.MAX_SAFE_INTEGER, "is too large")
    .default(SEPOLIA_CHAIN_ID),
  KEYWARD_SOLANA_CLUSTER: z
    .enum(SOLANA_CLUSTERS, { error: `must be ${SOLANA_CLUSTERS.join(", ")}` })
    .default("devnet"),
  KEYWARD_ETHEREUM_RPC_URL: httpUrl(),
  KEYWARD_SOLANA_RPC_URL: httpUrl(),
  /** An Esplora-compatible HTTP API (Blockstream's electrs, mempool.space, a self-hosted one), e.g. …/testnet/api. */
  KEYWARD_BITCOIN_ESPLORA_URL: httpUrl(),
  KEYWARD_CONFIRMATIONS_ETHEREUM: count(12),
  KEYWARD_CONFIRMATIONS_SOLANA: count(1),
  KEYWARD_CONFIRMATIONS_BITCOIN: count(6),
  KEYWARD_ASSETS_FILE: z.string().min(1).optional(),
});

/** The variables parseChainConfig reads (server/env.ts passes the same raw environment). */
export const CHAIN_ENV_VARS = Object.keys(chainEnvSchema.shape) as readonly string[];

function readAssetsFile(file: string, readFile: (p: string) => string): readonly Asset[] {
  let text: string;
  try {
    text = readFile(file);
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new ConfigError(
      `KEYWARD_ASSETS_FILE: cannot read ${file}${code === "ENOENT" ? ": no such file" : code ? ` (${code})` : ""}`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(
      `KEYWARD_ASSETS_FILE: ${file} is not JSON (${e instanceof Error ? e.message : String(e)})`,
    );
  }
  try {
    return parseAssetList(json);
  } catch (e) {
    throw new ConfigError(`KEYWARD_ASSETS_FILE: ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * The chain configuration from a raw environment (an empty variable counts as unset). `readFile` is for tests;
 * the assets file is read once, here, at boot.
 */
export function parseChainConfig(
  raw: Readonly<Record<string, string | undefined>>,
  options: { readFile?: (p: string) => string } = {},
): ChainConfig {
  const present: Record<string, string> = {};
  for (const name of CHAIN_ENV_VARS) {
    const value = raw[name];
    if (value !== undefined && value.trim() !== "") present[name] = value.trim();
  }
  const parsed = chainEnvSchema.safeParse(present);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new ConfigError(`Invalid chain configuration: ${fields}`);
  }
  const e = parsed.data;
  const networks: ChainNetworks = Object.freeze({
    bitcoin: e.KEYWARD_BITCOIN_NETWORK,
    ethereum: Object.freeze({ chainId: e.KEYWARD_ETHEREUM_CHAIN_ID }),
    solana: e.KEYWARD_SOLANA_CLUSTER,
  });
  const file = e.KEYWARD_ASSETS_FILE === undefined ? null : path.resolve(e.KEYWARD_ASSETS_FILE);
  const assets =
    file === null
      ? defaultAssets(networks)
      : readAssetsFile(file, options.readFile ?? ((p) => readFileSync(p, "utf8")));
  return Object.freeze({
    networks,
    rpc: Object.freeze({
      ethereum: e.KEYWARD_ETHEREUM_RPC_URL ?? null,
      solana: e.KEYWARD_SOLANA_RPC_URL ?? null,
      bitcoin: e.KEYWARD_BITCOIN_ESPLORA_URL ?? null,
    }),
    confirmations: Object.freeze({
      ethereum: e.KEYWARD_CONFIRMATIONS_ETHEREUM,
      solana: e.KEYWARD_CONFIRMATIONS_SOLANA,
      bitcoin: e.KEYWARD_CONFIRMATIONS_BITCOIN,
    }),
    assets,
    assetsSource: file ?? "built-in",
  });
}

/** The network string a DecodedTransaction and a withdrawal payload carry: "regtest", "11155111", "devnet". */
export function networkOf(networks: ChainNetworks, chain: Chain): string {
  switch (chain) {
    case "bitcoin":
      return networks.bitcoin;
    case "ethereum":
      return String(networks.ethereum.chainId);
    case "solana":
      return networks.solana;
  }
}

/** The network in words for pages: "Bitcoin testnet", "Ethereum chain 11155111 (Sepolia)", "Solana devnet". */
export function networkLabel(networks: ChainNetworks, chain: Chain): string {
  switch (chain) {
    case "bitcoin":
      return `Bitcoin ${networks.bitcoin}`;
    case "ethereum": {
      const id = networks.ethereum.chainId;
      const known: Record<number, string> = { 1: "mainnet", [SEPOLIA_CHAIN_ID]: "Sepolia", 31337: "local" };
      return `Ethereum chain ${id}${known[id] ? ` (${known[id]})` : ""}`;
    }
    case "solana":
      return `Solana ${networks.solana}`;
  }
}
