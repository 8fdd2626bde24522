// Proposing a speed-up of a stuck Ethereum withdrawal (withdrawal.speedup): what the proposer sent (the withdrawal
// operation, new fees in gwei and a fee cap in ETH, as typed) checked against the withdrawal as the database and
// the node hold it now, and completed into the payload the approvers approve: the transaction replaced (hash,
// nonce, fees), the same destination, asset and amount, the new fees and the cap. Refused — with an AppError naming
// the field, before anything is written — unless the withdrawal is an executed Ethereum withdrawal whose
// transaction was broadcast and is not in a block (nor confirmed, failed or dead), no other speed-up of it is open,
// both new fees are at least REPLACEMENT_BUMP_PERCENT above the fees of the transaction replaced, and the new
// fees fit in the cap. Runs in the proposing transaction (the kind's propose.prepare); no database access of its own.
import type { ChainClients } from "@/server/chains/registry";
import { checkAmountInput, formatAssetAmount, nativeAsset } from "@/server/custody/assets";
import { checkAgainstIntent } from "@/server/custody/check";
import * as ethereum from "@/server/custody/ethereum";
import type { Asset, ChainNetworks } from "@/server/custody/types";
import { AppError } from "@/server/errors";
import type { ProposedKey } from "@/server/operations/kinds/types";
import { type WithdrawalPayload, withdrawalPayloadSchema } from "@/server/operations/kinds/withdrawal-schema";
import type { SpeedUpInput, SpeedUpPayload } from "@/server/operations/kinds/withdrawal-speedup-schema";
import { formatUnits } from "@/server/policy/amounts";
import { type Eip1559Fees, feesOf, leastReplacementFees } from "./speedup-fees";
import type { SpeedUpTarget, SpeedUpTransaction } from "./speedup-target";

export type SpeedUpReader = {
  /** The withdrawal operation with its transaction and speed-ups (its row locked), or null. */
  target(operationId: string): Promise<SpeedUpTarget | null>;
  key(id: string, states: readonly ["active", "deactivated"]): Promise<ProposedKey>;
  chains(): { networks: ChainNetworks; assets: readonly Asset[] };
  chainClients(): ChainClients;
};

const field = (name: string) => `payload.${name}`;
const bad = (name: string, message: string) =>
  new AppError("BAD_INPUT", `${field(name)}: ${message}`, { field: field(name) });
const conflict = (message: string) => new AppError("CONFLICT", message);

/** Operation states in which a speed-up is still to be decided or carried out. */
const OPEN_STATES = new Set(["pending", "waiting", "approved", "executing"]);

const gwei = (wei: bigint) => `${formatUnits(wei, 9)} gwei`;

/** A transaction that was signed and can still be replaced: its hash, nonce and fees. */
export type Replaceable = {
  operationId: string;
  txid: string;
  nonce: string;
  unsigned: string;
  fees: Eip1559Fees & { gasLimit: bigint };
};

/** Whether a speed-up of the withdrawal can be proposed now (from the database alone), and what it would replace. */
export type SpeedUpStanding =
  | { ok: true; withdrawal: WithdrawalPayload; original: Replaceable; replaces: Replaceable }
  | { ok: false; error: AppError };

function replaceable(operationId: string, t: SpeedUpTransaction): Replaceable | null {
  if (t.txid === null || t.nonce === null) return null;
  return { operationId, txid: t.txid, nonce: t.nonce, unsigned: t.unsigned, fees: feesOf(t.unsigned) };
}

function minedWords(t: SpeedUpTransaction): string | null {
  switch (t.state) {
    case "confirmed":
      return `it is confirmed (${t.confirmations} confirmations in block ${t.block ?? "?"})`;
    case "failed":
      return `it failed in block ${t.block ?? "?"}: its nonce is used, so no replacement can be mined`;
    case "dead":
      return `it is dead (${t.reason ?? "its nonce was used by another transaction"}): no replacement can be mined`;
    default:
      return t.block !== null || t.confirmations > 0
        ? `it is already in block ${t.block ?? "?"} (${t.confirmations} confirmation${t.confirmations === 1 ? "" : "s"}): mined, it can no longer be replaced`
        : null;
  }
}

/**
 * Whether a speed-up of the withdrawal operation `operationId` can be proposed, judged on what the database holds:
 * the first reason it cannot (as the AppError proposing throws), or the original transaction and the one a
 * speed-up would replace — the signed, unmined transaction with the highest fees (the original, or the latest
 * speed-up carried out).
 */
