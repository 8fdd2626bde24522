// withdrawal: move an amount of an asset from a custody key to a destination, within a fee cap. Ethereum and Solana
// withdrawals are intents (the executor builds the transaction at execution: nonce, fees, blockhash) unless the
// wallet backend's unsigned transaction was imported; a Bitcoin withdrawal carries the backend's unsigned PSBT.
// Imported bytes are what approvers approve, shown decoded from the bytes themselves. Either way the executor
// decodes what it is about to sign and refuses unless it equals this payload (server/withdrawals/).
// Schemas in withdrawal-schema.ts (shared with the form and the HTTP API); proposing in server/withdrawals/prepare.ts.
import { NATIVE_ASSETS } from "@/server/custody/assets";
import { decodePsbt } from "@/server/custody/bitcoin";
import * as ethereum from "@/server/custody/ethereum";
import * as solana from "@/server/custody/solana";
import {
  type Asset,
  BITCOIN_NETWORKS,
  type DecodedTransaction,
  SOLANA_CLUSTERS,
} from "@/server/custody/types";
import { formatUnits } from "@/server/policy/amounts";
import { prepareWithdrawal } from "@/server/withdrawals/prepare";
import type { OperationDisplay, OperationKind } from "./types";
import {
  type WithdrawalInput,
  type WithdrawalPayload,
  withdrawalInputSchema,
  withdrawalPayloadSchema,
} from "./withdrawal-schema";

const CHAIN_NAMES = { bitcoin: "Bitcoin", ethereum: "Ethereum", solana: "Solana" } as const;

function networkWords(p: WithdrawalPayload): string {
  return p.chain === "ethereum" ? `Ethereum chain id ${p.network}` : `${CHAIN_NAMES[p.chain]} ${p.network}`;
}

/** "1.25 USDC" from the payload's base units and decimals. */
export function withdrawalAmountWords(p: Pick<WithdrawalPayload, "amount" | "decimals" | "asset">): string {
  return `${formatUnits(BigInt(p.amount), p.decimals)} ${p.asset}`;
}

/**
 * An imported Ethereum or Solana transaction decoded from its stored bytes, for the approvers: with the asset the
 * payload names (its contract or mint carried beside the bytes), so nothing but the bytes says what it does.
 */
function decodeImported(p: WithdrawalPayload, unsigned: string): DecodedTransaction {
  const native = NATIVE_ASSETS[p.chain];
  const assets: Asset[] = [native];
  if (p.contract !== undefined) {
    assets.push({
      chain: p.chain,
      symbol: p.asset,
      name: p.asset,
      decimals: p.decimals,
      kind: p.chain === "ethereum" ? "erc20" : "spl",
      contract: p.contract,
    });
  }
  if (p.chain === "ethereum") return ethereum.decodeUnsigned(unsigned, { assets, from: p.from });
  const cluster = SOLANA_CLUSTERS.find((c) => c === p.network);
  if (cluster === undefined) throw new Error(`unknown Solana cluster ${p.network}`);
  return solana.decodeUnsigned(unsigned, { cluster, assets });
}

function importedLines(p: WithdrawalPayload, unsigned: string): OperationDisplay["lines"] {
  const lines: OperationDisplay["lines"] = [];
  try {
    const decoded = decodeImported(p, unsigned);
    for (const line of decoded.lines)
      lines.push({ label: `Imported transaction: ${line.label}`, value: line.value });
    lines.push({
      label: "Imported transaction: signed as",
      value:
        p.chain === "ethereum"
          ? `exactly these bytes, decoded and compared with this withdrawal again first, and only if nonce ${decoded.nonce ?? "?"} is then the key's next nonce (otherwise the executor refuses it: no gap, no reuse)`
          : "exactly these bytes, decoded and compared with this withdrawal again first, and only while its blockhash is still valid (otherwise the executor refuses it as expired)",
    });
  } catch (e) {
    lines.push({
      label: "Imported transaction",
      value: `cannot be decoded: ${e instanceof Error ? e.message : String(e)}`,
    });
  }
  lines.push({
    label: `Imported transaction bytes (${p.chain === "ethereum" ? "hex" : "base64"})`,
    value: unsigned,
  });
  return lines;
}

