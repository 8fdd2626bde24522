// The test chain itself, with a software key (no HSM): it accepts a transaction Keyward assembled, refuses a
// high-S twin, a double spend and a transaction spending what does not exist, and says pending, confirmed,
// unknown and dead as the chain moves on. Its checks are what other tests rely on, so each is shown here.
import { secp256k1 } from "@noble/curves/secp256k1";
import { Transaction } from "bitcoinjs-lib";
import { describe, expect, it } from "vitest";
import { assemble, bitcoinAddress, signingRequests } from "../bitcoin";
import { TestBitcoinChain } from "./btc-chain";
import { type FakeUtxo, fakeUtxos, makePsbtBase64 } from "./psbt";

const privateKey = secp256k1.utils.randomPrivateKey();
const publicKey = Buffer.from(secp256k1.getPublicKey(privateKey, false)).toString("hex");
const from = bitcoinAddress(publicKey, "regtest");
const DEST = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";

function signedPayment(utxos: readonly FakeUtxo[], value: bigint): { raw: string; txid: string } {
  const psbt = makePsbtBase64({ network: "regtest", utxos, outputs: [{ address: DEST, value }] });
  const signatures = signingRequests(psbt, "regtest", from).map((r) =>
    secp256k1.sign(r.data, privateKey, { prehash: false }).toBytes("compact"),
  );
  return assemble(psbt, signatures, publicKey, "regtest");
}

describe("TestBitcoinChain", () => {
  it("accepts a signed payment, then confirms it block by block; balances follow", async () => {
    const chain = new TestBitcoinChain("regtest");
    const client = chain.client();
    const utxos = chain.fund(from, [30_000n, 20_000n]);
    expect(await client.balance(from)).toBe(50_000n);
    const signed = signedPayment(utxos, 49_000n);
    expect(await client.broadcast(signed.raw)).toBe(signed.txid);
    expect(await client.status(signed.txid, signed)).toEqual({ state: "pending" });
    expect(await client.balance(from)).toBe(0n);
    expect(await client.balance(DEST)).toBe(49_000n);
    chain.mine();
    expect(await client.status(signed.txid, signed)).toMatchObject({ state: "confirmed", confirmations: 1 });
    chain.mine(2);
    expect(await client.status(signed.txid, signed)).toMatchObject({ state: "confirmed", confirmations: 3 });
    // The same bytes again are the same transaction, not a new one.
    expect(await client.broadcast(signed.raw)).toBe(signed.txid);
    expect(await client.feeRate(4)).toBe(8);
  });

  it("refuses a high-S twin, a double spend and inputs that do not exist", async () => {
    const chain = new TestBitcoinChain("regtest");
    const client = chain.client();
    const utxos = chain.fund(from, [30_000n]);
    const signed = signedPayment(utxos, 29_000n);
    const tx = Transaction.fromHex(signed.raw);
    const [der, key] = tx.ins[0]?.witness ?? [];
    if (der === undefined || key === undefined) throw new Error("no witness");
    const low = secp256k1.Signature.fromBytes(der.subarray(0, -1), "der");
    const high = new secp256k1.Signature(low.r, secp256k1.CURVE.n - low.s);
    tx.setWitness(0, [Uint8Array.from([...high.toBytes("der"), 1]), key]);
    await expect(client.broadcast(tx.toHex())).rejects.toThrow(
      "sendrawtransaction RPC error: mandatory-script-verify-flag-failed",
    );
    expect(await client.broadcast(signed.raw)).toBe(signed.txid);
    const twice = signedPayment(utxos, 28_000n);
    await expect(client.broadcast(twice.raw)).rejects.toThrow(
      "sendrawtransaction RPC error: txn-mempool-conflict",
    );
    // UTXOs the chain never saw (made up, not funded).
    const nowhere = signedPayment(fakeUtxos(from, [30_000n], "regtest"), 28_000n);
    await expect(client.broadcast(nowhere.raw)).rejects.toThrow(
      "sendrawtransaction RPC error: bad-txns-inputs-missingorspent",
    );
  });

  it("a dropped transaction is unknown and can be sent again; once its input is spent elsewhere and mined, dead", async () => {
    const chain = new TestBitcoinChain("regtest");
    const client = chain.client();
    const utxos = chain.fund(from, [30_000n]);
    const signed = signedPayment(utxos, 29_000n);
    await client.broadcast(signed.raw);
    chain.drop(signed.txid);
    expect(await client.status(signed.txid, signed)).toEqual({ state: "unknown" });
    expect(await client.balance(from)).toBe(30_000n);
    expect(await client.broadcast(signed.raw)).toBe(signed.txid);
    chain.drop(signed.txid);
    const outpoint = `${utxos[0]?.txid}:0`;
    const other = chain.spendElsewhere(outpoint);
    expect(await client.status(signed.txid, signed)).toEqual({
      state: "dead",
      reason: `Its input ${outpoint} was spent by ${other}, confirmed in block ${chain.height}.`,
    });
    await expect(client.broadcast(signed.raw)).rejects.toThrow("txn-mempool-conflict");
  });
});
