// The unsigned PSBT of a Bitcoin rotation sweep: every UTXO of the old key in, one output to the successor, the fee
// from the node's rate over the transaction's virtual size. Every input carries its witness UTXO and its previous
// transaction (server/custody/bitcoin.ts refuses a PSBT without them: a segwit v0 signature commits only to the
// amount it is told), and the PSBT is decoded and checked by the withdrawal kind like any backend's. Pure: the
// UTXOs and previous transactions come in (read through the chain client by rotation-sweep.ts); nothing signs.
import { address as btcAddress, Psbt, Transaction } from "bitcoinjs-lib";
import { NETWORKS } from "@/server/custody/bitcoin-address";
import type { BitcoinNetwork } from "@/server/custody/types";

export type SweepUtxo = { txid: string; vout: number; value: bigint; previousHex: string };

/** Virtual bytes of a P2WPKH-only transaction: 10.5 overhead, ~68 per input (with its witness), 31 per output. */
export function p2wpkhVsize(inputs: number, outputs: number): number {
  return Math.ceil(10.5 + 68 * inputs + 31 * outputs);
}

/** Below this an output to a P2WPKH address is dust: nodes do not relay it. */
const DUST = 294n;

export type SweepPsbt = { psbt: string; amount: bigint; fee: bigint } | { skip: string };

export function buildSweepPsbt(input: {
  network: BitcoinNetwork;
  from: string;
  destination: string;
  utxos: readonly SweepUtxo[];
  /** sat/vB. */
  feeRate: number;
}): SweepPsbt {
  const network = NETWORKS[input.network];
  const script = btcAddress.toOutputScript(input.from, network);
  const psbt = new Psbt({ network });
  psbt.setVersion(2);
  let total = 0n;
  for (const u of input.utxos) {
    const previous = Transaction.fromHex(u.previousHex);
    if (previous.getId() !== u.txid) return { skip: `the node's transaction ${u.txid} has another id` };
    const out = previous.outs[u.vout];
    if (out === undefined || out.value !== u.value || !Buffer.from(out.script).equals(Buffer.from(script)))
      return { skip: `the node's output ${u.txid}:${u.vout} is not the old key's ${u.value} sat` };
    psbt.addInput({
      hash: u.txid,
      index: u.vout,
      sequence: 0xfffffffd,
      witnessUtxo: { script, value: u.value },
      nonWitnessUtxo: Buffer.from(u.previousHex, "hex"),
    });
    total += u.value;
  }
  const fee = BigInt(Math.ceil(input.feeRate * p2wpkhVsize(input.utxos.length, 1)));
  const amount = total - fee;
  if (amount < DUST) {
    return {
      skip: `the old key's ${input.utxos.length} UTXOs hold ${total} sat, not more than the fee of ${fee} sat (at ${input.feeRate} sat/vB) plus dust: nothing is left to move`,
    };
  }
  psbt.addOutput({ address: input.destination, value: amount });
  return { psbt: psbt.toBase64(), amount, fee };
}
