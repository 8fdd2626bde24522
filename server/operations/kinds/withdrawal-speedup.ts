// withdrawal.speedup: replace a stuck Ethereum withdrawal's transaction by the very same transaction (same nonce,
// recipient, value, calldata, gas limit) with higher fees — its own approved operation, never something the
// tracker does by itself (issue 14 item 4). Only one transaction per nonce can ever be mined, so the withdrawal
// still moves its amount at most once. Schemas in withdrawal-speedup-schema.ts; proposing (every refusal) in
// server/withdrawals/speedup-prepare.ts; the execute step (rebuild from the stored original, decode, compare,
// sign, record, idempotent) in server/withdrawals/speedup-execute.ts, reached through ExecuteContext.withdrawals.
import { NATIVE_ASSETS } from "@/server/custody/assets";
import { formatUnits } from "@/server/policy/amounts";
import { prepareSpeedUp } from "@/server/withdrawals/speedup-prepare";
import type { OperationDisplay, OperationKind } from "./types";
import { withdrawalAmountWords } from "./withdrawal";
import {
  SPEEDUP_KIND,
  type SpeedUpInput,
  type SpeedUpPayload,
  speedUpInputSchema,
  speedUpPayloadSchema,
} from "./withdrawal-speedup-schema";

const gwei = (wei: string) => `${formatUnits(BigInt(wei), 9)} gwei`;
const eth = (wei: bigint) =>
  `${formatUnits(wei, NATIVE_ASSETS.ethereum.decimals)} ${NATIVE_ASSETS.ethereum.symbol}`;

export function describeSpeedUp(p: SpeedUpPayload): OperationDisplay {
  const lines: OperationDisplay["lines"] = [
    { label: "Speeds up", value: `the withdrawal ${p.withdrawalOperationId}` },
    { label: "Original transaction", value: p.originalTxid },
  ];
  if (p.replaces.operationId !== p.withdrawalOperationId)
    lines.push({
      label: "Replaces",
      value: `${p.replaces.txid} (the earlier speed-up ${p.replaces.operationId})`,
    });
  lines.push(
    {
      label: "Nonce",
      value: `${p.nonce}, unchanged: only one transaction with this nonce can ever be mined, so the amount moves at most once`,
    },
    { label: "Max fee per gas", value: `${gwei(p.replaces.maxFeePerGas)} → ${gwei(p.maxFeePerGas)}` },
    {
      label: "Priority fee per gas",
      value: `${gwei(p.replaces.maxPriorityFeePerGas)} → ${gwei(p.maxPriorityFeePerGas)}`,
    },
    {
      label: "Fee at most",
      value: `${eth(BigInt(p.feeCap))} (the approved cap: the executor refuses to sign above it; gas limit ${p.gasLimit} × ${gwei(p.maxFeePerGas)} is ${eth(BigInt(p.gasLimit) * BigInt(p.maxFeePerGas))})`,
    },
    {
      label: "Base fee when proposed",
      value:
        p.baseFeeWhenProposed === undefined
          ? "unknown: no Ethereum node is configured"
          : `${gwei(p.baseFeeWhenProposed)} per gas`,
    },
    {
      label: "Amount",
      value: `${withdrawalAmountWords(p)} (${p.amount} base units), as the withdrawal approved`,
    },
    { label: "Destination", value: `${p.destination}, as the withdrawal approved` },
    { label: "From", value: `${p.from} (key “${p.keyLabel}”, ${p.keyId})` },
    { label: "Network", value: `Ethereum chain id ${p.network}` },
    { label: "Key tags", value: p.keyTags.length > 0 ? p.keyTags.join(", ") : "none" },
    {
      label: "Transaction",
      value:
        "the withdrawal's own transaction with these fees and nothing else changed (nonce, destination, value, calldata, gas limit); rebuilt at execution from the stored original, decoded and compared with the withdrawal before the HSM signs",
    },
  );
  if (p.note !== undefined) lines.push({ label: "Note", value: p.note });
  return {
    title: `Speed up the withdrawal of ${withdrawalAmountWords(p)} to ${p.destination} (nonce ${p.nonce})`,
    lines,
  };
}

export const withdrawalSpeedup: OperationKind<SpeedUpPayload, SpeedUpInput> = {
  kind: SPEEDUP_KIND,
  proposers: ["operator", "admin"],
  payload: speedUpPayloadSchema,
  propose: {
    input: speedUpInputSchema,
    prepare: (input, read) =>
      prepareSpeedUp(input, {
        target: read.speedUpTarget,
        key: read.key,
        chains: read.chains,
        chainClients: read.chainClients,
      }),
  },
  describe: describeSpeedUp,
  // The withdrawal's facts without its amount: a speed-up moves nothing new, so velocity caps do not count it
  // twice, and amount tiers do not match it (a rule naming this kind, or the default rule, judges it).
  facts(p) {
    return {
      keyTags: [...p.keyTags],
      chain: "ethereum",
      asset: p.asset,
      destination: p.destination,
      keyId: p.keyId,
    };
  },
  execute: (ctx, op) =>
    ctx.withdrawals.speedUp({
      operationId: op.id,
      payload: op.payload,
      signer: ctx.withdrawalSigner,
      now: ctx.now,
    }),
};
