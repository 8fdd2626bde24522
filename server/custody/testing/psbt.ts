// Test helper: a stand-in for an exchange's wallet backend, which knows the UTXOs of Keyward's addresses and hands
// Keyward an unsigned PSBT to approve and sign. The UTXOs are made up: each comes from a made-up previous
// transaction paying the address, which the PSBT carries as the non-witness UTXO (unless asked not to).
import { randomBytes } from "node:crypto";
import { address, networks, Psbt, Transaction } from "bitcoinjs-lib";
import type { BitcoinNetwork } from "../types";

const NETWORKS = { mainnet: networks.bitcoin, testnet: networks.testnet, regtest: networks.regtest } as const;

export type FakeUtxo = {
  txid: string;
  vout: number;
  value: bigint;
  /** The output script the UTXO pays to. */
  script: Uint8Array;
  /** The whole previous transaction (for nonWitnessUtxo). */
  previous: Uint8Array;
};

/** The output script of a segwit or legacy address on `network` (bitcoinjs-lib, not Keyward's reader). */
export function scriptOf(addr: string, network: BitcoinNetwork): Uint8Array {
  // bitcoinjs-lib wants an ECC library for taproot; a v1 output script is just OP_1 <32 bytes>.
  if (/^(bc|tb|bcrt)1p/.test(addr)) {
    const { data } = address.fromBech32(addr);
    return Uint8Array.from([0x51, 0x20, ...data]);
  }
  return address.toOutputScript(addr, NETWORKS[network]);
}

/** UTXOs of `addr`, one per value, from one made-up previous transaction (a random coin spent into them). */
export function fakeUtxos(addr: string, values: readonly bigint[], network: BitcoinNetwork): FakeUtxo[] {
  const script = scriptOf(addr, network);
  const previous = new Transaction();
  previous.version = 2;
  previous.addInput(randomBytes(32), 0);
  for (const value of values) previous.addOutput(script, value);
  const bytes = previous.toBuffer();
  const txid = previous.getId();
  return values.map((value, vout) => ({ txid, vout, value, script, previous: bytes }));
}

export type BackendPsbt = {
  network: BitcoinNetwork;
  utxos: readonly FakeUtxo[];
  /** Where the money goes; `change` back to the same UTXOs' address is just another output here. */
  outputs: readonly { address: string; value: bigint }[];
  /** Leave the previous transactions (nonWitnessUtxo) out, as some backends do; Keyward refuses that. */
  withoutPrevious?: boolean;
  /** Leave the witness UTXOs out (a backend that forgot them). */
  withoutWitnessUtxo?: boolean;
  sighashType?: number;
  /** Default 0xfffffffd (replaceable, as most wallets send today). */
  sequence?: number;
  locktime?: number;
  version?: number;
};

/** The unsigned PSBT the backend would hand over. */
export function makePsbt(spec: BackendPsbt): Psbt {
  const psbt = new Psbt({ network: NETWORKS[spec.network] });
  if (spec.version !== undefined) psbt.setVersion(spec.version);
  if (spec.locktime !== undefined) psbt.setLocktime(spec.locktime);
  for (const utxo of spec.utxos) {
    psbt.addInput({
      hash: utxo.txid,
      index: utxo.vout,
      sequence: spec.sequence ?? 0xfffffffd,
      ...(spec.withoutWitnessUtxo ? {} : { witnessUtxo: { script: utxo.script, value: utxo.value } }),
      ...(spec.withoutPrevious ? {} : { nonWitnessUtxo: utxo.previous }),
      ...(spec.sighashType === undefined ? {} : { sighashType: spec.sighashType }),
    });
  }
  for (const output of spec.outputs) {
    psbt.addOutput({ script: scriptOf(output.address, spec.network), value: output.value });
  }
  return psbt;
}

/** makePsbt in base64, as imported. */
export function makePsbtBase64(spec: BackendPsbt): string {
  return makePsbt(spec).toBase64();
}
