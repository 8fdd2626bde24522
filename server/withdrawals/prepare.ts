// Proposing a withdrawal: what a proposer sent (asset units as typed) checked and completed into the payload the
// approvers approve (base units, canonical addresses, the key's own address, the current fee estimate, a
// Bitcoin PSBT or an imported Ethereum/Solana transaction decoded and held to the intent). Runs in the proposing transaction (the kind's propose.prepare);
// every refusal is an AppError naming the field (payload.<field>), thrown before anything is written.
// It reads the chain only for the fee estimate and balances, and only when an RPC endpoint is configured.
import type { ChainClients } from "@/server/chains/registry";
import type { SolanaClient } from "@/server/chains/types";
import { chainsOfCurve, addressOn, parseAddressOn } from "@/server/custody/addresses";
import { checkAmountInput, formatAssetAmount, lookupAsset, nativeAsset } from "@/server/custody/assets";
import { decodePsbt } from "@/server/custody/bitcoin";
import { checkAgainstIntent } from "@/server/custody/check";
import { gasLimitFor } from "@/server/custody/ethereum";
import { SOLANA_FEES } from "@/server/custody/solana";
import type { Asset, Chain, ChainNetworks } from "@/server/custody/types";
import { AppError } from "@/server/errors";
import type { ProposedKey } from "@/server/operations/kinds/types";
import type { WithdrawalInput, WithdrawalPayload } from "@/server/operations/kinds/withdrawal-schema";
import { nodeChainId } from "./node-chain-id";
import { bad, requireFunds } from "./prepare-checks";
import { prepareImported } from "./prepare-imported";
import { deactivatedKeyRefusal } from "./successor-rule";

/**
 * What preparing reads: the key (active, or deactivated by a rotation: then only to its successor), its successor,
 * the chain configuration, and the chain clients.
 */
export type WithdrawalReader = {
  key(id: string, states: readonly ["active", "deactivated"]): Promise<ProposedKey>;
  successorOf(keyId: string): Promise<ProposedKey | null>;
  chains(): { networks: ChainNetworks; assets: readonly Asset[] };
  chainClients(): ChainClients;
};

const CHAIN_NAMES: Record<Chain, string> = { bitcoin: "Bitcoin", ethereum: "Ethereum", solana: "Solana" };

export function networkOfChain(networks: ChainNetworks, chain: Chain): string {
  switch (chain) {
    case "bitcoin":
      return networks.bitcoin;
    case "ethereum":
      return String(networks.ethereum.chainId);
    case "solana":
      return networks.solana;
  }
}

