// The SolanaClient over a real node's JSON-RPC (@solana/kit's RPC): the recent blockhash the executor builds
// with, balances, broadcast, and a broadcast's fate. "dead" is said only when it is provable: the chain's block
// height, read BEFORE the signature's status, is past the transaction's last valid block height and the node
// (searching its history) has never seen it — a transaction included at a height ≤ lastValidBlockHeight would
// be seen by that later status read.
import { findAssociatedTokenPda, getTokenDecoder, TOKEN_PROGRAM_ADDRESS } from "@solana-program/token";
import {
  address,
  type Base64EncodedWireTransaction,
  blockhash as checkedBlockhash,
  type Commitment,
  createSolanaRpc,
  getBase64Encoder,
  type Signature,
} from "@solana/kit";
import type { Asset } from "@/server/custody/types";
import type { BroadcastStatus, SolanaClient } from "./types";

/** Solana roots a block after 32 confirmations; a finalized status carries no count, so it counts as this. */
export const FINALIZED_CONFIRMATIONS = 32;

/** A SolanaClient for the node at `url` (http or https), reading at `commitment` (default confirmed). */
export function solanaRpcClient(url: string, options: { commitment?: Commitment } = {}): SolanaClient {
  const rpc = createSolanaRpc(url);
  const commitment = options.commitment ?? "confirmed";

  const tokenAccount = async (owner: string, asset: Asset) => {
    if (asset.kind !== "spl" || !asset.contract) throw new Error(`${asset.symbol} is not an SPL token`);
    const [ata] = await findAssociatedTokenPda({
      owner: address(owner),
      mint: address(asset.contract),
      tokenProgram: TOKEN_PROGRAM_ADDRESS,
    });
    return ata;
  };
  const accountData = async (account: string): Promise<Uint8Array | null> => {
    const { value } = await rpc.getAccountInfo(address(account), { encoding: "base64", commitment }).send();
    return value ? new Uint8Array(getBase64Encoder().encode(value.data[0])) : null;
  };

  return {
    async latestBlockhash() {
      const { value } = await rpc.getLatestBlockhash({ commitment }).send();
      return { blockhash: value.blockhash, lastValidBlockHeight: value.lastValidBlockHeight };
    },
    async blockHeight() {
      return rpc.getBlockHeight({ commitment }).send();
    },
    async isBlockhashValid(blockhash) {
      const { value } = await rpc.isBlockhashValid(checkedBlockhash(blockhash), { commitment }).send();
      return value;
    },
    async balance(owner, asset) {
      if (asset.kind === "native") return (await rpc.getBalance(address(owner), { commitment }).send()).value;
      const data = await accountData(await tokenAccount(owner, asset));
      return data ? getTokenDecoder().decode(data).amount : 0n;
    },
    async rentExemptMinimum(bytes) {
      return rpc.getMinimumBalanceForRentExemption(BigInt(bytes), { commitment }).send();
    },
    async hasTokenAccount(owner, asset) {
      return (await accountData(await tokenAccount(owner, asset))) !== null;
    },
    async broadcast(raw) {
      return rpc
        .sendTransaction(raw as Base64EncodedWireTransaction, {
          encoding: "base64",
          preflightCommitment: commitment,
        })
        .send();
    },
    async status(signature, sent): Promise<BroadcastStatus> {
      const height = await rpc.getBlockHeight({ commitment }).send();
      const { value } = await rpc
        .getSignatureStatuses([signature as Signature], { searchTransactionHistory: true })
        .send();
      const found = value[0];
      if (!found) {
        if (height > sent.lastValidBlockHeight) {
          return {
            state: "dead",
            reason: `its blockhash expired at block height ${sent.lastValidBlockHeight} (now ${height}) and no block holds it`,
          };
        }
        return { state: "unknown" };
      }
      // The slot is where the node's fork holds it now: the tracker compares it with the slot it saw before, so a
      // fork that dropped or moved the transaction shows as a reorganisation (broadcast.ts).
      const block = found.slot.toString();
      const slot = Number(found.slot);
      if (found.confirmationStatus === "processed" && !found.err) return { state: "pending" };
      const confirmations =
        found.confirmations === null ? FINALIZED_CONFIRMATIONS : Number(found.confirmations) + 1;
      if (found.err)
        return {
          state: "failed",
          reason: `failed in the block: ${JSON.stringify(found.err, jsonBigint)}`,
          confirmations,
          block,
          height: slot,
        };
      return { state: "confirmed", confirmations, block, height: slot };
    },
  };
}

function jsonBigint(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}
