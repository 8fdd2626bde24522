// Test helper: a small in-process Bitcoin "chain" giving a BitcoinClient, for tests of broadcast and tracking (no
// bitcoind on npm or in Debian 12). It keeps a UTXO set, a mempool and blocks, and accepts a transaction only if
// every input is an unspent P2WPKH output whose witness signature verifies — low-S required — against
// @scure/btc-signer's own BIP143 sighash, and the inputs cover the outputs. Tests move it on by hand: mine blocks,
// drop a transaction from the mempool, or have someone else spend an input (the double spend that makes ours dead).
import { randomBytes } from "node:crypto";
import { secp256k1 } from "@noble/curves/secp256k1";
import * as btc from "@scure/btc-signer";
import { crypto, Transaction } from "bitcoinjs-lib";
import type { BitcoinClient, BroadcastStatus } from "@/server/chains/types";
import type { BitcoinNetwork } from "../types";
import { type FakeUtxo, fakeUtxos } from "./psbt";

type Output = { script: Uint8Array; value: bigint };
type Mined = { tx: Transaction; height: number; hash: string };

const outpointOf = (input: { hash: Uint8Array; index: number }) =>
  `${Buffer.from(input.hash).reverse().toString("hex")}:${input.index}`;

export class TestBitcoinChain {
  /** Unspent outputs by "txid:vout". */
  private readonly utxos = new Map<string, Output>();
  /** Which transaction spent an outpoint (mempool or block). */
  private readonly spentBy = new Map<string, string>();
  private readonly mempool = new Map<string, Transaction>();
  private readonly mined = new Map<string, Mined>();
  height = 100;
  /** What feeRate answers, by target in blocks (sat/vB). */
  feeRates: Record<number, number> = { 1: 12, 3: 8, 6: 5, 144: 1 };
  /** Every raw transaction broadcast (accepted or not), in order. */
  readonly broadcasts: string[] = [];

  constructor(readonly network: BitcoinNetwork) {}

  /** Confirmed UTXOs of `address` with these values, in a block of their own. */
  fund(address: string, values: readonly bigint[]): FakeUtxo[] {
    const utxos = fakeUtxos(address, values, this.network);
    for (const u of utxos) this.utxos.set(`${u.txid}:${u.vout}`, { script: u.script, value: u.value });
    const [first] = utxos;
    this.height += 1;
    if (first !== undefined) {
      const hash = randomBytes(32).toString("hex");
      this.mined.set(first.txid, { tx: Transaction.fromBuffer(first.previous), height: this.height, hash });
    }
    return utxos;
  }

  /** Mines the mempool into `blocks` new blocks (all into the first). */
  mine(blocks = 1): void {
    for (let i = 0; i < blocks; i++) {
      this.height += 1;
      const hash = randomBytes(32).toString("hex");
      for (const [txid, tx] of this.mempool) this.mined.set(txid, { tx, height: this.height, hash });
      this.mempool.clear();
    }
  }

  /** Evicts a transaction from the mempool (a node restart, a low fee): its inputs are unspent again. */
  drop(txid: string): void {
    const tx = this.mempool.get(txid);
    if (tx === undefined) return;
    this.mempool.delete(txid);
    tx.ins.forEach((input) => {
      const outpoint = outpointOf(input);
      this.spentBy.delete(outpoint);
      const [prevTxid, vout] = outpoint.split(":");
      const source = this.outputOf(prevTxid ?? "", Number(vout));
      if (source !== undefined) this.utxos.set(outpoint, source);
    });
    for (let vout = 0; vout < tx.outs.length; vout++) this.utxos.delete(`${txid}:${vout}`);
  }

  /** Someone else's transaction spends `outpoint` and is mined (the key's coins moved another way). */
  spendElsewhere(outpoint: string): string {
    const other = randomBytes(32).toString("hex");
    this.utxos.delete(outpoint);
    this.spentBy.set(outpoint, other);
    const fake = new Transaction();
    fake.addInput(Buffer.from(outpoint.split(":")[0] ?? "", "hex").reverse(), Number(outpoint.split(":")[1]));
    this.height += 1;
    this.mined.set(other, { tx: fake, height: this.height, hash: randomBytes(32).toString("hex") });
    return other;
  }

  private outputOf(txid: string, vout: number): Output | undefined {
    const tx = this.mempool.get(txid) ?? this.mined.get(txid)?.tx;
    return tx?.outs[vout];
  }

