// The EthereumClient (server/chains/types.ts) over an Ethereum node's JSON-RPC, through viem's public client:
// from an http(s) URL (KEYWARD_ETHEREUM_RPC_URL) or from any EIP-1193 provider (the in-process EDR chain of
// server/custody/testing/evm.ts, a browser wallet). Reads chain data and broadcasts signed bytes; it never signs,
// builds or re-sends anything on its own, and a broadcast is the caller's one eth_sendRawTransaction.
import {
  BlockNotFoundError,
  ContractFunctionExecutionError,
  ContractFunctionZeroDataError,
  createPublicClient,
  custom,
  erc20Abi,
  getAddress,
  type Hex,
  http,
  type PublicClient,
  TransactionNotFoundError,
  TransactionReceiptNotFoundError,
} from "viem";
import type { Asset } from "@/server/custody/types";
import { receiptInclusion } from "./ethereum-inclusion";
import { AssetNotOnChainError, type BroadcastStatus, type EthereumClient, type EthereumFees } from "./types";

/** Where the node is: a JSON-RPC URL, or an EIP-1193 provider (anything with `request({ method, params })`). */
export type EthereumRpcSource =
  | { url: string; timeoutMs?: number }
  | { provider: { request: (args: { method: string; params?: unknown }) => Promise<unknown> } };

/** The address as viem takes it; getAddress throws on anything that is not 20 bytes of hex (or a bad checksum). */
const hexAddress = (address: string): Hex => getAddress(address);

function isHex(value: string): value is Hex {
  return /^0x[0-9a-fA-F]*$/.test(value);
}

export function ethereumRpcClient(source: EthereumRpcSource): EthereumClient {
  const transport =
    "url" in source
      ? http(source.url, { timeout: source.timeoutMs ?? 10_000, retryCount: 2 })
      : custom(source.provider, { retryCount: 0 });
  // cacheTime 0: viem otherwise answers getBlockNumber from a 4-second cache, and confirmations would lag.
  const client: PublicClient = createPublicClient({ transport, cacheTime: 0 });
  return new RpcEthereumClient(client);
}

class RpcEthereumClient implements EthereumClient {
  constructor(private readonly client: PublicClient) {}

  chainId(): Promise<number> {
    return this.client.getChainId();
  }

  pendingNonce(address: string): Promise<number> {
    return this.client.getTransactionCount({ address: hexAddress(address), blockTag: "pending" });
  }

  minedNonce(address: string): Promise<number> {
    return this.client.getTransactionCount({ address: hexAddress(address), blockTag: "latest" });
  }

  async fees(): Promise<EthereumFees> {
    const block = await this.client.getBlock({ blockTag: "latest" });
    if (block.baseFeePerGas === null) {
      throw new Error(
        "The Ethereum node's latest block has no base fee: the chain is not on EIP-1559 (London).",
      );
    }
    let tip: bigint;
    try {
      tip = BigInt(await this.client.request({ method: "eth_maxPriorityFeePerGas" }));
    } catch {
      // Nodes without eth_maxPriorityFeePerGas: the gas price above the base fee is the going tip.
      const gasPrice = await this.client.getGasPrice();
      tip = gasPrice > block.baseFeePerGas ? gasPrice - block.baseFeePerGas : 0n;
    }
    return { baseFeePerGas: block.baseFeePerGas, maxPriorityFeePerGas: tip };
  }

  balance(address: string, asset: Asset): Promise<bigint> {
    if (asset.chain !== "ethereum") throw new Error(`${asset.symbol} is on ${asset.chain}, not Ethereum.`);
    if (asset.kind === "native") return this.client.getBalance({ address: hexAddress(address) });
    if (asset.kind !== "erc20" || asset.contract === undefined) {
      throw new Error(`${asset.symbol} is not ETH or an ERC-20 with a contract address.`);
    }
    return this.tokenBalance(asset, asset.contract, address);
  }

  private async tokenBalance(asset: Asset, contract: string, address: string): Promise<bigint> {
    try {
      return await this.client.readContract({
        address: hexAddress(contract),
        abi: erc20Abi,
        functionName: "balanceOf",
        args: [hexAddress(address)],
      });
    } catch (e) {
      // "0x" back from balanceOf: no code at the address (viem wraps the zero-data error in an execution error).
      const zeroData =
        e instanceof ContractFunctionZeroDataError ||
        (e instanceof ContractFunctionExecutionError && e.cause instanceof ContractFunctionZeroDataError);
      if (!zeroData) throw e;
      throw new AssetNotOnChainError(
        `the node has no ERC-20 contract at ${contract}, which the asset list gives for ${asset.symbol}: ` +
          "the asset list (KEYWARD_ASSETS_FILE) does not match this chain",
      );
    }
  }

  broadcast(raw: string): Promise<string> {
    if (!isHex(raw)) throw new Error("A signed Ethereum transaction is 0x-hex.");
    return this.client.sendRawTransaction({ serializedTransaction: raw });
  }

  async status(txid: string, sent: { from: string; nonce: number }): Promise<BroadcastStatus> {
    if (!isHex(txid)) throw new Error("An Ethereum transaction hash is 0x-hex.");
    // The mined nonce first: if the receipt is missing after the nonce was seen used, no later block can hold
    // this transaction (short of a reorganisation), so "dead" is proven and not a race with mining.
    const mined = await this.minedNonce(sent.from);
    const receipt = await this.receipt(txid);
    if (receipt !== null) {
      const [head, canonical] = await Promise.all([
        this.client.getBlockNumber(),
        this.blockHashAt(receipt.blockNumber),
      ]);
      const included = receiptInclusion(receipt, canonical, head);
      if (included !== null) return included;
      // The receipt's block is no longer the chain's: not included. Not dead either on this answer (which
      // transaction holds the nonce on the chain now is not known from a stale receipt): the next look decides.
      return this.inPool(txid);
    }
    if (mined > sent.nonce) {
      return {
        state: "dead",
        reason: `Nonce ${sent.nonce} of ${hexAddress(sent.from)} was used by another transaction; this one can never be mined.`,
      };
    }
    return this.inPool(txid);
  }

  /** Pending when the node still has the transaction, unknown when it has not heard of it. */
  private async inPool(hash: Hex): Promise<BroadcastStatus> {
    try {
      await this.client.getTransaction({ hash });
      return { state: "pending" };
    } catch (e) {
      if (e instanceof TransactionNotFoundError) return { state: "unknown" };
      throw e;
    }
  }

  /** The hash of the block at `number` on the node's chain now; null when the chain is not that long. */
  private async blockHashAt(number: bigint): Promise<string | null> {
    try {
      return (await this.client.getBlock({ blockNumber: number })).hash;
    } catch (e) {
      if (e instanceof BlockNotFoundError) return null;
      throw e;
    }
  }

  private async receipt(hash: Hex) {
    try {
      return await this.client.getTransactionReceipt({ hash });
    } catch (e) {
      if (e instanceof TransactionReceiptNotFoundError) return null;
      throw e;
    }
  }
}
