// The check between building and signing: a transaction decoded from its very bytes against the intent the
// approvers approved. The executor signs only when this says ok (server/withdrawals/execute.ts), for every
// chain and for imported PSBTs alike — there is no signing path around it. Pure: no database, no HSM, no
// network; every mismatch is said in words, so a refusal can be read in the operation's failure reason.
import type { Chain, DecodedTransaction } from "./types";

/** What the approvers approved, as the executor compares it: canonical addresses, bigint base units. */
export type WithdrawalIntent = {
  chain: Chain;
  /** As DecodedTransaction.network: "regtest", the Ethereum chain id in decimal, the Solana cluster. */
  network: string;
  /** The key's own address on the chain (the sender; Bitcoin change may only go back here). */
  from: string;
  /** The asset's symbol on the chain. */
  asset: string;
  amount: bigint;
  destination: string;
  /** The most the transaction may cost in fees, in base units of the chain's native coin. */
  feeCap: bigint;
};

export type IntentCheck = { ok: true } | { ok: false; reasons: string[] };

/**
 * ok only when the transaction does exactly what was approved: on the approved chain and network, from the
 * key's address, one transfer of exactly the approved amount of the approved asset to the approved
 * destination and nothing else to anyone — Bitcoin change (native coin only) back to `from` alone —, and a
 * maximum fee within the cap. Otherwise every mismatch, in words.
 */
export function checkAgainstIntent(decoded: DecodedTransaction, intent: WithdrawalIntent): IntentCheck {
  const reasons: string[] = [];
  if (decoded.chain !== intent.chain)
    reasons.push(`the transaction is for ${decoded.chain}, the withdrawal for ${intent.chain}`);
  if (decoded.network !== intent.network)
    reasons.push(`the transaction is for network ${decoded.network}, the withdrawal for ${intent.network}`);
  if (decoded.from !== intent.from)
    reasons.push(`the transaction spends from ${decoded.from}, the withdrawal from the key's ${intent.from}`);

  const payments = decoded.transfers.filter((t) => t.change !== true);
  const change = decoded.transfers.filter((t) => t.change === true);
  if (payments.length === 0) reasons.push("the transaction pays nobody");
  if (payments.length > 1)
    reasons.push(`the transaction makes ${payments.length} payments; the withdrawal approved exactly one`);
  for (const [i, t] of payments.entries()) {
    const which = payments.length > 1 ? `payment ${i + 1}` : "the payment";
    if (t.destination !== intent.destination)
      reasons.push(
        `${which} goes to ${t.destination}, not to the approved destination ${intent.destination}`,
      );
    if (t.asset !== intent.asset) reasons.push(`${which} moves ${t.asset}, not the approved ${intent.asset}`);
    if (t.amount !== intent.amount)
      reasons.push(
        `${which} moves ${t.amount} base units of ${t.asset}, not the approved ${intent.amount} of ${intent.asset}`,
      );
  }
  for (const t of change) {
    if (intent.chain !== "bitcoin")
      reasons.push(`an output marked change on ${intent.chain}, where a withdrawal has no change`);
    if (t.destination !== intent.from)
      reasons.push(`change of ${t.amount} goes to ${t.destination}, not back to the key's ${intent.from}`);
    if (t.asset !== nativeAsset(intent.chain))
      reasons.push(`change in ${t.asset}: only ${nativeAsset(intent.chain)} change is possible`);
    if (t.amount <= 0n) reasons.push(`change of ${t.amount}: an output must move a positive amount`);
  }
  for (const t of payments) {
    if (t.amount <= 0n) reasons.push(`a payment of ${t.amount}: a withdrawal moves a positive amount`);
  }
  if (decoded.maxFee < 0n) reasons.push(`a negative fee (${decoded.maxFee}): its outputs exceed its inputs`);
  if (decoded.maxFee > intent.feeCap)
    reasons.push(
      `the fee could reach ${decoded.maxFee} base units of ${nativeAsset(intent.chain)}, above the approved cap of ${intent.feeCap}`,
    );
  return reasons.length === 0 ? { ok: true } : { ok: false, reasons };
}

/** The native coin's symbol on each chain, as the default asset list names it. */
export function nativeAsset(chain: Chain): string {
  switch (chain) {
    case "bitcoin":
      return "BTC";
    case "ethereum":
      return "ETH";
    case "solana":
      return "SOL";
  }
}