export function speedUpStanding(target: SpeedUpTarget | null, operationId: string): SpeedUpStanding {
  const refuse = (error: AppError): SpeedUpStanding => ({ ok: false, error });
  if (target === null)
    return refuse(
      new AppError("NOT_FOUND", `${field("withdrawalOperationId")}: no operation ${operationId}.`, {
        field: field("withdrawalOperationId"),
      }),
    );
  const { operation, transaction } = target;
  if (operation.kind !== "withdrawal")
    return refuse(
      bad("withdrawalOperationId", `operation ${operation.id} is a ${operation.kind}, not a withdrawal.`),
    );
  const parsed = withdrawalPayloadSchema.safeParse(operation.payload);
  if (!parsed.success) return refuse(conflict(`The withdrawal ${operation.id} cannot be read.`));
  const withdrawal = parsed.data;
  if (withdrawal.chain !== "ethereum")
    return refuse(
      bad(
        "withdrawalOperationId",
        `only an Ethereum transaction can be sped up (the same nonce with a higher fee); this withdrawal is on ${withdrawal.chain}.`,
      ),
    );
  if (operation.state !== "executed" || transaction === null)
    return refuse(
      conflict(
        `The withdrawal is ${operation.state}${transaction === null ? " and has no transaction yet" : ""}: only a transaction Keyward signed and broadcast can be sped up.`,
      ),
    );
  const mined = minedWords(transaction);
  if (mined !== null) return refuse(conflict(`The withdrawal's transaction cannot be sped up: ${mined}.`));
  if (transaction.state !== "broadcast")
    return refuse(
      conflict(
        "The withdrawal's transaction was not broadcast: Keyward sends it once an Ethereum node is configured (KEYWARD_ETHEREUM_RPC_URL); until then it is offered as a download, and nothing is stuck.",
      ),
    );
  const original = replaceable(operation.id, transaction);
  if (original === null) return refuse(conflict("The withdrawal's transaction has no hash or nonce."));
  let replaces = original;
  for (const s of target.speedUps) {
    if (OPEN_STATES.has(s.state))
      return refuse(
        conflict(
          `The speed-up ${s.operationId} of this withdrawal is still ${s.state}: let it be decided or carried out first (a later speed-up then replaces the latest transaction).`,
        ),
      );
    if (s.transaction === null) continue;
    const minedThere = minedWords(s.transaction);
    if (minedThere !== null && s.transaction.state !== "dead")
      return refuse(
        conflict(
          `The withdrawal cannot be sped up: its speed-up ${s.operationId}'s transaction ${minedThere}.`,
        ),
      );
    if (s.transaction.state !== "signed" && s.transaction.state !== "broadcast") continue;
    const candidate = replaceable(s.operationId, s.transaction);
    if (candidate !== null && candidate.fees.maxFeePerGas >= replaces.fees.maxFeePerGas) replaces = candidate;
  }
  return { ok: true, withdrawal, original, replaces };
}

/** A gwei amount as typed ("3.5") in wei. */
function weiPerGas(name: string, input: string): bigint {
  const check = checkAmountInput(input, { symbol: "gwei", decimals: 9 });
  if (!check.ok) throw bad(name, `${check.reason}.`);
  return check.amount;
}

