// A key's addresses and addresses read from user input, dispatched to the chain modules (bitcoin.ts,
// ethereum.ts, solana.ts). Which key serves which chain is decided by its curve: a secp256k1 key has a Bitcoin
// P2WPKH and an Ethereum address, an Ed25519 key a Solana address, a P-256 key none. Addresses are derived from
// keys.public_key every time, never stored. Pure: no database, no HSM.
import { bitcoinAddress, parseAddress as parseBitcoinAddress } from "./bitcoin";
import { ethereumAddress, parseAddress as parseEthereumAddress } from "./ethereum";
import { parseAddress as parseSolanaAddress, solanaAddress } from "./solana";
import type { AddressCheck, Chain, ChainNetworks } from "./types";

/** The chains a key of this curve has an address on (empty for p256 and anything unknown). */
export function chainsOfCurve(curve: string): readonly Chain[] {
  if (curve === "secp256k1") return ["bitcoin", "ethereum"];
  if (curve === "ed25519") return ["solana"];
  return [];
}

/** One of a key's addresses, with the network it is for in words. */
export type KeyAddress = {
  chain: Chain;
  /** "testnet", "11155111", "devnet": the network the address (and anything sent to it) is for. */
  network: string;
  address: string;
  /** "Bitcoin testnet (P2WPKH)", "Ethereum chain 11155111", "Solana devnet". */
  label: string;
};

function keyAddress(chain: Chain, publicKey: string, networks: ChainNetworks): KeyAddress {
  switch (chain) {
    case "bitcoin":
      return {
        chain,
        network: networks.bitcoin,
        address: bitcoinAddress(publicKey, networks.bitcoin),
        label: `Bitcoin ${networks.bitcoin} (P2WPKH)`,
      };
    case "ethereum":
      return {
        chain,
        network: String(networks.ethereum.chainId),
        address: ethereumAddress(publicKey),
        label: `Ethereum chain ${networks.ethereum.chainId}`,
      };
    case "solana":
      return {
        chain,
        network: networks.solana,
        address: solanaAddress(publicKey),
        label: `Solana ${networks.solana}`,
      };
  }
}

/**
 * The key's deposit addresses on every chain its curve serves, for the configured networks. Throws (the chain
 * module's error) when the stored public key is not one of its curve: a corrupt row must not show an address.
 */
export function addressesOf(
  key: { curve: string; publicKey: string },
  networks: ChainNetworks,
): KeyAddress[] {
  return chainsOfCurve(key.curve).map((chain) => keyAddress(chain, key.publicKey, networks));
}

/** The key's address on `chain`, or null when its curve has none there. */
export function addressOn(
  key: { curve: string; publicKey: string },
  chain: Chain,
  networks: ChainNetworks,
): string | null {
  if (!chainsOfCurve(key.curve).includes(chain)) return null;
  // Only that chain's address is derived (every withdrawal asks for one; the others cost a point decompression
  // and a hash each for nothing); a public key that is not of its curve throws as in addressesOf.
  return keyAddress(chain, key.publicKey, networks).address;
}

/**
 * An address typed or pasted for `chain`, in its canonical form (EIP-55, lower-case bech32, base58), or why not:
 * checksum, shape, and for Bitcoin the network ("a testnet address on mainnet"). Solana addresses must be on the
 * curve (a wallet, not a token account: see solana.ts).
 */
export function parseAddressOn(chain: Chain, input: string, networks: ChainNetworks): AddressCheck {
  switch (chain) {
    case "bitcoin":
      return parseBitcoinAddress(input, networks.bitcoin);
    case "ethereum":
      return parseEthereumAddress(input);
    case "solana":
      return parseSolanaAddress(input);
  }
}
