// Test chain for Solana: litesvm (the Solana runtime in-process, with the real system, token and associated
// token programs and signature checks on) with airdrops, an SPL mint of 6 decimals, token accounts with
// balances, and a SolanaClient over it — the same interface solana-rpc.ts gives over a real node, so the
// executor and the broadcast tracker cannot tell them apart. For tests only (never imported by the server).
//
// litesvm has no block production of its own: every accepted transaction is executed at once in the current
// slot, and slots move only when the test says so (`advance`). The slot serves as the block height. A test can
// also `hold` broadcasts (accepted by the "node", never executed: a dropped transaction) to show expiry.
import {
  AccountState,
  findAssociatedTokenPda,
  getMintEncoder,
  getTokenDecoder,
  getTokenEncoder,
  TOKEN_PROGRAM_ADDRESS,
} from "@solana-program/token";
import {
  type Address,
  address,
  getBase58Decoder,
  getBase64Encoder,
  getTransactionDecoder,
  lamports,
  none,
  type Signature,
  some,
} from "@solana/kit";
import { FailedTransactionMetadata, LiteSVM } from "litesvm";
import type { BroadcastStatus, SolanaClient } from "@/server/chains/types";
import type { Asset } from "../types";

/** Blocks a blockhash stays valid for on Solana (MAX_PROCESSING_AGE), as lastValidBlockHeight = now + this. */
export const BLOCKHASH_VALIDITY = 150n;
const TOKEN_ACCOUNT_SIZE = 165n;
const MINT_SIZE = 82n;

export type TestSolana = {
  svm: LiteSVM;
  client: SolanaClient;
  /** Gives `owner` lamports. */
  airdrop(owner: string, amount: bigint): void;
  /** A new SPL mint (decimals 6 unless said) as an Asset with that mint as its contract. */
  createMint(options?: { symbol?: string; decimals?: number }): Asset;
  /** Sets `owner`'s associated token account for the asset to `amount` (creating it). */
  mintTo(owner: string, asset: Asset, amount: bigint): Promise<void>;
  /** Moves the chain on by `slots` (a new blockhash too). */
  advance(slots?: bigint): void;
  /** While true, broadcasts are taken and never executed (a transaction the network dropped). */
  hold(on: boolean): void;
  /** Transactions broadcast so far (each raw as sent), for tests that count sends. */
  sent: string[];
};

function slotOf(svm: LiteSVM): bigint {
  return svm.getClock().slot;
}

