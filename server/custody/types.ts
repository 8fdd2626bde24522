// What the chain modules (bitcoin.ts, ethereum.ts, solana.ts), the withdrawal kind and the executor share.
// Pure and browser-safe: types and constants only. Amounts are bigint base units everywhere; a document or a
// payload carries them as decimal strings (server/policy/amounts.ts), never as numbers.

export const CHAINS = ["bitcoin", "ethereum", "solana"] as const;
export type Chain = (typeof CHAINS)[number];

export const BITCOIN_NETWORKS = ["mainnet", "testnet", "regtest"] as const;
export type BitcoinNetwork = (typeof BITCOIN_NETWORKS)[number];

export const SOLANA_CLUSTERS = ["mainnet-beta", "devnet", "testnet", "localnet"] as const;
export type SolanaCluster = (typeof SOLANA_CLUSTERS)[number];

/** Which network each chain's addresses and transactions are for (server/chains/config.ts reads it). */
export type ChainNetworks = {
  bitcoin: BitcoinNetwork;
  ethereum: { chainId: number };
  solana: SolanaCluster;
};

/** A configured asset: the chain's native coin or a token on it. */
export type Asset = {
  chain: Chain;
  /** Unique per chain: "BTC", "ETH", "USDC". */
  symbol: string;
  name: string;
  decimals: number;
  kind: "native" | "erc20" | "spl";
  /** erc20: the token contract (EIP-55); spl: the mint (base58). Absent for native coins. */
  contract?: string;
};

/** A destination or own address read from user input: canonical form (EIP-55, lower-case bech32, base58), or why not. */
export type AddressCheck = { ok: true; address: string } | { ok: false; reason: string };

/** One value a transaction moves, decoded from its bytes. */
export type DecodedTransfer = {
  /** The asset's symbol on the transaction's chain. */
  asset: string;
  amount: bigint;
  /** Canonical address. */
  destination: string;
  /** Bitcoin: an output paying back to the key's own address (change), not to someone else. */
  change?: boolean;
};

/**
 * What a transaction does, decoded from its very bytes: what approvers see and what the executor compares with
 * the approved intent before anything is signed.
 */
export type DecodedTransaction = {
  chain: Chain;
  /** "regtest"; the Ethereum chain id as a decimal string; the Solana cluster. */
  network: string;
  /** The key's address: the Ethereum sender, the Solana fee payer and source owner, every Bitcoin input's owner. */
  from: string;
  transfers: DecodedTransfer[];
  /**
   * The most it can cost in fees, in base units of the chain's native coin: Ethereum gas limit × max fee per gas,
   * Bitcoin inputs − outputs, Solana signatures × lamports per signature + priority fee.
   */
  maxFee: bigint;
  /** Ethereum: the nonce; Solana: the recent blockhash; Bitcoin: absent (its inputs are its uniqueness). */
  nonce?: string;
  /** The same in words, label and value, for the operation page ("Destination", "Amount", "Fee at most"…). */
  lines: { label: string; value: string }[];
};

/** What the HSM signs, one per signature: a 32-byte digest (secp256k1, CKM_ECDSA) or the message (Ed25519). */
export type SigningRequest = { curve: "secp256k1" | "ed25519"; data: Uint8Array };

/** A signed transaction ready to broadcast or download. */
export type SignedTransaction = {
  /** Ethereum: 0x-hex; Bitcoin: hex; Solana: base64 (the wire format each chain's RPC takes). */
  raw: string;
  /** Ethereum transaction hash (0x…), Bitcoin txid (hex), Solana first signature (base58). */
  txid: string;
  decoded: DecodedTransaction;
};
