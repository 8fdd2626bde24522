// Proof by software we did not write (issue 14 item 8, Bitcoin): a wallet backend's unsigned PSBT, signed by a
// real SoftHSM secp256k1 key through server/custody/bitcoin.ts, is validated and finalised by bitcoinjs-lib, and
// @scure/btc-signer recomputes every BIP143 sighash itself, accepts every signature against it and produces the
// byte-identical final transaction. A high-S signature is caught by noble's low-S check and by bitcoinjs-lib's
// validation with a strict validator (its default lenient one would have let it through).
import { secp256k1 } from "@noble/curves/secp256k1";
import * as btc from "@scure/btc-signer";
import { networks, Psbt, payments, Transaction } from "bitcoinjs-lib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeHsm } from "@/server/hsm";
import { makeKeyOnToken } from "@/server/hsm/testing/key-on-token";
import { signOnToken } from "@/server/hsm/testing/sign-on-token";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { assemble, bitcoinAddress, compressPublicKey, decodePsbt, signingRequests } from "./bitcoin";
import { fakeUtxos, makePsbtBase64 } from "./testing/psbt";

const REGTEST = { bech32: "bcrt", pubKeyHash: 0x6f, scriptHash: 0xc4, wif: 0xef };
const DEST = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080";
const N = secp256k1.CURVE.n;

let token: TestToken;
let key: { ref: string; publicKey: string };
let from: string;

beforeAll(async () => {
  token = createTestToken("keyward-bitcoin");
  key = await makeKeyOnToken(token, { curve: "secp256k1", label: "bitcoin proof" });
  from = bitcoinAddress(key.publicKey, "regtest");
});

afterAll(() => {
  closeHsm();
  token.cleanup();
});

const strict = (pubkey: Uint8Array, hash: Uint8Array, signature: Uint8Array) =>
  secp256k1.verify(signature, hash, pubkey, { prehash: false, lowS: true });
const lenient = (pubkey: Uint8Array, hash: Uint8Array, signature: Uint8Array) =>
  secp256k1.verify(signature, hash, pubkey, { prehash: false, lowS: false });

/** The backend's PSBT: three inputs of the key (one with its previous transaction), a payment and change. */
function backendPsbt(): string {
  return makePsbtBase64({
    network: "regtest",
    utxos: [...fakeUtxos(from, [40_000n, 25_000n], "regtest"), ...fakeUtxos(from, [120_000n], "regtest")],
    outputs: [
      { address: DEST, value: 150_000n },
      { address: from, value: 33_500n },
    ],
  });
}

