// Test helper: a real Ethereum chain in this process — EDR (@nomicfoundation/edr 0.13, the EVM inside Hardhat),
// latest hardfork, EIP-1559 base fee, auto-mining by default — with funded accounts, an EthereumClient over it
// through ethereum-rpc.ts (the same code that talks to a real node), and a real ERC-20: OpenZeppelin 5.4's ERC20
// compiled by solc 0.8.28 with 6 decimals ("USDC-style"), compiled once per source and cached on disk.
// For tests and scripts/evm-node.mjs only; nothing in the server imports it.
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  ContractDecoder,
  EdrContext,
  L1_CHAIN_TYPE,
  l1GenesisState,
  l1HardforkLatest,
  l1HardforkToString,
  l1ProviderFactory,
  MineOrdering,
  type Provider,
} from "@nomicfoundation/edr";
import {
  type Abi,
  createPublicClient,
  custom,
  encodeDeployData,
  getAddress,
  type Hex,
  hexToBytes,
  type TransactionReceipt,
  toHex,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { ethereumRpcClient } from "@/server/chains/ethereum-rpc";
import type { EthereumClient } from "@/server/chains/types";
import type { Asset } from "../types";

const require = createRequire(import.meta.url);

/** An EIP-1193 provider: what viem's custom transport and wallets speak. */
export type Eip1193Provider = { request: (args: { method: string; params?: unknown }) => Promise<unknown> };

/** A JSON-RPC error from the chain, with its code (e.g. -32000 for a refused transaction). */
export class EvmRpcError extends Error {
  override name = "EvmRpcError";
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

export type TestEvm = {
  chainId: number;
  /** The chain over EIP-1193, for viem or anything else that speaks it. */
  provider: Eip1193Provider;
  /** Keyward's EthereumClient over the provider (server/chains/ethereum-rpc.ts). */
  client: EthereumClient;
  /** Accounts funded at genesis (10,000 ETH each unless asked), with their private keys (test keys only). */
  accounts: { address: string; privateKey: Hex }[];
  /** One JSON-RPC call; throws EvmRpcError for an error answer. */
  rpc(method: string, params?: unknown[]): Promise<unknown>;
  /** Sets `address`'s ETH balance to `wei` (hardhat_setBalance). */
  setBalance(address: string, wei: bigint): Promise<void>;
  /** Mines `blocks` blocks (for confirmations, or the pending pool when auto-mining is off). */
  mine(blocks?: number): Promise<void>;
  /** Turns auto-mining (one block per transaction) on or off. */
  setAutoMine(on: boolean): Promise<void>;
  /** The receipt of a mined transaction, or null. */
  receipt(txid: string): Promise<TransactionReceipt | null>;
  /**
   * Deploys the test ERC-20 ("USDC-style": 6 decimals, OpenZeppelin ERC20) from the first funded account, minting
   * `amount` base units to `holder`; returns it as a configured asset (kind erc20, its EIP-55 contract).
   */
  deployToken(options: { holder: string; amount: bigint; symbol?: string; name?: string }): Promise<Asset>;
};

export const TEST_EVM_CHAIN_ID = 31337;
const DEFAULT_BALANCE = 10_000n * 10n ** 18n;

// One EdrContext per process (EDR's own rule: "should only be called once"), providers made from it freely.
let context: Promise<EdrContext> | undefined;
function edrContext(): Promise<EdrContext> {
  context ??= (async () => {
    const ctx = new EdrContext();
    await ctx.registerProviderFactory(L1_CHAIN_TYPE, l1ProviderFactory());
    return ctx;
  })();
  return context;
}

/**
 * A fresh chain: `accounts` funded accounts (random keys unless `privateKeys` are given), base fee 1 gwei at
 * genesis, auto-mining unless `autoMine: false`. Cheap (a few ms): one per test file is the pattern.
 */
export async function startTestEvm(
  options: {
    chainId?: number;
    accounts?: number;
    privateKeys?: Hex[];
    balance?: bigint;
    autoMine?: boolean;
  } = {},
): Promise<TestEvm> {
  const chainId = options.chainId ?? TEST_EVM_CHAIN_ID;
  const keys =
    options.privateKeys ?? Array.from({ length: options.accounts ?? 3 }, () => toHex(randomBytes(32)));
  const accounts = keys.map((privateKey) => ({
    address: privateKeyToAccount(privateKey).address,
    privateKey,
  }));
  const hardfork = l1HardforkLatest();
  const provider: Provider = await (await edrContext()).createProvider(
    L1_CHAIN_TYPE,
    {
      allowBlocksWithSameTimestamp: false,
      allowUnlimitedContractSize: false,
      bailOnCallFailure: false,
      bailOnTransactionFailure: false,
      chainId: BigInt(chainId),
      coinbase: hexToBytes("0xc014ba5ec014ba5ec014ba5ec014ba5ec014ba5e"),
      defaultTransactionGasLimit: 10_000_000n, // under Osaka's per-transaction cap (EIP-7825: 2^24)
      genesisState: [
        ...l1GenesisState(hardfork),
        ...accounts.map((a) => ({
          address: hexToBytes(a.address),
          balance: options.balance ?? DEFAULT_BALANCE,
        })),
      ],
      hardfork: l1HardforkToString(hardfork),
      initialBaseFeePerGas: 1_000_000_000n,
      minGasPrice: 0n,
      mining: { autoMine: options.autoMine ?? true, memPool: { order: MineOrdering.Priority } },
      network: { genesisBlockGasLimit: 30_000_000n },
      networkId: BigInt(chainId),
      observability: {},
      ownedAccounts: keys,
      precompileOverrides: [],
    },
    { enable: false, decodeConsoleLogInputsCallback: () => [], printLineCallback: () => {} },
    { subscriptionCallback: () => {} },
    new ContractDecoder(),
  );

  let id = 0;
  async function rpc(method: string, params: unknown[] = []): Promise<unknown> {
    const response = await provider.handleRequest(
      JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params }),
    );
    const body: unknown = typeof response.data === "string" ? JSON.parse(response.data) : response.data;
    if (typeof body !== "object" || body === null)
      throw new EvmRpcError(-32603, `EDR answered ${String(body)}`);
    if ("error" in body && typeof body.error === "object" && body.error !== null) {
      const error = body.error as { code?: number; message?: string; data?: unknown };
      throw new EvmRpcError(error.code ?? -32603, error.message ?? "EDR error", error.data);
    }
    return "result" in body ? body.result : null;
  }
  const eip1193: Eip1193Provider = {
    request: ({ method, params }) =>
      rpc(method, Array.isArray(params) ? params : params === undefined ? [] : [params]),
  };
  const client = ethereumRpcClient({ provider: eip1193 });
  const viem = createPublicClient({ transport: custom(eip1193, { retryCount: 0 }) });

  async function receipt(txid: string): Promise<TransactionReceipt | null> {
    try {
      return await viem.getTransactionReceipt({ hash: txid as Hex });
    } catch {
      return null;
    }
  }

  const evm: TestEvm = {
    chainId,
    provider: eip1193,
    client,
    accounts,
    rpc,
    setBalance: async (address, wei) => {
      await rpc("hardhat_setBalance", [getAddress(address), toHex(wei)]);
    },
    mine: async (blocks = 1) => {
      await rpc("hardhat_mine", [toHex(blocks)]);
    },
    setAutoMine: async (on) => {
      await rpc("evm_setAutomine", [on]);
    },
    receipt,
    deployToken: async ({ holder, amount, symbol = "USDC", name = "Test USD Coin" }) => {
      const deployer = accounts[0];
      if (deployer === undefined) throw new Error("The test chain has no funded account to deploy from.");
      const artifact = testTokenArtifact();
      const data = encodeDeployData({
        abi: artifact.abi,
        bytecode: artifact.bytecode,
        args: [name, symbol, getAddress(holder), amount],
      });
      const txid = await rpc("eth_sendTransaction", [
        { from: deployer.address, data, gas: toHex(3_000_000) },
      ]);
      if (typeof txid !== "string") throw new Error("eth_sendTransaction gave no transaction hash.");
      if ((await rpc("eth_getTransactionReceipt", [txid])) === null) await evm.mine();
      const mined = await receipt(txid);
      if (mined?.status !== "success" || !mined.contractAddress) {
        throw new Error(`Deploying the test token failed (${mined?.status ?? "not mined"}).`);
      }
      return {
        chain: "ethereum",
        symbol,
        name,
        decimals: TEST_TOKEN_DECIMALS,
        kind: "erc20",
        contract: getAddress(mined.contractAddress),
      };
    },
  };
  return evm;
}

