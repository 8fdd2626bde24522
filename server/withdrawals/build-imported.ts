// The execute step's build for an imported Ethereum or Solana transaction (execute.ts calls it): the approved bytes
// are the transaction, stored exactly as approved before anything is signed — Ethereum only when its nonce is the
// key's next nonce, decided under the key's nonce lock (storeWithNonce), so an imported transaction never leaves a
// gap nor reuses a nonce; Solana only while its blockhash is still valid. Each refusal is final
// (StepRefusedError: the operation fails with the reason) and stores nothing, takes no nonce, signs nothing.
// The bytes are decoded and held to the intent by the caller's `checked` here and again before signing.
import "server-only";
import type { Withdrawal } from "@/db/schema";
import { type CustodyContext, decodeUnsigned } from "@/server/custody";
import * as ethereum from "@/server/custody/ethereum";
import * as solana from "@/server/custody/solana";
import type { Chain, DecodedTransaction } from "@/server/custody/types";
import { StepRefusedError } from "@/server/operations/executor/step-refused";
import type { WithdrawalExecuteDeps } from "./execute";
import { type BuiltTransaction, storeBuilt, storeWithNonce } from "./store";

/**
 * Blocks a Solana blockhash stays valid for (MAX_PROCESSING_AGE). A blockhash still valid at height h expires by
 * h + this at the latest: the last valid block height stored for tracking, read after the validity check, is an
 * upper bound, so the tracker never calls the transaction dead too early.
 */
const BLOCKHASH_MAX_AGE = 150n;

type Owner = { operationId: string; chain: Chain; network: string; keyId: string; asset: string };

export type ImportedBuild = {
  owner: Owner;
  /** The approved bytes (payload.unsignedTransaction). */
  unsigned: string;
  from: string;
  network: string;
  ctx: CustodyContext;
  /** Refuses (StepRefusedError) unless the decoded transaction is the approved intent. */
  checked: (built: BuiltTransaction) => BuiltTransaction;
};

function decoded(chain: "ethereum" | "solana", unsigned: string, ctx: CustodyContext): DecodedTransaction {
  try {
    return decodeUnsigned(chain, unsigned, ctx);
  } catch (e) {
    throw new StepRefusedError(
      `the imported transaction no longer decodes, so nothing was signed: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/** Why an imported transaction with nonce `imported` is not signed when the key's next nonce is `next`. */
export function nonceRefusal(imported: number, next: number): string {
  if (imported > next) {
    const gap = imported - next === 1 ? `nonce ${next}` : `nonces ${next} to ${imported - 1}`;
    return `the imported transaction has nonce ${imported}, but the key's next nonce is ${next}: signing it would leave a gap (${gap} unused) that it would wait behind, so nothing was signed; propose it again with a transaction of nonce ${next}`;
  }
  return `the imported transaction has nonce ${imported}, which the key has already used (its next nonce is ${next}): signing it would reuse that nonce, so nothing was signed; propose it again with a transaction of nonce ${next}`;
}

export async function buildImportedEthereum(
  deps: WithdrawalExecuteDeps,
  input: ImportedBuild,
): Promise<Withdrawal> {
  const { unsigned, ctx, checked } = input;
  const client = deps.clients().ethereum;
  const tx = decoded("ethereum", unsigned, ctx);
  const imported = ethereum.unsignedFields(unsigned).nonce;
  return storeWithNonce(
    deps.db,
    { ...input.owner, chainId: Number(input.network) },
    {
      chainNonce: client === null ? null : () => client.pendingNonce(input.from),
      // Under the key's nonce lock: the next nonce is decided, and only a transaction with exactly it is stored.
      build: (next) => {
        if (imported !== next) throw new StepRefusedError(nonceRefusal(imported, next));
        return checked({ unsigned, decoded: tx, nonce: String(next) });
      },
    },
  );
}

export async function buildImportedSolana(
  deps: WithdrawalExecuteDeps,
  input: ImportedBuild,
): Promise<Withdrawal> {
  const { unsigned, ctx, checked } = input;
  const tx = decoded("solana", unsigned, ctx);
  const client = deps.clients().solana;
  if (client === null) {
    throw new StepRefusedError(
      "no Solana RPC endpoint is configured (KEYWARD_SOLANA_RPC_URL): whether the imported transaction's blockhash is still valid cannot be checked, so it was not signed",
    );
  }
  const blockhash = solana.blockhashOf(unsigned);
  if (blockhash === null) throw new StepRefusedError("the imported transaction has no recent blockhash");
  if (client.isBlockhashValid === undefined) {
    throw new StepRefusedError(
      "the Solana client cannot tell whether a blockhash is still valid, so the imported transaction was not signed",
    );
  }
  if (!(await client.isBlockhashValid(blockhash))) {
    throw new StepRefusedError(
      `the imported transaction's blockhash ${blockhash} has expired, so nothing was signed: the network would refuse it. Ask the wallet backend for a new transaction and propose it again`,
    );
  }
  const height = await client.blockHeight();
  return storeBuilt(
    deps.db,
    input.owner,
    checked({ unsigned, decoded: tx, nonce: blockhash, lastValidBlockHeight: height + BLOCKHASH_MAX_AGE }),
  );
}
