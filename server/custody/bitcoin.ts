// Bitcoin for custody: a key's P2WPKH address and destination addresses (bitcoin-address.ts, re-exported here),
// the wallet backend's unsigned PSBT decoded into what it pays (what approvers see and the executor compares
// with the intent), the BIP143 digests the HSM signs, and the signed transaction assembled from the HSM's
// r || s signatures. Pure: no database, no HSM, no network. bitcoinjs-lib encodes and finalises, @noble/curves
// checks every signature; nothing here signs, and assemble refuses a signature that does not verify (low-S).
//
// PSBT inputs: P2WPKH of the key's own address only, each with its witness UTXO AND its previous transaction
// (whose txid is checked), so the amounts — and so the fee approvers see — are proven, not claimed. Outputs:
// segwit addresses only, as bitcoin-address.ts reads them.
import { secp256k1 } from "@noble/curves/secp256k1";
import { Psbt, payments, Transaction } from "bitcoinjs-lib";
import { AppError } from "@/server/errors";
import { formatUnits } from "@/server/policy/amounts";
import {
  bitcoinAddress,
  compressPublicKey,
  destinationOf,
  NETWORKS,
  readAddress,
  scriptKind,
} from "./bitcoin-address";
import type { BitcoinNetwork, DecodedTransaction, SignedTransaction, SigningRequest } from "./types";

export { bitcoinAddress, compressPublicKey, parseAddress } from "./bitcoin-address";

/** 21 million BTC in satoshis: no amount, and no sum of amounts, can be more (Bitcoin Core's MAX_MONEY). */
export const MAX_MONEY = 2_100_000_000_000_000n;
/** Bitcoin Core's default dust limits (3 sat/vB relay fee): smaller outputs are not relayed. */
const DUST: Readonly<Record<"p2wpkh" | "p2wsh" | "p2tr", bigint>> = { p2wpkh: 294n, p2wsh: 330n, p2tr: 330n };
/** A standard transaction weighs at most 400,000 units; its PSBT in base64 is well under this. */
const MAX_PSBT_BASE64 = 1_000_000;

/** A PSBT (or a signature for it) Keyward will not sign or assemble; the message says which part and why. */
export class PsbtRefusedError extends AppError {
  override name = "PsbtRefusedError";
  constructor(message: string) {
    super("BAD_INPUT", message, { field: "psbt" });
  }
}

/** The HSM's answer does not make a valid transaction (wrong key, wrong digest, wrong count): never broadcast. */
export class BitcoinSignatureError extends AppError {
  override name = "BitcoinSignatureError";
  constructor(message: string) {
    super("INTERNAL", message);
  }
}

const btc = (sats: bigint) => `${formatUnits(sats, 8)} BTC`;

// ---------------------------------------------------------------------------------------------------------
// PSBTs

type Checked = {
  psbt: Psbt;
  decoded: DecodedTransaction;
  /** The key's P2WPKH witness program (its public key's HASH160). */
  keyHash: Uint8Array;
  values: bigint[];
};

const SIGHASH_NAMES: Record<number, string> = {
  2: "SIGHASH_NONE",
  3: "SIGHASH_SINGLE",
  129: "SIGHASH_ALL|ANYONECANPAY",
  130: "SIGHASH_NONE|ANYONECANPAY",
  131: "SIGHASH_SINGLE|ANYONECANPAY",
};

const txidOf = (hash: Uint8Array) => Buffer.from(hash).reverse().toString("hex");

/**
 * The fee per virtual byte once signed, to one decimal: the unsigned transaction's bytes weigh 4 each, and each
 * P2WPKH input's witness adds about 108 (a 72-byte DER signature with its sighash byte, the 33-byte key, and
 * their lengths), plus 2 for the segwit marker and flag.
 */
function feeRate(fee: bigint, psbt: Psbt): string {
  const weight = psbt.data.getTransaction().length * 4 + 2 + psbt.inputCount * 108;
  const vbytes = Math.ceil(weight / 4);
  return (Math.round((Number(fee) / vbytes) * 10) / 10).toString();
}