export async function prepareWithdrawal(
  input: WithdrawalInput,
  read: WithdrawalReader,
): Promise<WithdrawalPayload> {
  const { networks, assets } = read.chains();
  const chain = input.chain;
  const network = networkOfChain(networks, chain);
  if (input.network !== undefined && input.network !== network) {
    throw bad(
      "network",
      `Keyward runs ${CHAIN_NAMES[chain]} on ${chain === "ethereum" ? `chain id ${network}` : network}, not ${input.network}: a transaction for another network would be lost or replayed.`,
    );
  }
  const found = lookupAsset(assets, chain, input.asset);
  if (!found.ok) throw bad("asset", `${found.reason}.`);
  const asset = found.asset;
  const amount = checkAmountInput(input.amount, asset);
  if (!amount.ok) throw bad("amount", `${amount.reason}.`);
  const native = nativeAsset(assets, chain);
  const feeCap = checkAmountInput(input.feeCap, native);
  if (!feeCap.ok) throw bad("feeCap", `${feeCap.reason.replace("The amount", "The fee cap")}.`);
  const destination = parseAddressOn(chain, input.destination, networks);
  if (!destination.ok) throw bad("destination", `The ${CHAIN_NAMES[chain]} address ${destination.reason}.`);

  const key = await read.key(input.keyId, ["active", "deactivated"]);
  if (!chainsOfCurve(key.curve).includes(chain)) {
    throw bad(
      "keyId",
      `The key “${key.label}” is ${key.curve}: it has no ${CHAIN_NAMES[chain]} address (secp256k1 keys serve Bitcoin and Ethereum, Ed25519 keys Solana).`,
    );
  }
  const from = addressOn(key, chain, networks);
  if (from === null) throw bad("keyId", `The key “${key.label}” has no ${CHAIN_NAMES[chain]} address.`);
  if (destination.address === from) {
    throw bad("destination", "The destination is the key's own address: nothing would leave it.");
  }
  // A rotated key only sweeps to its successor (successor-rule.ts; the executor checks it again).
  if (key.state === "deactivated") {
    const refusal = deactivatedKeyRefusal({
      key,
      successor: await read.successorOf(key.id),
      chain,
      destination: destination.address,
      networks,
    });
    if (refusal !== null) throw new AppError("CONFLICT", refusal);
  }
  if (chain !== "bitcoin" && input.psbt !== undefined) {
    throw bad(
      "psbt",
      `Only a Bitcoin withdrawal carries a PSBT; import a ${CHAIN_NAMES[chain]} transaction as unsignedTransaction, or leave it to Keyward to build at execution.`,
    );
  }
  if (chain === "bitcoin" && input.unsignedTransaction !== undefined) {
    throw bad(
      "unsignedTransaction",
      "A Bitcoin withdrawal is imported as a PSBT (the psbt field), not as an unsigned transaction.",
    );
  }

  const base = {
    keyId: key.id,
    keyLabel: key.label,
    keyTags: [...key.tags],
    chain,
    network,
    from,
    asset: asset.symbol,
    decimals: asset.decimals,
    amount: amount.amount.toString(),
    destination: destination.address,
    feeCap: feeCap.amount.toString(),
    ...(input.note !== undefined && input.note !== "" ? { note: input.note } : {}),
  };
  const intent = {
    chain,
    network,
    from,
    asset: asset.symbol,
    amount: amount.amount,
    destination: destination.address,
    feeCap: feeCap.amount,
  };
  const clients = read.chainClients();

  if (chain === "bitcoin") {
    if (input.psbt === undefined) {
      throw bad(
        "psbt",
        "A Bitcoin withdrawal needs the unsigned PSBT from the wallet backend (its inputs and change); approvers approve its exact bytes.",
      );
    }
    let decoded: ReturnType<typeof decodePsbt>;
    try {
      decoded = decodePsbt(input.psbt, networks.bitcoin, from);
    } catch (e) {
      if (e instanceof AppError) throw bad("psbt", e.message);
      throw bad("psbt", "The PSBT cannot be read (it is not a valid PSBT).");
    }
    const check = checkAgainstIntent(decoded, intent);
    if (!check.ok)
      throw bad("psbt", `The PSBT does not do what the withdrawal says: ${check.reasons.join("; ")}.`);
    return { ...base, feeEstimate: decoded.maxFee.toString(), psbt: input.psbt };
  }

  // The wallet backend's own transaction: its exact bytes are approved (prepare-imported.ts).
  if (input.unsignedTransaction !== undefined) {
    return prepareImported({
      text: input.unsignedTransaction,
      chain,
      base,
      intent,
      asset,
      native,
      networks,
      assets,
      clients,
    });
  }

  if (chain === "ethereum") {
    const client = clients.ethereum;
    if (client === null) return base;
    const chainId = await nodeChainId(client);
    if (String(chainId) !== network) {
      throw new AppError(
        "CONFLICT",
        `The Ethereum node answers for chain id ${chainId}, but Keyward is configured for ${network} (KEYWARD_ETHEREUM_CHAIN_ID): fix the configuration before withdrawing.`,
      );
    }
    const fees = await client.fees();
    const gas = gasLimitFor(asset);
    const estimate = gas * (fees.baseFeePerGas + fees.maxPriorityFeePerGas);
    if (feeCap.amount < estimate) {
      throw bad(
        "feeCap",
        `The fee cap ${formatAssetAmount(feeCap.amount, native)} is below the current fee of ${formatAssetAmount(estimate, native)} (${gas} gas at today's base fee and tip).`,
      );
    }
    await requireFunds(client.balance.bind(client), {
      from,
      asset,
      native,
      amount: amount.amount,
      fee: estimate,
    });
    return { ...base, feeEstimate: estimate.toString() };
  }

  // Solana: one signature, and for an SPL token the deposit of the destination's token account if it has none.
  const maxFee =
    SOLANA_FEES.lamportsPerSignature + (asset.kind === "spl" ? SOLANA_FEES.tokenAccountRent : 0n);
  if (feeCap.amount < maxFee) {
    throw bad(
      "feeCap",
      `The fee cap ${formatAssetAmount(feeCap.amount, native)} is below what this transfer can cost: ${formatAssetAmount(maxFee, native)}${asset.kind === "spl" ? " (the fee and the deposit for the destination's token account, in case it has none)" : ""}.`,
    );
  }
  const client = clients.solana;
  if (client === null) return { ...base, feeEstimate: maxFee.toString() };
  const needsAccount = asset.kind === "spl" && !(await client.hasTokenAccount(destination.address, asset));
  const estimate = SOLANA_FEES.lamportsPerSignature + (needsAccount ? SOLANA_FEES.tokenAccountRent : 0n);
  await requireFunds(client.balance.bind(client), {
    from,
    asset,
    native,
    amount: amount.amount,
    fee: estimate,
  });
  if (asset.kind === "native")
    await requireRentExempt(client, {
      from,
      destination: destination.address,
      native,
      amount: amount.amount,
      fee: estimate,
    });
  return { ...base, feeEstimate: estimate.toString() };
}

/**
 * Solana's runtime refuses a transfer that leaves a system account holding lamports but fewer than the
 * rent-exempt minimum, and keeps the fee: a destination that holds nothing yet must receive at least that
 * minimum, and the key must keep at least it or send everything. Refused here, before anyone votes.
 */
async function requireRentExempt(
  client: SolanaClient,
  o: { from: string; destination: string; native: Asset; amount: bigint; fee: bigint },
): Promise<void> {
  const [minimum, held, destinationHeld] = await Promise.all([
    client.rentExemptMinimum(0),
    client.balance(o.from, o.native),
    client.balance(o.destination, o.native),
  ]);
  const sol = (n: bigint) => formatAssetAmount(n, o.native);
  if (destinationHeld === 0n && o.amount < minimum) {
    throw bad(
      "amount",
      `The destination holds no SOL yet: a transfer that opens its account must bring at least ${sol(minimum)} (Solana's rent-exempt minimum), or the chain refuses it and keeps the fee.`,
    );
  }
  const left = held - o.amount - o.fee;
  if (left > 0n && left < minimum) {
    throw bad(
      "amount",
      `This would leave the key's account ${sol(left)}, below Solana's rent-exempt minimum of ${sol(minimum)}: the chain refuses that and keeps the fee. Withdraw at most ${sol(held - o.fee - minimum)}, or all of it: ${sol(held - o.fee)}.`,
    );
  }
}
