// One entry per step for every chain: decode an unsigned transaction, say what the HSM must sign, assemble the
// signed transaction from the HSM's signatures. Dispatches to bitcoin.ts, ethereum.ts and solana.ts, which stay
// chain-specific; building is chain-specific too (it needs each chain's own data) and lives in
// server/withdrawals/build.ts. Pure: no database, no HSM, no network. Nothing here signs.
import * as bitcoin from "./bitcoin";
import * as ethereum from "./ethereum";
import * as solana from "./solana";
import type {
  Asset,
  Chain,
  ChainNetworks,
  DecodedTransaction,
  SignedTransaction,
  SigningRequest,
} from "./types";

export { checkAgainstIntent, type IntentCheck, type WithdrawalIntent } from "./check";

/** What every step needs besides the bytes: the networks, the asset list, and the key's own address. */
export type CustodyContext = {
  networks: ChainNetworks;
  assets: readonly Asset[];
  /** The key's address on the chain (the sender, every Bitcoin input's owner). */
  from: string;
};

/**
 * What `unsigned` does, decoded from its bytes: Ethereum's unsigned serialisation (0x-hex), Solana's unsigned
 * wire transaction (base64), Bitcoin's PSBT (base64). Throws (BAD_INPUT naming why) for anything Keyward does
 * not build or accept.
 */
export function decodeUnsigned(chain: Chain, unsigned: string, ctx: CustodyContext): DecodedTransaction {
  switch (chain) {
    case "ethereum":
      return ethereum.decodeUnsigned(unsigned, { assets: ctx.assets, from: ctx.from });
    case "solana":
      return solana.decodeUnsigned(unsigned, { cluster: ctx.networks.solana, assets: ctx.assets });
    case "bitcoin":
      return bitcoin.decodePsbt(unsigned, ctx.networks.bitcoin, ctx.from);
  }
}

/** What the HSM signs for `unsigned`, one request per signature, in order. */
export function signingRequests(chain: Chain, unsigned: string, ctx: CustodyContext): SigningRequest[] {
  switch (chain) {
    case "ethereum":
      return ethereum.signingRequests(unsigned);
    case "solana":
      return solana.signingRequests(unsigned);
    case "bitcoin":
      return bitcoin.signingRequests(unsigned, ctx.networks.bitcoin, ctx.from);
  }
}

/**
 * The signed transaction from `unsigned` and the HSM's signatures (one per signing request, in order), each
 * verified against the key's public key (hex, as keys.public_key holds it) by the chain module; it refuses
 * a signature that does not verify.
 */
export function assemble(
  chain: Chain,
  unsigned: string,
  signatures: readonly Uint8Array[],
  input: { publicKey: string; networks: ChainNetworks; assets: readonly Asset[] },
): SignedTransaction {
  switch (chain) {
    case "ethereum":
      return ethereum.assemble(unsigned, signatures, { publicKey: input.publicKey, assets: input.assets });
    case "solana":
      return solana.assemble(unsigned, signatures, input.publicKey, {
        cluster: input.networks.solana,
        assets: input.assets,
      });
    case "bitcoin":
      return bitcoin.assemble(unsigned, signatures, input.publicKey, input.networks.bitcoin);
  }
}

/** A DecodedTransaction as plain JSON (amounts and fee as decimal strings), for payloads, rows and the trail. */
export type DecodedJson = Omit<DecodedTransaction, "transfers" | "maxFee"> & {
  transfers: { asset: string; amount: string; destination: string; change?: boolean }[];
  maxFee: string;
};

export function decodedToJson(d: DecodedTransaction): DecodedJson {
  return {
    chain: d.chain,
    network: d.network,
    from: d.from,
    transfers: d.transfers.map((t) => ({
      asset: t.asset,
      amount: t.amount.toString(),
      destination: t.destination,
      ...(t.change === true ? { change: true } : {}),
    })),
    maxFee: d.maxFee.toString(),
    ...(d.nonce !== undefined ? { nonce: d.nonce } : {}),
    lines: d.lines.map((l) => ({ label: l.label, value: l.value })),
  };
}
