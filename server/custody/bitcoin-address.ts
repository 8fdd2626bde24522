// Bitcoin addresses for custody: a key's P2WPKH address from its HSM public key, and destination addresses read
// from user input (checksum, network and kind said in words). Pure and free of I/O; bitcoin.ts re-exports it.
//
// Destinations: segwit only — v0 (P2WPKH bc1q…, P2WSH) and v1 (P2TR bc1p…), bech32/bech32m. Legacy base58
// addresses (1…, 3…) are refused in words: bech32's checksum catches every typo of up to four characters and
// is case-insensitive, and every exchange-grade wallet has paid to segwit since 2017. Future segwit versions
// (v2–v16) are refused: coins sent there today could be taken by anyone once a soft fork gives them meaning.
import { secp256k1 } from "@noble/curves/secp256k1";
import type { Network } from "bitcoinjs-lib";
import { address, networks as bitcoinNetworks, crypto } from "bitcoinjs-lib";
import type { AddressCheck, BitcoinNetwork } from "./types";

/** bitcoinjs-lib's parameters for each network Keyward runs on (bech32 prefixes bc, tb, bcrt). */
export const NETWORKS: Readonly<Record<BitcoinNetwork, Network>> = {
  mainnet: bitcoinNetworks.bitcoin,
  testnet: bitcoinNetworks.testnet,
  regtest: bitcoinNetworks.regtest,
};
const NETWORK_OF_PREFIX: Readonly<Record<string, BitcoinNetwork>> = {
  bc: "mainnet",
  tb: "testnet",
  bcrt: "regtest",
};

/** The 33-byte compressed form of a secp256k1 public key given as hex (65-byte uncompressed SEC1, or 33). */
export function compressPublicKey(publicKeyHex: string): Uint8Array {
  if (!/^([0-9a-fA-F]{2})+$/.test(publicKeyHex) || ![66, 130].includes(publicKeyHex.length)) {
    throw new RangeError(
      `A secp256k1 public key is 65 bytes uncompressed (or 33 compressed) in hex; got ${publicKeyHex.length} characters.`,
    );
  }
  try {
    return secp256k1.Point.fromHex(publicKeyHex).toBytes(true);
  } catch {
    throw new RangeError("This public key is not a point on secp256k1.");
  }
}

/** The key's P2WPKH address (bech32, lower case) on `network`: bc1q… mainnet, tb1q… testnet, bcrt1q… regtest. */
export function bitcoinAddress(publicKeyHex: string, network: BitcoinNetwork): string {
  const hash = crypto.hash160(compressPublicKey(publicKeyHex));
  return address.toBech32(hash, 0, NETWORKS[network].bech32);
}

/** A segwit output Keyward pays to: its address, kind and output script. */
export type Destination = { address: string; kind: "p2wpkh" | "p2wsh" | "p2tr"; script: Uint8Array };

/** The output script an address pays to, or why Keyward will not pay to it (see the header: segwit v0/v1 only). */
export function readAddress(input: string, network: BitcoinNetwork): Destination | { reason: string } {
  const text = input.trim();
  if (text === "") return { reason: "Enter a Bitcoin address." };
  const looksBech32 = /^(bc|tb|bcrt)1/i.test(text);
  if (looksBech32 && text !== text.toLowerCase() && text !== text.toUpperCase()) {
    return {
      reason: `${text} mixes upper- and lower-case letters; a bech32 address is written in one case.`,
    };
  }
  const lower = text.toLowerCase();
  let decoded: ReturnType<typeof address.fromBech32>;
  try {
    decoded = address.fromBech32(lower);
  } catch {
    try {
      address.fromBase58Check(text);
      return {
        reason: `${text} is a legacy (base58) address; Keyward pays only to segwit addresses (bc1q… or bc1p…). Ask the recipient for one.`,
      };
    } catch {
      // Neither: say whether it looks like a bech32 address with a typo.
    }
    if (looksBech32) {
      return {
        reason: `${text} is not a valid address: its checksum does not match (a mistyped character?).`,
      };
    }
    return { reason: `${text} is not a Bitcoin address.` };
  }
  const actual = NETWORK_OF_PREFIX[decoded.prefix];
  if (actual === undefined) {
    return { reason: `${text} is not a Bitcoin address (prefix "${decoded.prefix}" is not bc, tb or bcrt).` };
  }
  if (actual !== network) {
    return { reason: `This is a ${actual} address; Keyward is on ${network}.` };
  }
  const canonical = address.toBech32(decoded.data, decoded.version, NETWORKS[network].bech32);
  if (decoded.version === 0 && decoded.data.length === 20) {
    return { address: canonical, kind: "p2wpkh", script: Uint8Array.from([0x00, 0x14, ...decoded.data]) };
  }
  if (decoded.version === 0 && decoded.data.length === 32) {
    return { address: canonical, kind: "p2wsh", script: Uint8Array.from([0x00, 0x20, ...decoded.data]) };
  }
  if (decoded.version === 1 && decoded.data.length === 32) {
    return { address: canonical, kind: "p2tr", script: Uint8Array.from([0x51, 0x20, ...decoded.data]) };
  }
  if (decoded.version > 1) {
    return {
      reason: `${text} is a segwit version ${decoded.version} address, which Bitcoin does not use yet; Keyward does not pay to it.`,
    };
  }
  return {
    reason: `${text} has a ${decoded.data.length}-byte program, which no segwit version ${decoded.version} address has.`,
  };
}

/** A destination or own address from user input, in canonical form (lower-case bech32), or why not. */
export function parseAddress(input: string, network: BitcoinNetwork): AddressCheck {
  const read = readAddress(input, network);
  return "reason" in read ? { ok: false, reason: read.reason } : { ok: true, address: read.address };
}

/** The address an output script pays to, for the segwit kinds Keyward pays to; undefined for anything else. */
export function destinationOf(script: Uint8Array, network: BitcoinNetwork): Destination | undefined {
  const prefix = NETWORKS[network].bech32;
  const program = script.subarray(2);
  if (script.length === 22 && script[0] === 0x00 && script[1] === 0x14) {
    return { address: address.toBech32(program, 0, prefix), kind: "p2wpkh", script };
  }
  if (script.length === 34 && script[0] === 0x00 && script[1] === 0x20) {
    return { address: address.toBech32(program, 0, prefix), kind: "p2wsh", script };
  }
  if (script.length === 34 && script[0] === 0x51 && script[1] === 0x20) {
    return { address: address.toBech32(program, 1, prefix), kind: "p2tr", script };
  }
  return undefined;
}

/** What an output script is, in words, for a refusal. */
export function scriptKind(script: Uint8Array): string {
  const hex = Buffer.from(script).toString("hex");
  if (/^76a914[0-9a-f]{40}88ac$/.test(hex)) return "a legacy P2PKH script";
  if (/^a914[0-9a-f]{40}87$/.test(hex)) return "a P2SH script";
  if (hex.startsWith("6a")) return "an OP_RETURN (data) script";
  if (/^(5[2-9a-f]|60)/.test(hex)) return "a future segwit version script";
  return `a script Keyward does not pay to (${hex.slice(0, 16)}${hex.length > 16 ? "…" : ""})`;
}
