// Proposing a withdrawal with the wallet backend's unsigned Ethereum or Solana transaction (issue 14 item 2): the
// approvers approve those exact bytes, so they are read here with the custody decoders and refused — before
// anything is written — unless they do exactly what the withdrawal says: from the key (Solana: the key is the fee
// payer and only signer), one payment of exactly the amount of the asset to the destination, on the configured
// chain id, with a maximum fee within the cap. With a node configured it also refuses an Ethereum nonce the key
// has already used and a Solana blockhash that has expired. The bytes go into the payload, which the digest binds;
// the executor decodes and checks them again, and signs exactly them (execute.ts).
import type { ChainClients } from "@/server/chains/registry";
import { decodeUnsigned } from "@/server/custody";
import { checkAgainstIntent, type WithdrawalIntent } from "@/server/custody/check";
import * as ethereum from "@/server/custody/ethereum";
import * as solana from "@/server/custody/solana";
import type { Asset, ChainNetworks, DecodedTransaction } from "@/server/custody/types";
import { AppError } from "@/server/errors";
import type { WithdrawalPayload } from "@/server/operations/kinds/withdrawal-schema";
import { bad, requireFunds } from "./prepare-checks";

const FIELD = "unsignedTransaction";

const why = (e: unknown) => (e instanceof Error ? e.message : String(e)).replace(/\.$/, "");

/** The payload before its transaction: what prepare.ts made of the intent. */
type Base = Omit<WithdrawalPayload, "unsignedTransaction" | "contract" | "feeEstimate" | "psbt">;

export type ImportedInput = {
  text: string;
  chain: "ethereum" | "solana";
  base: Base;
  intent: WithdrawalIntent;
  asset: Asset;
  native: Asset;
  networks: ChainNetworks;
  assets: readonly Asset[];
  clients: ChainClients;
};

/** The stored form of the imported bytes (execute.ts signs exactly it), or a refusal naming the field. */
export function importedBytes(chain: "ethereum" | "solana", text: string): string {
  try {
    return chain === "ethereum" ? ethereum.importUnsigned(text) : solana.importUnsigned(text);
  } catch (e) {
    if (!(e instanceof AppError)) throw e;
    throw bad(
      FIELD,
      `The ${chain === "ethereum" ? "Ethereum" : "Solana"} transaction cannot be read: ${why(e)}.`,
    );
  }
}

export async function prepareImported(input: ImportedInput): Promise<WithdrawalPayload> {
  const { chain, base, intent, asset, native, networks, assets, clients } = input;
  const unsigned = importedBytes(chain, input.text);
  let decoded: DecodedTransaction;
  try {
    decoded = decodeUnsigned(chain, unsigned, { networks, assets, from: intent.from });
  } catch (e) {
    if (!(e instanceof AppError)) throw e;
    throw bad(FIELD, `The transaction is not a transfer Keyward signs: ${why(e)}.`);
  }
  if (chain === "ethereum" && decoded.network !== intent.network) {
    throw bad(
      FIELD,
      `The transaction is for chain id ${decoded.network}, but Keyward signs Ethereum for chain id ${intent.network} (KEYWARD_ETHEREUM_CHAIN_ID): on another chain it would be lost or replayed. Ask the wallet backend for one with chain id ${intent.network}.`,
    );
  }
  if (chain === "solana" && decoded.from !== intent.from) {
    throw bad(
      FIELD,
      `The transaction's fee payer is ${decoded.from}, not the key's address ${intent.from}: the key must pay its fee and be its only signer.`,
    );
  }
  const check = checkAgainstIntent(decoded, intent);
  if (!check.ok) {
    throw bad(FIELD, `The transaction does not do what the withdrawal says: ${check.reasons.join("; ")}.`);
  }
  const payload = {
    ...base,
    unsignedTransaction: unsigned,
    ...(asset.kind !== "native" && asset.contract !== undefined ? { contract: asset.contract } : {}),
  };
  return chain === "ethereum"
    ? withEthereumChecks(payload, { unsigned, decoded, intent, asset, native, clients })
    : withSolanaChecks(payload, { unsigned, decoded, intent, asset, native, clients });
}

type Checks = {
  unsigned: string;
  decoded: DecodedTransaction;
  intent: WithdrawalIntent;
  asset: Asset;
  native: Asset;
  clients: ChainClients;
};

async function withEthereumChecks(payload: WithdrawalPayload, c: Checks): Promise<WithdrawalPayload> {
  const client = c.clients.ethereum;
  if (client === null) return payload;
  const chainId = await client.chainId();
  if (String(chainId) !== c.intent.network) {
    throw new AppError(
      "CONFLICT",
      `The Ethereum node answers for chain id ${chainId}, but Keyward is configured for ${c.intent.network} (KEYWARD_ETHEREUM_CHAIN_ID): fix the configuration before withdrawing.`,
    );
  }
  const fields = ethereum.unsignedFields(c.unsigned);
  // A nonce the chain already counts can never be mined beside the transaction that used it: refused now. One
  // above the next is left to execution, which signs only the key's next nonce (a wallet backend may queue).
  const next = await client.pendingNonce(c.intent.from);
  if (fields.nonce < next) {
    throw bad(
      FIELD,
      `The transaction's nonce ${fields.nonce} is already used: the chain counts ${next} transactions from the key, so its next nonce is ${next}. Signing it could only replace one of them; ask the wallet backend for one with nonce ${next}.`,
    );
  }
  const fees = await client.fees();
  const perGas = fees.baseFeePerGas + fields.maxPriorityFeePerGas;
  const estimate = fields.gas * (perGas < fields.maxFeePerGas ? perGas : fields.maxFeePerGas);
  await requireFunds(client.balance.bind(client), {
    from: c.intent.from,
    asset: c.asset,
    native: c.native,
    amount: c.intent.amount,
    fee: estimate,
  });
  return { ...payload, feeEstimate: estimate.toString() };
}

async function withSolanaChecks(payload: WithdrawalPayload, c: Checks): Promise<WithdrawalPayload> {
  const feeEstimate = c.decoded.maxFee.toString();
  const client = c.clients.solana;
  if (client === null) return { ...payload, feeEstimate };
  const blockhash = solana.blockhashOf(c.unsigned);
  if (
    blockhash !== null &&
    client.isBlockhashValid !== undefined &&
    !(await client.isBlockhashValid(blockhash))
  ) {
    throw bad(
      FIELD,
      `The transaction's blockhash ${blockhash} has expired: the network no longer processes it. Ask the wallet backend for a new transaction.`,
    );
  }
  await requireFunds(client.balance.bind(client), {
    from: c.intent.from,
    asset: c.asset,
    native: c.native,
    amount: c.intent.amount,
    fee: c.decoded.maxFee,
  });
  return { ...payload, feeEstimate };
}