/** Every check decodePsbt promises; signingRequests and assemble run it again on the same bytes. */
function check(psbtBase64: string, network: BitcoinNetwork, from: string): Checked {
  const own = readAddress(from, network);
  if ("reason" in own) throw new PsbtRefusedError(`The key's address is not valid here: ${own.reason}`);
  if (own.kind !== "p2wpkh")
    throw new PsbtRefusedError(`${from} is not a P2WPKH address; Keyward's keys are.`);
  const text = psbtBase64.trim();
  if (text.length > MAX_PSBT_BASE64) {
    throw new PsbtRefusedError(
      `The PSBT is ${text.length} characters; a standard transaction's is far smaller.`,
    );
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw new PsbtRefusedError("The PSBT is not base64 text.");
  let psbt: Psbt;
  try {
    psbt = Psbt.fromBase64(text, { network: NETWORKS[network] });
  } catch (e) {
    throw new PsbtRefusedError(
      `This is not a valid PSBT (BIP 174): ${e instanceof Error ? e.message : String(e)}.`,
    );
  }
  const inputs = psbt.txInputs;
  const outputs = psbt.txOutputs;
  if (![1, 2, 3].includes(psbt.version)) {
    throw new PsbtRefusedError(
      `The transaction's version is ${psbt.version}; nodes relay versions 1 to 3 only.`,
    );
  }
  if (inputs.length === 0) throw new PsbtRefusedError("The PSBT has no inputs.");
  if (outputs.length === 0) throw new PsbtRefusedError("The PSBT has no outputs.");

  const seen = new Set<string>();
  const values: bigint[] = [];
  let totalIn = 0n;
  psbt.data.inputs.forEach((input, i) => {
    const prevout = inputs[i];
    if (prevout === undefined) throw new PsbtRefusedError(`Input ${i} is missing from the transaction.`);
    const outpoint = `${txidOf(prevout.hash)}:${prevout.index}`;
    if (seen.has(outpoint)) throw new PsbtRefusedError(`Input ${i} spends ${outpoint} a second time.`);
    seen.add(outpoint);
    if (
      input.finalScriptSig !== undefined ||
      input.finalScriptWitness !== undefined ||
      (input.partialSig?.length ?? 0) > 0 ||
      input.tapKeySig !== undefined
    ) {
      throw new PsbtRefusedError(`Input ${i} (${outpoint}) is already signed; import the unsigned PSBT.`);
    }
    if (input.sighashType !== undefined && input.sighashType !== Transaction.SIGHASH_ALL) {
      const name = SIGHASH_NAMES[input.sighashType] ?? `0x${input.sighashType.toString(16)}`;
      throw new PsbtRefusedError(
        `Input ${i} asks for sighash type ${name}; Keyward signs SIGHASH_ALL only (the signature then covers every input and output).`,
      );
    }
    const utxo = input.witnessUtxo;
    if (utxo === undefined) {
      throw new PsbtRefusedError(
        `Input ${i} (${outpoint}) has no witness UTXO: the wallet backend must include the output it spends (script and amount).`,
      );
    }
    if (!Buffer.from(utxo.script).equals(Buffer.from(own.script))) {
      const spent = destinationOf(utxo.script, network);
      throw new PsbtRefusedError(
        spent?.kind === "p2wpkh"
          ? `Input ${i} (${outpoint}) spends from ${spent.address}, not from this key's address ${own.address}.`
          : `Input ${i} (${outpoint}) spends ${spent ? `a ${spent.kind.toUpperCase()} output` : scriptKind(utxo.script)}; Keyward signs only P2WPKH inputs of this key's address ${own.address}.`,
      );
    }
    if (input.redeemScript !== undefined || input.witnessScript !== undefined) {
      throw new PsbtRefusedError(
        `Input ${i} carries a redeem or witness script, which a P2WPKH input never has.`,
      );
    }
    if (utxo.value <= 0n || utxo.value > MAX_MONEY) {
      throw new PsbtRefusedError(
        `Input ${i} (${outpoint}) claims ${utxo.value} satoshis, which no output can hold.`,
      );
    }
    // The previous transaction proves the amount: a segwit v0 signature commits only to the amount it is told,
    // so a backend could understate one input in one PSBT and another in a second PSBT of the same payment,
    // and the two half-valid signature sets would combine into a transaction whose fee neither showed (the
    // 2020 "segwit fee attack"; hardware wallets ask for the same). Its txid is checked against the input.
    if (input.nonWitnessUtxo === undefined) {
      throw new PsbtRefusedError(
        `Input ${i} (${outpoint}) has no previous transaction (non-witness UTXO): Keyward needs it to prove the input's amount, so that the fee shown is the fee paid.`,
      );
    }
    let previous: Transaction;
    try {
      previous = Transaction.fromBuffer(input.nonWitnessUtxo);
    } catch {
      throw new PsbtRefusedError(`Input ${i}'s previous transaction does not decode.`);
    }
    const out = previous.outs[prevout.index];
    if (previous.getId() !== txidOf(prevout.hash) || out === undefined) {
      throw new PsbtRefusedError(`Input ${i}'s previous transaction is not ${txidOf(prevout.hash)}.`);
    }
    if (out.value !== utxo.value || !Buffer.from(out.script).equals(Buffer.from(utxo.script))) {
      throw new PsbtRefusedError(
        `Input ${i}'s witness UTXO (${utxo.value} sat) differs from the output of its previous transaction (${out.value} sat).`,
      );
    }
    values.push(utxo.value);
    totalIn += utxo.value;
  });
  if (totalIn > MAX_MONEY) throw new PsbtRefusedError("The inputs add up to more than 21 million BTC.");

  let totalOut = 0n;
  const transfers: DecodedTransaction["transfers"] = [];
  const lines: DecodedTransaction["lines"] = [
    { label: "Network", value: `Bitcoin ${network}` },
    { label: "From", value: own.address },
  ];
  outputs.forEach((output, i) => {
    const to = destinationOf(output.script, network);
    if (to === undefined) {
      throw new PsbtRefusedError(
        `Output ${i} pays to ${scriptKind(output.script)}; Keyward pays only to segwit addresses.`,
      );
    }
    if (output.value > MAX_MONEY) throw new PsbtRefusedError(`Output ${i} pays more than 21 million BTC.`);
    if (output.value < DUST[to.kind]) {
      throw new PsbtRefusedError(
        `Output ${i} pays ${output.value} satoshis to ${to.address}, below the dust limit of ${DUST[to.kind]}: nodes would not relay it.`,
      );
    }
    totalOut += output.value;
    if (totalOut > MAX_MONEY) throw new PsbtRefusedError("The outputs add up to more than 21 million BTC.");
    const change = to.address === own.address;
    transfers.push({
      asset: "BTC",
      amount: output.value,
      destination: to.address,
      ...(change ? { change } : {}),
    });
    lines.push({
      label: change ? "Change back to the key" : "Pays",
      value: `${btc(output.value)} to ${to.address}`,
    });
  });
  if (totalIn < totalOut) {
    throw new PsbtRefusedError(
      `The inputs (${btc(totalIn)}) do not cover the outputs (${btc(totalOut)}); ${btc(totalOut - totalIn)} is missing.`,
    );
  }
  const fee = totalIn - totalOut;
  lines.push(
    { label: "Inputs", value: `${inputs.length} from ${own.address}, ${btc(totalIn)} in all` },
    { label: "Fee", value: `${btc(fee)} (${fee} sat, about ${feeRate(fee, psbt)} sat/vB)` },
  );
  if (inputs.some((input) => (input.sequence ?? 0xffffffff) < 0xfffffffe)) {
    lines.push({
      label: "Replaceable",
      value: "Yes (BIP 125): until it confirms, a version with a higher fee can replace it",
    });
  }
  if (psbt.locktime !== 0) {
    const when =
      psbt.locktime < 500_000_000
        ? `block ${psbt.locktime}`
        : `${new Date(psbt.locktime * 1000).toISOString().replace("T", " ").slice(0, 16)} UTC`;
    lines.push({ label: "Not valid before", value: when });
  }
  const decoded: DecodedTransaction = {
    chain: "bitcoin",
    network,
    from: own.address,
    transfers,
    maxFee: fee,
    lines,
  };
  return { psbt, decoded, keyHash: own.script.subarray(2), values };
}

/**
 * What the wallet backend's unsigned PSBT (base64) does, decoded from its bytes, or a PsbtRefusedError naming the
 * input or output: every input P2WPKH of `from` with its witness UTXO and previous transaction, unsigned, SIGHASH_ALL (or unset); every
 * output to a segwit address, above dust; outputs back to `from` are change (`change: true`); the fee is inputs
 * minus outputs, and the inputs must cover the outputs.
 */
export function decodePsbt(psbtBase64: string, network: BitcoinNetwork, from: string): DecodedTransaction {
  return check(psbtBase64, network, from).decoded;
}

function digests(checked: Checked): Uint8Array[] {
  const tx = Transaction.fromBuffer(checked.psbt.data.getTransaction());
  // BIP143: a P2WPKH input's scriptCode is the P2PKH script of its key hash.
  const scriptCode = payments.p2pkh({ hash: checked.keyHash }).output;
  if (scriptCode === undefined) throw new Error("bitcoinjs-lib gave no P2PKH script");
  return checked.values.map((value, i) => tx.hashForWitnessV0(i, scriptCode, value, Transaction.SIGHASH_ALL));
}

/** One 32-byte BIP143 digest (SIGHASH_ALL) per input, in input order, for CKM_ECDSA; the PSBT is checked first. */
export function signingRequests(psbtBase64: string, network: BitcoinNetwork, from: string): SigningRequest[] {
  return digests(check(psbtBase64, network, from)).map((data) => ({ curve: "secp256k1", data }));
}

/**
 * The signed transaction from the PSBT and one HSM signature (64 bytes r || s, any S) per input, in input order:
 * each made low-S, verified against the key and its input's BIP143 digest (noble, low-S required), DER-encoded
 * with SIGHASH_ALL as the input's partial signature, checked again by bitcoinjs-lib, finalised and extracted.
 * A signature that does not verify is a BitcoinSignatureError: nothing is returned to broadcast.
 */
export function assemble(
  psbtBase64: string,
  signatures: readonly Uint8Array[],
  publicKeyHex: string,
  network: BitcoinNetwork,
): SignedTransaction {
  const publicKey = compressPublicKey(publicKeyHex);
  const checked = check(psbtBase64, network, bitcoinAddress(publicKeyHex, network));
  const hashes = digests(checked);
  if (signatures.length !== hashes.length) {
    throw new BitcoinSignatureError(
      `The PSBT has ${hashes.length} inputs but ${signatures.length} signatures were given.`,
    );
  }
  const verify = (pubkey: Uint8Array, hash: Uint8Array, signature: Uint8Array) =>
    secp256k1.verify(signature, hash, pubkey, { prehash: false, lowS: true });
  const { psbt } = checked;
  hashes.forEach((hash, i) => {
    const raw = signatures[i];
    if (raw?.length !== 64) {
      throw new BitcoinSignatureError(`The signature for input ${i} is not 64 bytes (r || s).`);
    }
    let signature: ReturnType<typeof secp256k1.Signature.fromBytes>;
    try {
      signature = secp256k1.Signature.fromBytes(raw, "compact").normalizeS();
    } catch {
      throw new BitcoinSignatureError(
        `The signature for input ${i} is not an ECDSA signature (r or s out of range).`,
      );
    }
    if (!verify(publicKey, hash, signature.toBytes("compact"))) {
      throw new BitcoinSignatureError(
        `The signature for input ${i} does not verify against this key and the input's BIP143 digest.`,
      );
    }
    const der = signature.toBytes("der");
    psbt.updateInput(i, {
      partialSig: [{ pubkey: publicKey, signature: Uint8Array.from([...der, Transaction.SIGHASH_ALL]) }],
    });
    // bitcoinjs-lib decodes the DER it now holds and recomputes the digest itself.
    if (!psbt.validateSignaturesOfInput(i, verify, publicKey)) {
      throw new BitcoinSignatureError(`bitcoinjs-lib does not accept the signature for input ${i}.`);
    }
  });
  psbt.finalizeAllInputs();
  // The fee was decoded and held to the approved fee cap; bitcoinjs-lib's own fee-rate guess is not the rule.
  const tx = psbt.extractTransaction(true);
  return { raw: tx.toHex(), txid: tx.getId(), decoded: checked.decoded };
}
