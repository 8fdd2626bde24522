// Unit tests of server/custody/bitcoin.ts: addresses (BIP 173 vectors), address input in words, every PSBT
// refusal with its exact message, BIP143 digests and assembly with a software key (the HSM proof is in
// bitcoin.integration.test.ts).
import { secp256k1 } from "@noble/curves/secp256k1";
import { networks, Psbt, payments, Transaction } from "bitcoinjs-lib";
import { describe, expect, it } from "vitest";
import {
  assemble,
  BitcoinSignatureError,
  bitcoinAddress,
  compressPublicKey,
  decodePsbt,
  PsbtRefusedError,
  parseAddress,
  signingRequests,
} from "./bitcoin";
import { fakeUtxos, makePsbt, makePsbtBase64, scriptOf } from "./testing/psbt";

// BIP 173's example key: the generator point G (private key 1).
const G_UNCOMPRESSED =
  "0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8";

const privateKey = secp256k1.utils.randomPrivateKey();
const publicKey = Buffer.from(secp256k1.getPublicKey(privateKey, false)).toString("hex");
const other = Buffer.from(secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), false)).toString("hex");
const from = bitcoinAddress(publicKey, "regtest");
const stranger = bitcoinAddress(other, "regtest");
const DEST = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
const TAPROOT = "bcrt1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqc8gma6";

function refusal(call: () => unknown): string {
  try {
    call();
  } catch (e) {
    if (e instanceof PsbtRefusedError || e instanceof BitcoinSignatureError) return e.message;
    throw e;
  }
  throw new Error("expected a refusal");
}

const simple = (over: Partial<Parameters<typeof makePsbt>[0]> = {}) =>
  makePsbtBase64({
    network: "regtest",
    utxos: fakeUtxos(from, [60_000n, 50_000n], "regtest"),
    outputs: [
      { address: DEST, value: 70_000n },
      { address: from, value: 39_000n },
    ],
    ...over,
  });

/** Signs like the HSM does: r || s over the digest, no hashing, S as it falls unless asked. */
function hsmSign(digest: Uint8Array, options: { highS?: boolean } = {}): Uint8Array {
  const sig = secp256k1.sign(digest, privateKey, { prehash: false, lowS: true });
  if (!options.highS) return sig.toBytes("compact");
  const high = new secp256k1.Signature(sig.r, secp256k1.CURVE.n - sig.s);
  return high.toBytes("compact");
}