/** A fresh litesvm chain with its client. */
export function createTestSolana(): TestSolana {
  const svm = new LiteSVM();
  const included = new Map<string, bigint>();
  const sent: string[] = [];
  let holding = false;

  const tokenAccount = async (owner: string, asset: Asset): Promise<Address> => {
    if (asset.kind !== "spl" || !asset.contract) throw new Error(`${asset.symbol} is not an SPL token`);
    const [ata] = await findAssociatedTokenPda({
      owner: address(owner),
      mint: address(asset.contract),
      tokenProgram: TOKEN_PROGRAM_ADDRESS,
    });
    return ata;
  };

  const client: SolanaClient = {
    async latestBlockhash() {
      return { blockhash: svm.latestBlockhash(), lastValidBlockHeight: slotOf(svm) + BLOCKHASH_VALIDITY };
    },
    async blockHeight() {
      return slotOf(svm);
    },
    // litesvm processes a transaction only with its latest blockhash (advance() expires it).
    async isBlockhashValid(blockhash) {
      return blockhash === svm.latestBlockhash();
    },
    async balance(owner, asset) {
      if (asset.kind === "native") return svm.getBalance(address(owner)) ?? 0n;
      const account = svm.getAccount(await tokenAccount(owner, asset));
      return account.exists ? getTokenDecoder().decode(account.data).amount : 0n;
    },
    async hasTokenAccount(owner, asset) {
      return svm.getAccount(await tokenAccount(owner, asset)).exists;
    },
    async rentExemptMinimum(bytes) {
      return svm.minimumBalanceForRentExemption(BigInt(bytes));
    },
    async broadcast(raw) {
      const transaction = getTransactionDecoder().decode(getBase64Encoder().encode(raw));
      const [first] = Object.values(transaction.signatures);
      if (!first) throw new Error("The transaction has no signature.");
      const signature = getBase58Decoder().decode(first);
      sent.push(raw);
      if (holding) return signature;
      const result = svm.sendTransaction(transaction);
      if (result instanceof FailedTransactionMetadata) {
        const err = result.err();
        // Executed and failed (an instruction error, or an account left below rent exemption): the fee is taken
        // and the transaction is in the block. Anything else the node
        // refuses before execution (bad signature, unknown blockhash, no fee): it never lands, as with sendTransaction.
        const executed =
          typeof err === "object" &&
          (("err" in err && "index" in err) || err.toString().includes("InsufficientFundsForRent"));
        if (!executed) {
          throw new Error(`The node refused the transaction: ${result.toString()}`);
        }
      }
      included.set(signature, slotOf(svm));
      return signature;
    },
    async status(signature, sent) {
      const height = slotOf(svm);
      const slot = included.get(signature);
      const result = svm.getTransaction(signature as Signature);
      if (slot === undefined || result === null) {
        if (height > sent.lastValidBlockHeight) {
          return {
            state: "dead",
            reason: `its blockhash expired at block height ${sent.lastValidBlockHeight} (now ${height}) and it was never included`,
          } satisfies BroadcastStatus;
        }
        return { state: "unknown" };
      }
      const confirmations = Number(height - slot) + 1;
      const inBlock = { confirmations, block: slot.toString(), height: Number(slot) };
      if (result instanceof FailedTransactionMetadata) {
        return { state: "failed", reason: result.toString(), ...inBlock };
      }
      return { state: "confirmed", ...inBlock };
    },
  };

  return {
    svm,
    client,
    sent,
    airdrop(owner, amount) {
      const result = svm.airdrop(address(owner), lamports(amount));
      if (result instanceof FailedTransactionMetadata)
        throw new Error(`airdrop failed: ${result.toString()}`);
    },
    createMint(options = {}) {
      const bytes = new Uint8Array(32);
      crypto.getRandomValues(bytes);
      const mint = getBase58Decoder().decode(bytes);
      const decimals = options.decimals ?? 6;
      svm.setAccount({
        address: address(mint),
        lamports: lamports(svm.minimumBalanceForRentExemption(MINT_SIZE)),
        programAddress: TOKEN_PROGRAM_ADDRESS,
        executable: false,
        space: MINT_SIZE,
        data: new Uint8Array(
          getMintEncoder().encode({
            mintAuthority: some(address(mint)),
            supply: 10n ** 18n,
            decimals,
            isInitialized: true,
            freezeAuthority: none(),
          }),
        ),
      });
      return {
        chain: "solana",
        symbol: options.symbol ?? "USDC",
        name: "Test USD",
        decimals,
        kind: "spl",
        contract: mint,
      };
    },
    async mintTo(owner, asset, amount) {
      const ata = await tokenAccount(owner, asset);
      svm.setAccount({
        address: ata,
        lamports: lamports(svm.minimumBalanceForRentExemption(TOKEN_ACCOUNT_SIZE)),
        programAddress: TOKEN_PROGRAM_ADDRESS,
        executable: false,
        space: TOKEN_ACCOUNT_SIZE,
        data: new Uint8Array(
          getTokenEncoder().encode({
            mint: address(asset.contract ?? ""),
            owner: address(owner),
            amount,
            delegate: none(),
            state: AccountState.Initialized,
            isNative: none(),
            delegatedAmount: 0n,
            closeAuthority: none(),
          }),
        ),
      });
    },
    advance(slots = 1n) {
      svm.warpToSlot(slotOf(svm) + slots);
      svm.expireBlockhash();
    },
    hold(on) {
      holding = on;
    },
  };
}