export function describeWithdrawal(p: WithdrawalPayload): OperationDisplay {
  const native = NATIVE_ASSETS[p.chain];
  const fee = (units: string) => `${formatUnits(BigInt(units), native.decimals)} ${native.symbol}`;
  const lines: OperationDisplay["lines"] = [
    { label: "Amount", value: `${withdrawalAmountWords(p)} (${p.amount} base units)` },
    { label: "Destination", value: p.destination },
    { label: "From", value: `${p.from} (key “${p.keyLabel}”, ${p.keyId})` },
    { label: "Network", value: networkWords(p) },
    {
      label: "Fee at most",
      value: `${fee(p.feeCap)} (the approved cap: the executor refuses to sign above it)`,
    },
    {
      label: p.chain === "bitcoin" ? "Fee" : "Fee estimate when proposed",
      value:
        p.feeEstimate === undefined
          ? "unknown: no RPC endpoint is configured for this chain"
          : p.chain === "bitcoin"
            ? `${fee(p.feeEstimate)} (the PSBT's inputs minus its outputs)`
            : fee(p.feeEstimate),
    },
    { label: "Key tags", value: p.keyTags.length > 0 ? p.keyTags.join(", ") : "none" },
  ];
  if (p.chain === "bitcoin" && p.psbt !== undefined) {
    const network = BITCOIN_NETWORKS.find((n) => n === p.network);
    try {
      if (network === undefined) throw new Error(`unknown network ${p.network}`);
      const decoded = decodePsbt(p.psbt, network, p.from);
      for (const line of decoded.lines) lines.push({ label: `PSBT: ${line.label}`, value: line.value });
    } catch (e) {
      lines.push({
        label: "PSBT",
        value: `cannot be decoded: ${e instanceof Error ? e.message : String(e)}`,
      });
    }
  } else if (p.unsignedTransaction !== undefined) {
    lines.push(...importedLines(p, p.unsignedTransaction));
  } else {
    lines.push({
      label: "Transaction",
      value:
        p.chain === "ethereum"
          ? "built at execution: the next nonce of this key, EIP-1559 fees within the cap; decoded and compared with this withdrawal before the HSM signs"
          : "built at execution with a recent blockhash; decoded and compared with this withdrawal before the HSM signs",
    });
  }
  if (p.note !== undefined) lines.push({ label: "Note", value: p.note });
  return {
    title: `Withdraw ${withdrawalAmountWords(p)} on ${CHAIN_NAMES[p.chain]} to ${p.destination}`,
    lines,
  };
}

export const withdrawal: OperationKind<WithdrawalPayload, WithdrawalInput> = {
  kind: "withdrawal",
  proposers: ["operator", "admin"],
  payload: withdrawalPayloadSchema,
  propose: {
    input: withdrawalInputSchema,
    prepare: (input, read) =>
      prepareWithdrawal(input, {
        key: read.key,
        successorOf: read.successorOf,
        chains: read.chains,
        chainClients: read.chainClients,
      }),
  },
  describe: describeWithdrawal,
  facts(p) {
    return {
      keyTags: [...p.keyTags],
      chain: p.chain,
      asset: p.asset,
      amount: BigInt(p.amount),
      destination: p.destination,
      keyId: p.keyId,
    };
  },
  // Build, store (nonce under the key's lock), decode, check, sign, assemble, check: server/withdrawals/execute.ts.
  execute: (ctx, op) =>
    ctx.withdrawals.execute({
      operationId: op.id,
      payload: op.payload,
      signer: ctx.withdrawalSigner,
      now: ctx.now,
    }),
};