describe("addresses", () => {
  it("derives P2WPKH bech32 from the uncompressed key (BIP 173 vectors) on each network", () => {
    expect(bitcoinAddress(G_UNCOMPRESSED, "mainnet")).toBe("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4");
    expect(bitcoinAddress(G_UNCOMPRESSED, "testnet")).toBe("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx");
    expect(bitcoinAddress(G_UNCOMPRESSED, "regtest")).toBe(DEST);
    expect(Buffer.from(compressPublicKey(G_UNCOMPRESSED)).toString("hex")).toBe(
      "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
    );
    // bitcoinjs-lib agrees for a random key.
    const pubkey = compressPublicKey(publicKey);
    expect(from).toBe(payments.p2wpkh({ pubkey, network: networks.regtest }).address);
  });

  it("refuses a public key that is not one", () => {
    expect(() => bitcoinAddress("04abcd", "mainnet")).toThrow(
      "A secp256k1 public key is 65 bytes uncompressed (or 33 compressed) in hex; got 6 characters.",
    );
    expect(() => bitcoinAddress(`04${"11".repeat(64)}`, "mainnet")).toThrow(
      "This public key is not a point on secp256k1.",
    );
  });

  it("reads destinations: canonical lower case, network in words, legacy and typos refused", () => {
    expect(parseAddress("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "mainnet")).toEqual({
      ok: true,
      address: "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    });
    expect(parseAddress(" bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4 ", "mainnet").ok).toBe(true);
    expect(parseAddress(TAPROOT, "regtest")).toEqual({ ok: true, address: TAPROOT });
    const p2wsh = "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7";
    expect(parseAddress(p2wsh, "testnet")).toEqual({ ok: true, address: p2wsh });
    expect(parseAddress("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", "mainnet")).toEqual({
      ok: false,
      reason: "This is a testnet address; Keyward is on mainnet.",
    });
    expect(parseAddress("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "regtest")).toEqual({
      ok: false,
      reason: "This is a mainnet address; Keyward is on regtest.",
    });
    expect(parseAddress("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "mainnet")).toEqual({
      ok: false,
      reason:
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5 is not a valid address: its checksum does not match (a mistyped character?).",
    });
    expect(parseAddress("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7KV8f3t4", "mainnet")).toEqual({
      ok: false,
      reason:
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7KV8f3t4 mixes upper- and lower-case letters; a bech32 address is written in one case.",
    });
    expect(parseAddress("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "mainnet")).toEqual({
      ok: false,
      reason:
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2 is a legacy (base58) address; Keyward pays only to segwit addresses (bc1q… or bc1p…). Ask the recipient for one.",
    });
    // BIP 350: a segwit v0 program in bech32m is invalid.
    expect(parseAddress("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", "mainnet")).toEqual({
      ok: false,
      reason:
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh is not a valid address: its checksum does not match (a mistyped character?).",
    });
    // BIP 350 vector: segwit v16.
    expect(parseAddress("BC1SW50QGDZ25J", "mainnet")).toEqual({
      ok: false,
      reason:
        "BC1SW50QGDZ25J is a segwit version 16 address, which Bitcoin does not use yet; Keyward does not pay to it.",
    });
    expect(parseAddress("", "mainnet")).toEqual({ ok: false, reason: "Enter a Bitcoin address." });
    expect(parseAddress("0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238", "mainnet")).toEqual({
      ok: false,
      reason: "0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238 is not a Bitcoin address.",
    });
  });
});

describe("decodePsbt", () => {
  it("decodes outputs to addresses, marks change to the key, fee = inputs − outputs", () => {
    const decoded = decodePsbt(simple(), "regtest", from);
    expect(decoded).toEqual({
      chain: "bitcoin",
      network: "regtest",
      from,
      transfers: [
        { asset: "BTC", amount: 70_000n, destination: DEST },
        { asset: "BTC", amount: 39_000n, destination: from, change: true },
      ],
      maxFee: 1_000n,
      lines: [
        { label: "Network", value: "Bitcoin regtest" },
        { label: "From", value: from },
        { label: "Pays", value: `0.0007 BTC to ${DEST}` },
        { label: "Change back to the key", value: `0.00039 BTC to ${from}` },
        { label: "Inputs", value: `2 from ${from}, 0.0011 BTC in all` },
        { label: "Fee", value: "0.00001 BTC (1000 sat, about 4.8 sat/vB)" },
        {
          label: "Replaceable",
          value: "Yes (BIP 125): until it confirms, a version with a higher fee can replace it",
        },
      ],
    });
    // Final sequences and a lock time: not replaceable, and when it becomes valid.
    const lines = (spec: Parameters<typeof simple>[0]) =>
      decodePsbt(simple(spec), "regtest", from).lines.slice(6);
    expect(lines({ sequence: 0xfffffffe, locktime: 850_000 })).toEqual([
      { label: "Not valid before", value: "block 850000" },
    ]);
    expect(lines({ sequence: 0xffffffff, locktime: 1_796_290_000 })).toEqual([
      { label: "Not valid before", value: "2026-12-03 09:26 UTC" },
    ]);
    expect(lines({ sequence: 0xffffffff })).toEqual([]);
    expect(refusal(() => decodePsbt(simple({ version: 4 }), "regtest", from))).toBe(
      "The transaction's version is 4; nodes relay versions 1 to 3 only.",
    );
    // A taproot destination and a previous transaction that matches are fine too.
    const withTaproot = simple({ outputs: [{ address: TAPROOT, value: 100_000n }] });
    expect(decodePsbt(withTaproot, "regtest", from).transfers).toEqual([
      { asset: "BTC", amount: 100_000n, destination: TAPROOT },
    ]);
  });

  it("refuses inputs of another address, missing witness UTXOs, other sighash types, signed inputs", () => {
    const mixed = makePsbt({
      network: "regtest",
      utxos: [...fakeUtxos(from, [60_000n], "regtest"), ...fakeUtxos(stranger, [50_000n], "regtest")],
      outputs: [{ address: DEST, value: 100_000n }],
    });
    const strangerTx = mixed.txInputs[1];
    const outpoint = `${Buffer.from(strangerTx?.hash ?? [])
      .reverse()
      .toString("hex")}:0`;
    expect(refusal(() => decodePsbt(mixed.toBase64(), "regtest", from))).toBe(
      `Input 1 (${outpoint}) spends from ${stranger}, not from this key's address ${from}.`,
    );

    const legacy = makePsbt({
      network: "regtest",
      utxos: fakeUtxos("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", [60_000n], "regtest"),
      outputs: [{ address: DEST, value: 50_000n }],
    });
    expect(refusal(() => decodePsbt(legacy.toBase64(), "regtest", from))).toMatch(
      /^Input 0 \([0-9a-f]{64}:0\) spends a legacy P2PKH script; Keyward signs only P2WPKH inputs of this key's address bcrt1q/,
    );

    expect(refusal(() => decodePsbt(simple({ withoutWitnessUtxo: true }), "regtest", from))).toMatch(
      /^Input 0 \([0-9a-f]{64}:0\) has no witness UTXO: the wallet backend must include the output it spends \(script and amount\)\.$/,
    );
    expect(refusal(() => decodePsbt(simple({ sighashType: 0x81 }), "regtest", from))).toBe(
      "Input 0 asks for sighash type SIGHASH_ALL|ANYONECANPAY; Keyward signs SIGHASH_ALL only (the signature then covers every input and output).",
    );
    expect(refusal(() => decodePsbt(simple({ sighashType: 2 }), "regtest", from))).toMatch(/SIGHASH_NONE/);
    expect(decodePsbt(simple({ sighashType: 1 }), "regtest", from).maxFee).toBe(1_000n);

    // Signed by someone (here: by us, once) — an imported PSBT must be unsigned.
    const signed = Psbt.fromBase64(simple());
    const requests = signingRequests(signed.toBase64(), "regtest", from);
    const once = assemble(
      signed.toBase64(),
      requests.map((r) => hsmSign(r.data)),
      publicKey,
      "regtest",
    );
    expect(once.txid).toMatch(/^[0-9a-f]{64}$/);
    signed.updateInput(0, {
      partialSig: [
        {
          pubkey: compressPublicKey(publicKey),
          signature: new Uint8Array([0x30, 0x06, 2, 1, 1, 2, 1, 1, 1]),
        },
      ],
    });
    expect(refusal(() => decodePsbt(signed.toBase64(), "regtest", from))).toMatch(
      /^Input 0 \([0-9a-f]{64}:0\) is already signed; import the unsigned PSBT\.$/,
    );
  });

  it("refuses outputs Keyward does not pay to, dust, overflow and inputs that do not cover", () => {
    const utxos = fakeUtxos(from, [60_000n], "regtest");
    const p2pkh = makePsbtBase64({
      network: "regtest",
      utxos,
      outputs: [{ address: "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn", value: 50_000n }],
    });
    expect(refusal(() => decodePsbt(p2pkh, "regtest", from))).toBe(
      "Output 0 pays to a legacy P2PKH script; Keyward pays only to segwit addresses.",
    );
    const opReturn = makePsbt({ network: "regtest", utxos, outputs: [] });
    opReturn.addOutput({ script: Uint8Array.from([0x6a, 0x04, 1, 2, 3, 4]), value: 0n });
    expect(refusal(() => decodePsbt(opReturn.toBase64(), "regtest", from))).toBe(
      "Output 0 pays to an OP_RETURN (data) script; Keyward pays only to segwit addresses.",
    );
    const dust = makePsbtBase64({ network: "regtest", utxos, outputs: [{ address: DEST, value: 293n }] });
    expect(refusal(() => decodePsbt(dust, "regtest", from))).toBe(
      `Output 0 pays 293 satoshis to ${DEST}, below the dust limit of 294: nodes would not relay it.`,
    );
    const short = makePsbtBase64({ network: "regtest", utxos, outputs: [{ address: DEST, value: 60_001n }] });
    expect(refusal(() => decodePsbt(short, "regtest", from))).toBe(
      "The inputs (0.0006 BTC) do not cover the outputs (0.00060001 BTC); 0.00000001 BTC is missing.",
    );
    const huge = makePsbtBase64({
      network: "regtest",
      utxos: fakeUtxos(from, [2_000_000_000_000_000n, 2_000_000_000_000_000n], "regtest"),
      outputs: [{ address: DEST, value: 1_000n }],
    });
    expect(refusal(() => decodePsbt(huge, "regtest", from))).toBe(
      "The inputs add up to more than 21 million BTC.",
    );
    const overflow = makePsbtBase64({
      network: "regtest",
      utxos,
      outputs: [
        { address: DEST, value: 2_000_000_000_000_000n },
        { address: DEST, value: 2_000_000_000_000_000n },
      ],
    });
    expect(refusal(() => decodePsbt(overflow, "regtest", from))).toBe(
      "The outputs add up to more than 21 million BTC.",
    );
    const tooMuch = makePsbtBase64({
      network: "regtest",
      utxos,
      outputs: [{ address: DEST, value: 2_100_000_000_000_001n }],
    });
    expect(refusal(() => decodePsbt(tooMuch, "regtest", from))).toBe(
      "Output 0 pays more than 21 million BTC.",
    );
  });

  it("refuses a previous transaction that contradicts the witness UTXO, bytes that are no PSBT, a wrong network", () => {
    const [utxo] = fakeUtxos(from, [60_000n], "regtest");
    if (utxo === undefined) throw new Error("no utxo");
    const lying = makePsbt({
      network: "regtest",
      utxos: [{ ...utxo, value: 10_000_000n }],
      outputs: [],
    });
    lying.addOutput({ script: scriptOf(DEST, "regtest"), value: 9_000_000n });
    expect(refusal(() => decodePsbt(lying.toBase64(), "regtest", from))).toBe(
      "Input 0's witness UTXO (10000000 sat) differs from the output of its previous transaction (60000 sat).",
    );
    // Without the previous transaction the amounts are the backend's word alone (the segwit fee attack).
    expect(refusal(() => decodePsbt(simple({ withoutPrevious: true }), "regtest", from))).toMatch(
      /^Input 0 \([0-9a-f]{64}:0\) has no previous transaction \(non-witness UTXO\): Keyward needs it to prove the input's amount, so that the fee shown is the fee paid\.$/,
    );
    const [elsewhere] = fakeUtxos(from, [60_000n], "regtest");
    if (elsewhere === undefined) throw new Error("no utxo");
    const swapped = makePsbtBase64({
      network: "regtest",
      utxos: [{ ...utxo, previous: elsewhere.previous }],
      outputs: [{ address: DEST, value: 50_000n }],
    });
    expect(refusal(() => decodePsbt(swapped, "regtest", from))).toBe(
      `Input 0's previous transaction is not ${utxo.txid}.`,
    );
    expect(refusal(() => decodePsbt("not a psbt!", "regtest", from))).toBe("The PSBT is not base64 text.");
    expect(refusal(() => decodePsbt(Buffer.from("hello").toString("base64"), "regtest", from))).toMatch(
      /^This is not a valid PSBT \(BIP 174\): /,
    );
    expect(refusal(() => decodePsbt(simple(), "mainnet", from))).toBe(
      "The key's address is not valid here: This is a regtest address; Keyward is on mainnet.",
    );
    expect(refusal(() => decodePsbt(simple(), "regtest", TAPROOT))).toBe(
      `${TAPROOT} is not a P2WPKH address; Keyward's keys are.`,
    );
  });
});

describe("signingRequests and assemble", () => {
  it("gives one BIP143 digest per input and assembles a transaction bitcoinjs-lib accepts", () => {
    const psbt = simple();
    const requests = signingRequests(psbt, "regtest", from);
    expect(requests).toHaveLength(2);
    // The digest is BIP143's, computed here by bitcoinjs-lib from the unsigned transaction.
    const unsigned = Transaction.fromBuffer(Psbt.fromBase64(psbt).data.getTransaction());
    const scriptCode = payments.p2pkh({ pubkey: compressPublicKey(publicKey) }).output ?? new Uint8Array();
    expect(Buffer.from(requests[1]?.data ?? []).toString("hex")).toBe(
      Buffer.from(unsigned.hashForWitnessV0(1, scriptCode, 50_000n, Transaction.SIGHASH_ALL)).toString("hex"),
    );
    const signed = assemble(
      psbt,
      requests.map((r) => hsmSign(r.data, { highS: true })),
      publicKey,
      "regtest",
    );
    const tx = Transaction.fromHex(signed.raw);
    expect(tx.getId()).toBe(signed.txid);
    expect(tx.ins).toHaveLength(2);
    for (const input of tx.ins) {
      expect(input.witness).toHaveLength(2);
      const der = input.witness[0] ?? new Uint8Array();
      expect(der[der.length - 1]).toBe(Transaction.SIGHASH_ALL);
      // Low-S after normalising the high-S answer.
      expect(secp256k1.Signature.fromBytes(der.subarray(0, -1), "der").hasHighS()).toBe(false);
    }
    expect(signed.decoded.maxFee).toBe(1_000n);
    // The decoded fee rate's size estimate (209 vB: 1000 sat is about 4.8 sat/vB) is within a byte per input.
    expect(Math.abs(tx.virtualSize() - 209)).toBeLessThanOrEqual(2);
  });

  it("refuses a signature by another key, over another input, or the wrong count", () => {
    const psbt = simple();
    const [a, b] = signingRequests(psbt, "regtest", from).map((r) => hsmSign(r.data));
    if (a === undefined || b === undefined) throw new Error("two inputs");
    expect(refusal(() => assemble(psbt, [b, a], publicKey, "regtest"))).toBe(
      "The signature for input 0 does not verify against this key and the input's BIP143 digest.",
    );
    expect(refusal(() => assemble(psbt, [a], publicKey, "regtest"))).toBe(
      "The PSBT has 2 inputs but 1 signatures were given.",
    );
    expect(refusal(() => assemble(psbt, [a, b.subarray(1)], publicKey, "regtest"))).toBe(
      "The signature for input 1 is not 64 bytes (r || s).",
    );
    // The other key's address owns none of these inputs.
    expect(refusal(() => assemble(psbt, [a, b], other, "regtest"))).toMatch(
      /^Input 0 .* spends from bcrt1q.*, not from this key's address/,
    );
  });
});