describe("a PSBT signed by a SoftHSM secp256k1 key", () => {
  it("is finalised by bitcoinjs-lib and re-checked, byte for byte, by @scure/btc-signer", async () => {
    // @scure/btc-signer derives the same address from the HSM's public key.
    const pubkey = compressPublicKey(key.publicKey);
    expect(btc.p2wpkh(pubkey, REGTEST).address).toBe(from);

    const unsigned = backendPsbt();
    const decoded = decodePsbt(unsigned, "regtest", from);
    expect(decoded.maxFee).toBe(1_500n);
    const requests = signingRequests(unsigned, "regtest", from);
    expect(requests).toHaveLength(3);
    const raw = await Promise.all(requests.map((r) => signOnToken(token, key.ref, r.data)));
    const signed = assemble(unsigned, raw, key.publicKey, "regtest");
    expect(signed.decoded).toEqual(decoded);

    const final = Transaction.fromHex(signed.raw);
    const witnesses = final.ins.map((input) => input.witness);

    // bitcoinjs-lib: the signatures from the final witnesses, put into the unsigned PSBT afresh, validate
    // strictly (low-S) against its own digests, finalise and extract to the same bytes.
    const again = Psbt.fromBase64(unsigned, { network: networks.regtest });
    witnesses.forEach((witness, i) => {
      const [signature, witnessKey] = witness;
      if (signature === undefined || witnessKey === undefined) throw new Error(`input ${i} has no witness`);
      expect(Buffer.from(witnessKey).equals(Buffer.from(pubkey))).toBe(true);
      again.updateInput(i, { partialSig: [{ pubkey, signature }] });
    });
    expect(again.validateSignaturesOfAllInputs(strict)).toBe(true);
    again.finalizeAllInputs();
    expect(again.extractTransaction(true).toHex()).toBe(signed.raw);

    // @scure/btc-signer: its own BIP143 preimage per input equals what Keyward had the HSM sign, each
    // signature verifies against it (noble, low-S), and its finalised transaction is byte-identical.
    const scure = btc.Transaction.fromPSBT(Buffer.from(unsigned, "base64"));
    const scriptCode = btc.OutScript.encode({
      type: "pkh",
      hash: payments.p2wpkh({ pubkey }).hash ?? new Uint8Array(),
    });
    const amounts = [40_000n, 25_000n, 120_000n];
    witnesses.forEach((witness, i) => {
      const [signature] = witness;
      if (signature === undefined) throw new Error(`input ${i} has no signature`);
      const sighash = scure.preimageWitnessV0(i, scriptCode, btc.SigHash.ALL, amounts[i] ?? 0n);
      expect(Buffer.from(sighash).toString("hex")).toBe(Buffer.from(requests[i]?.data ?? []).toString("hex"));
      expect(signature[signature.length - 1]).toBe(btc.SigHash.ALL);
      const ecdsa = secp256k1.Signature.fromBytes(signature.subarray(0, -1), "der");
      expect(ecdsa.hasHighS()).toBe(false);
      expect(
        secp256k1.verify(ecdsa.toBytes("compact"), sighash, pubkey, { prehash: false, lowS: true }),
      ).toBe(true);
      scure.updateInput(i, { partialSig: [[pubkey, signature]] });
    });
    scure.finalize();
    expect(scure.hex).toBe(signed.raw);
    expect(scure.id).toBe(signed.txid);
  });

  it("makes a high-S answer low-S; a high-S signature is caught by noble and strict bitcoinjs validation", async () => {
    const unsigned = makePsbtBase64({
      network: "regtest",
      utxos: fakeUtxos(from, [80_000n], "regtest"),
      outputs: [{ address: DEST, value: 79_000n }],
    });
    const [request] = signingRequests(unsigned, "regtest", from);
    if (request === undefined) throw new Error("one input");
    // SoftHSM 2.6.1 answered low-S in 64 of 64 tries here, but PKCS#11 promises nothing (other HSMs return
    // either half): the high-S twin of a real HSM signature, s' = n - s, is what such an HSM would answer.
    const hsm = secp256k1.Signature.fromBytes(await signOnToken(token, key.ref, request.data), "compact");
    const answer = new secp256k1.Signature(hsm.r, hsm.s > N / 2n ? hsm.s : N - hsm.s).toBytes("compact");
    const pubkey = compressPublicKey(key.publicKey);

    // Keyward's assembly turns it into its low-S twin, which everything accepts.
    const signed = assemble(unsigned, [answer], key.publicKey, "regtest");
    const [lowDer] = Transaction.fromHex(signed.raw).ins[0]?.witness ?? [];
    if (lowDer === undefined) throw new Error("no witness");
    const low = secp256k1.Signature.fromBytes(lowDer.subarray(0, -1), "der");
    const high = secp256k1.Signature.fromBytes(answer, "compact");
    expect(low.r).toBe(high.r);
    expect(low.s).toBe(N - high.s);

    // The high-S one as the HSM gave it: noble's low-S check refuses it…
    expect(strict(pubkey, request.data, answer)).toBe(false);
    expect(lenient(pubkey, request.data, answer)).toBe(true);
    // …and so does bitcoinjs-lib validating with a strict validator, where a lenient one (the trap) accepts it.
    const psbt = Psbt.fromBase64(unsigned, { network: networks.regtest });
    psbt.updateInput(0, {
      partialSig: [{ pubkey, signature: Uint8Array.from([...high.toBytes("der"), Transaction.SIGHASH_ALL]) }],
    });
    expect(psbt.validateSignaturesOfInput(0, strict)).toBe(false);
    expect(psbt.validateSignaturesOfInput(0, lenient)).toBe(true);
  });
});