export async function prepareSpeedUp(input: SpeedUpInput, read: SpeedUpReader): Promise<SpeedUpPayload> {
  const standing = speedUpStanding(
    await read.target(input.withdrawalOperationId),
    input.withdrawalOperationId,
  );
  if (!standing.ok) throw standing.error;
  const { withdrawal: w, original, replaces } = standing;
  const { networks, assets } = read.chains();
  if (String(networks.ethereum.chainId) !== w.network)
    throw conflict(
      `Keyward now runs Ethereum chain id ${networks.ethereum.chainId}, the withdrawal was on ${w.network}: it cannot be sped up here.`,
    );
  const native = nativeAsset(assets, "ethereum");
  const fees: Eip1559Fees = {
    maxFeePerGas: weiPerGas("maxFeePerGas", input.maxFeePerGas),
    maxPriorityFeePerGas: weiPerGas("maxPriorityFeePerGas", input.maxPriorityFeePerGas),
  };
  const capCheck = checkAmountInput(input.feeCap, native);
  if (!capCheck.ok) throw bad("feeCap", `${capCheck.reason.replace("The amount", "The fee cap")}.`);
  const feeCap = capCheck.amount;
  if (fees.maxPriorityFeePerGas > fees.maxFeePerGas)
    throw bad(
      "maxPriorityFeePerGas",
      `the priority fee (${gwei(fees.maxPriorityFeePerGas)}) cannot be more than the max fee (${gwei(fees.maxFeePerGas)}).`,
    );
  const least = leastReplacementFees(replaces.fees);
  const which =
    replaces.operationId === original.operationId ? "the stuck transaction" : "the latest speed-up";
  if (fees.maxFeePerGas < least.maxFeePerGas)
    throw bad(
      "maxFeePerGas",
      `a replacement must offer at least ${gwei(least.maxFeePerGas)} per gas (${ethereum.REPLACEMENT_BUMP_PERCENT}% above ${which}'s ${gwei(replaces.fees.maxFeePerGas)}), or nodes refuse it as underpriced; got ${gwei(fees.maxFeePerGas)}.`,
    );
  if (fees.maxPriorityFeePerGas < least.maxPriorityFeePerGas)
    throw bad(
      "maxPriorityFeePerGas",
      `a replacement must offer a priority fee of at least ${gwei(least.maxPriorityFeePerGas)} per gas (${ethereum.REPLACEMENT_BUMP_PERCENT}% above ${which}'s ${gwei(replaces.fees.maxPriorityFeePerGas)}); got ${gwei(fees.maxPriorityFeePerGas)}.`,
    );
  const gasLimit = original.fees.gasLimit;
  const maxCost = gasLimit * fees.maxFeePerGas;
  if (maxCost > feeCap)
    throw bad(
      "feeCap",
      `the new fees can cost up to ${formatAssetAmount(maxCost, native)} (gas limit ${gasLimit} × ${gwei(fees.maxFeePerGas)}), above the fee cap of ${formatAssetAmount(feeCap, native)}: raise the cap or lower the max fee.`,
    );

  // The replacement as the executor will build it, decoded and held to the withdrawal now as well.
  let replacement: string;
  try {
    replacement = ethereum.replaceFees(original.unsigned, fees);
  } catch (e) {
    if (e instanceof AppError) throw bad(e.field ?? "maxFeePerGas", e.message);
    throw e;
  }
  const decoded = ethereum.decodeUnsigned(replacement, { assets, from: w.from });
  const check = checkAgainstIntent(decoded, {
    chain: "ethereum",
    network: w.network,
    from: w.from,
    asset: w.asset,
    amount: BigInt(w.amount),
    destination: w.destination,
    feeCap,
  });
  if (!check.ok)
    throw conflict(`The replacement would not do what the withdrawal approved: ${check.reasons.join("; ")}.`);

  const key = await read.key(w.keyId, ["active", "deactivated"]);
  let baseFee: bigint | undefined;
  const client = read.chainClients().ethereum;
  if (client !== null) {
    // The node may know better than the tracker's last look: a nonce already mined cannot be replaced.
    const mined = await client.minedNonce(w.from);
    if (mined > Number(original.nonce))
      throw conflict(
        `Nonce ${original.nonce} of ${w.from} is already used on chain (the node counts ${mined} mined transactions): the withdrawal or a replacement was mined, and Keyward records which shortly. Nothing to speed up.`,
      );
    baseFee = (await client.fees()).baseFeePerGas;
    if (fees.maxFeePerGas < baseFee)
      throw bad(
        "maxFeePerGas",
        `the chain's base fee is ${gwei(baseFee)} per gas now: a max fee of ${gwei(fees.maxFeePerGas)} would leave the replacement stuck as well.`,
      );
  }
  return {
    withdrawalOperationId: original.operationId,
    originalTxid: original.txid,
    replaces: {
      operationId: replaces.operationId,
      txid: replaces.txid,
      maxFeePerGas: replaces.fees.maxFeePerGas.toString(),
      maxPriorityFeePerGas: replaces.fees.maxPriorityFeePerGas.toString(),
    },
    keyId: key.id,
    keyLabel: key.label,
    keyTags: [...key.tags],
    network: w.network,
    from: w.from,
    asset: w.asset,
    decimals: w.decimals,
    amount: w.amount,
    destination: w.destination,
    nonce: original.nonce,
    gasLimit: gasLimit.toString(),
    maxFeePerGas: fees.maxFeePerGas.toString(),
    maxPriorityFeePerGas: fees.maxPriorityFeePerGas.toString(),
    feeCap: feeCap.toString(),
    ...(baseFee !== undefined ? { baseFeeWhenProposed: baseFee.toString() } : {}),
    ...(input.note !== undefined && input.note !== "" ? { note: input.note } : {}),
  };
}
