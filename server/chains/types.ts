// What Keyward asks of a chain's node: the chain data the executor builds with (Ethereum nonces and fees, the
// Solana recent blockhash), balances for "insufficient funds", broadcast, and a broadcast's fate. Each chain has
// one client over its JSON-RPC (ethereum-rpc.ts, solana-rpc.ts) and, for tests, one over an in-process engine
// (server/custody/testing/: EDR, litesvm) — the same interface, so the executor cannot tell them apart.
// Types only: nothing here talks to a network.
import type { Asset } from "@/server/custody/types";

/** What became of a broadcast transaction, as far as the node can prove. */
export type BroadcastStatus =
  /** The node knows it (mempool) and no block holds it yet. */
  | { state: "pending" }
  /**
   * In a block that succeeded, on the node's chain as it is now (Ethereum: the receipt's block is still the block
   * at that number); `confirmations` counts that block as 1. `block` is its hash (Solana: its slot) and `height`
   * its number (Ethereum block number, Bitcoin height, Solana slot).
   */
  | { state: "confirmed"; confirmations: number; block: string; height: number }
  /** In a block but it failed (Ethereum status 0, a Solana instruction error): the fee is spent, no value moved. */
  | { state: "failed"; reason: string; confirmations: number; block: string; height: number }
  /**
   * Provably never going to confirm: its Ethereum nonce was used by another transaction, its Bitcoin inputs were
   * spent by another, its Solana blockhash expired past its last valid block height.
   */
  | { state: "dead"; reason: string }
  /** The node has not heard of it (not propagated, or dropped): neither alive nor provably dead. */
  | { state: "unknown" };

export type EthereumFees = { baseFeePerGas: bigint; maxPriorityFeePerGas: bigint };

export interface EthereumClient {
  chainId(): Promise<number>;
  /** The nonce the next transaction from `address` takes, counting the pending ones the node knows. */
  pendingNonce(address: string): Promise<number>;
  /** How many transactions from `address` are mined (the nonce the next mined one must have). */
  minedNonce(address: string): Promise<number>;
  fees(): Promise<EthereumFees>;
  /** Native ETH (wei) or an ERC-20's balance (token base units) of `address`. */
  balance(address: string, asset: Asset): Promise<bigint>;
  /** eth_sendRawTransaction; returns the transaction hash. */
  broadcast(raw: string): Promise<string>;
  /** The fate of `txid`, sent from `from` with `nonce`: dead when a different transaction mined that nonce. */
  status(txid: string, sent: { from: string; nonce: number }): Promise<BroadcastStatus>;
}

export interface SolanaClient {
  latestBlockhash(): Promise<{ blockhash: string; lastValidBlockHeight: bigint }>;
  blockHeight(): Promise<bigint>;
  /**
   * Whether a transaction with this recent blockhash can still be processed (RPC isBlockhashValid): an imported
   * transaction is signed only while it is. Optional: without it an imported Solana transaction is not signed.
   */
  isBlockhashValid?(blockhash: string): Promise<boolean>;
  /** Lamports, or an SPL token's base units held by `owner`'s associated token account (0 when it has none). */
  balance(owner: string, asset: Asset): Promise<bigint>;
  /** Whether `owner` already has an associated token account for the SPL asset (else the transfer creates it). */
  hasTokenAccount(owner: string, asset: Asset): Promise<boolean>;
  /**
   * The fewest lamports an account of `bytes` bytes of data must hold (RPC getMinimumBalanceForRentExemption):
   * a transfer that leaves a system account (0 bytes) with more than nothing but less than this is refused by the
   * runtime, and the fee is kept.
   */
  rentExemptMinimum(bytes: number): Promise<bigint>;
  /** sendTransaction of the base64 wire transaction; returns its first signature (base58). */
  broadcast(raw: string): Promise<string>;
  /** The fate of `signature`: dead once the chain is past `lastValidBlockHeight` and never included it. */
  status(signature: string, sent: { lastValidBlockHeight: bigint }): Promise<BroadcastStatus>;
}

export interface BitcoinClient {
  /** The fee rate (sat/vB, fractional) the node expects to confirm within `blocks` blocks (default 6). */
  feeRate(blocks?: number): Promise<number>;
  /** Satoshis `address` holds, confirmed and in the mempool. */
  balance(address: string): Promise<bigint>;
  /**
   * The unspent outputs of `address`, confirmed and in the mempool (a rotation sweep spends them all). Optional:
   * clients that cannot list them leave the old key's BTC to a withdrawal with the wallet backend's PSBT.
   */
  utxos?(address: string): Promise<{ txid: string; vout: number; value: bigint }[]>;
  /** The raw transaction `txid` (hex): a PSBT input's previous transaction; null when the node has none. */
  transactionHex?(txid: string): Promise<string | null>;
  /** Broadcasts the raw transaction (hex); returns its txid. */
  broadcast(raw: string): Promise<string>;
  /** The fate of `txid`, whose raw transaction is `sent.raw`: dead once a confirmed other transaction spent one of its inputs. */
  status(txid: string, sent: { raw: string }): Promise<BroadcastStatus>;
}

/**
 * The node answers, but the configured asset is not there: no contract (or mint) at its address on this chain —
 * a misconfigured asset list (KEYWARD_ASSETS_FILE) or a node on another network. Unlike a node that does not
 * answer, trying again does not help, so callers report it for that asset and go on with the others.
 */
export class AssetNotOnChainError extends Error {
  override name = "AssetNotOnChainError";
}