  /** What bitcoind would say when refusing it, or undefined when it is valid. */
  private refusal(raw: string): { tx: Transaction; reason?: string } {
    const tx = Transaction.fromHex(raw);
    const scure = btc.Transaction.fromRaw(Buffer.from(raw, "hex"), { allowUnknownOutputs: true });
    let totalIn = 0n;
    for (const [i, input] of tx.ins.entries()) {
      const utxo = this.utxos.get(outpointOf(input));
      if (utxo === undefined) {
        return {
          tx,
          reason: this.spentBy.has(outpointOf(input))
            ? "txn-mempool-conflict"
            : "bad-txns-inputs-missingorspent",
        };
      }
      const [der, pubkey] = input.witness;
      const program = Buffer.from(utxo.script.subarray(2));
      if (utxo.script.length !== 22 || der === undefined || pubkey === undefined) {
        return { tx, reason: `input ${i}: only P2WPKH spends are checked here` };
      }
      if (!Buffer.from(crypto.hash160(pubkey)).equals(program))
        return { tx, reason: "witness program hash mismatch" };
      const scriptCode = btc.OutScript.encode({ type: "pkh", hash: program });
      const sighash = scure.preimageWitnessV0(i, scriptCode, btc.SigHash.ALL, utxo.value);
      let ok = der[der.length - 1] === btc.SigHash.ALL;
      try {
        const sig = secp256k1.Signature.fromBytes(der.subarray(0, -1), "der");
        ok &&= secp256k1.verify(sig.toBytes("compact"), sighash, pubkey, { prehash: false, lowS: true });
      } catch {
        ok = false;
      }
      if (!ok)
        return {
          tx,
          reason:
            "mandatory-script-verify-flag-failed (Signature must be zero for failed CHECK(MULTI)SIG operation)",
        };
      totalIn += utxo.value;
    }
    const totalOut = tx.outs.reduce((sum, o) => sum + o.value, 0n);
    if (totalOut > totalIn) return { tx, reason: "bad-txns-in-belowout" };
    return { tx };
  }

  /** The chain as Keyward's executor and tracker see it. */
  client(): BitcoinClient {
    return {
      feeRate: async (blocks = 6) => {
        const target = Object.keys(this.feeRates)
          .map(Number)
          .filter((t) => t <= blocks)
          .sort((a, b) => b - a)[0];
        const rate = target === undefined ? undefined : this.feeRates[target];
        if (rate === undefined) throw new Error(`no fee estimate for ${blocks} blocks`);
        return rate;
      },
      balance: async (address) => {
        const script = Buffer.from(
          btc.OutScript.encode(btc.Address(networkOf(this.network)).decode(address)),
        );
        let sum = 0n;
        for (const utxo of this.utxos.values())
          if (script.equals(Buffer.from(utxo.script))) sum += utxo.value;
        return sum;
      },
      broadcast: async (raw) => {
        this.broadcasts.push(raw);
        const { tx, reason } = this.refusal(raw);
        const txid = tx.getId();
        if (this.mempool.has(txid) || this.mined.has(txid)) return txid;
        if (reason !== undefined) throw new Error(`sendrawtransaction RPC error: ${reason}`);
        for (const input of tx.ins) {
          this.utxos.delete(outpointOf(input));
          this.spentBy.set(outpointOf(input), txid);
        }
        for (const [vout, out] of tx.outs.entries()) this.utxos.set(`${txid}:${vout}`, out);
        this.mempool.set(txid, tx);
        return txid;
      },
      status: async (txid, sent): Promise<BroadcastStatus> => {
        if (this.mempool.has(txid)) return { state: "pending" };
        const block = this.mined.get(txid);
        if (block !== undefined) {
          return {
            state: "confirmed",
            confirmations: this.height - block.height + 1,
            block: block.hash,
            height: block.height,
          };
        }
        for (const input of Transaction.fromHex(sent.raw).ins) {
          const other = this.spentBy.get(outpointOf(input));
          const spent = other === undefined ? undefined : this.mined.get(other);
          if (other !== undefined && other !== txid && spent !== undefined) {
            return {
              state: "dead",
              reason: `Its input ${outpointOf(input)} was spent by ${other}, confirmed in block ${spent.height}.`,
            };
          }
        }
        return { state: "unknown" };
      },
    };
  }
}

function networkOf(network: BitcoinNetwork) {
  if (network === "mainnet") return btc.NETWORK;
  if (network === "testnet") return btc.TEST_NETWORK;
  return { bech32: "bcrt", pubKeyHash: 0x6f, scriptHash: 0xc4, wif: 0xef };
}