// ---------------------------------------------------------------------------------------------------------
// The test ERC-20

export const TEST_TOKEN_DECIMALS = 6;

/** OpenZeppelin's ERC20 as is, with 6 decimals and everything minted at deployment. */
export const TEST_TOKEN_SOURCE = `// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// A USDC-style token for Keyward's tests: OpenZeppelin's ERC20 with 6 decimals, the whole supply minted to one holder.
contract TestToken is ERC20 {
    constructor(string memory name_, string memory symbol_, address holder, uint256 supply) ERC20(name_, symbol_) {
        _mint(holder, supply);
    }

    function decimals() public pure override returns (uint8) {
        return ${TEST_TOKEN_DECIMALS};
    }
}
`;

type Artifact = { abi: Abi; bytecode: Hex; solc: string; openzeppelin: string };
type Solc = {
  version(): string;
  compile(
    input: string,
    callbacks: { import: (file: string) => { contents: string } | { error: string } },
  ): string;
};

let artifact: Artifact | undefined;

/** solc 0.8.28's output for TEST_TOKEN_SOURCE: from the disk cache when the sources are unchanged, else compiled (~2 s). */
export function testTokenArtifact(): Artifact {
  if (artifact !== undefined) return artifact;
  const openzeppelinRoot = path.dirname(require.resolve("@openzeppelin/contracts/package.json"));
  const openzeppelin = JSON.parse(readFileSync(path.join(openzeppelinRoot, "package.json"), "utf8"))
    .version as string;
  const solcVersion = JSON.parse(readFileSync(require.resolve("solc/package.json"), "utf8"))
    .version as string;
  const settings = {
    optimizer: { enabled: true, runs: 200 },
    outputSelection: { "*": { TestToken: ["abi", "evm.bytecode.object"] } },
  };
  const key = createHash("sha256")
    .update(JSON.stringify({ source: TEST_TOKEN_SOURCE, settings, solcVersion, openzeppelin }))
    .update(readFileSync(path.join(openzeppelinRoot, "token/ERC20/ERC20.sol")))
    .digest("hex")
    .slice(0, 16);
  const file = path.join(cacheDir(), `test-token-${key}.json`);
  try {
    artifact = JSON.parse(readFileSync(file, "utf8")) as Artifact;
    return artifact;
  } catch {
    // Not cached yet (or unreadable): compile below.
  }
  const solc = require("solc") as Solc;
  const input = {
    language: "Solidity",
    sources: { "TestToken.sol": { content: TEST_TOKEN_SOURCE } },
    settings,
  };
  const output = JSON.parse(
    solc.compile(JSON.stringify(input), {
      import: (imported) => {
        const prefix = "@openzeppelin/contracts/";
        if (!imported.startsWith(prefix))
          return { error: `Only OpenZeppelin imports are available: ${imported}` };
        try {
          return {
            contents: readFileSync(path.join(openzeppelinRoot, imported.slice(prefix.length)), "utf8"),
          };
        } catch (e) {
          return { error: String(e) };
        }
      },
    }),
  ) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts?: Record<string, Record<string, { abi: Abi; evm: { bytecode: { object: string } } }>>;
  };
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  const compiled = output.contracts?.["TestToken.sol"]?.TestToken;
  if (errors.length > 0 || compiled === undefined) {
    throw new Error(
      `solc could not compile the test token:\n${errors.map((e) => e.formattedMessage).join("\n")}`,
    );
  }
  artifact = {
    abi: compiled.abi,
    bytecode: `0x${compiled.evm.bytecode.object}`,
    solc: solc.version(),
    openzeppelin,
  };
  // Write then rename: parallel test files may compile at once, and a reader must never see half a file.
  mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString("hex")}`;
  writeFileSync(temporary, JSON.stringify(artifact));
  renameSync(temporary, file);
  return artifact;
}

function cacheDir(): string {
  const root = path.resolve(import.meta.dirname, "../../..");
  const inNodeModules = path.join(root, "node_modules", ".cache", "keyward-evm");
  try {
    mkdirSync(inNodeModules, { recursive: true });
    return inNodeModules;
  } catch {
    return path.join(tmpdir(), "keyward-evm");
  }
}
