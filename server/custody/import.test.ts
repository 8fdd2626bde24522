// Unit tests of reading imported unsigned transactions (ethereum.importUnsigned, solana.importUnsigned): what a
// wallet backend hands over becomes the exact bytes Keyward stores and signs — Ethereum lower-case hex of the same
// bytes, Solana the unsigned wire transaction (a message alone is wrapped, its bytes unchanged) — and anything
// already signed, of another type, non-canonical or not a transaction is refused.
import { ed25519 } from "@noble/curves/ed25519";
import { getTransferSolInstruction } from "@solana-program/system";
import {
  appendTransactionMessageInstructions,
  type Blockhash,
  compileTransaction,
  createNoopSigner,
  createTransactionMessage,
  getBase58Decoder,
  getBase64Decoder,
  getBase64EncodedWireTransaction,
  address as kitAddress,
  pipe,
  setTransactionMessageFeePayer,
  setTransactionMessageLifetimeUsingBlockhash,
} from "@solana/kit";
import { numberToHex, serializeTransaction, toRlp } from "viem";
import { describe, expect, it } from "vitest";
import { AppError } from "@/server/errors";
import * as ethereum from "./ethereum";
import * as solana from "./solana";
import type { Asset } from "./types";

const SOL: Asset = { chain: "solana", symbol: "SOL", name: "Solana", decimals: 9, kind: "native" };
const ETH: Asset = { chain: "ethereum", symbol: "ETH", name: "Ether", decimals: 18, kind: "native" };
const TO = "0x000000000000000000000000000000000000bEEF";

function errorOf(call: () => unknown): AppError {
  try {
    call();
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error("expected a refusal");
}

describe("ethereum.importUnsigned", () => {
  const tx = {
    type: "eip1559",
    chainId: 31337,
    nonce: 4,
    gas: 21_000n,
    maxFeePerGas: 3_000_000_000n,
    maxPriorityFeePerGas: 1_000_000_000n,
    to: TO,
    value: 10n ** 17n,
  } as const;

  it("keeps the very bytes, as lower-case hex, and reads their nonce and fees", () => {
    const raw = serializeTransaction(tx);
    const upper = `0x${raw.slice(2).toUpperCase()}`;
    expect(ethereum.importUnsigned(`  ${upper}\n`)).toBe(raw.toLowerCase());
    expect(ethereum.unsignedFields(raw)).toEqual({
      nonce: 4,
      chainId: 31337,
      gas: 21_000n,
      maxFeePerGas: 3_000_000_000n,
      maxPriorityFeePerGas: 1_000_000_000n,
    });
    const decoded = ethereum.decodeUnsigned(raw, { assets: [ETH], from: TO });
    expect(decoded).toMatchObject({ network: "31337", nonce: "4", maxFee: 21_000n * 3_000_000_000n });
  });

  it.each([
    ["not hex", "02f8", /0x-hex/],
    [
      "a legacy transaction",
      serializeTransaction({
        type: "legacy",
        chainId: 31337,
        nonce: 4,
        gas: 21_000n,
        gasPrice: 1n,
        to: TO,
        value: 1n,
      }),
      /EIP-1559/,
    ],
    [
      "a signed one",
      serializeTransaction(tx, { r: `0x${"11".repeat(32)}`, s: `0x${"22".repeat(32)}`, yParity: 0 }),
      /already signed/,
    ],
    [
      // Hand-made RLP: viem will not serialise a tip above the fee cap.
      "a priority fee above its max fee",
      `0x02${toRlp([
        numberToHex(31337),
        numberToHex(4),
        numberToHex(4_000_000_000n),
        numberToHex(3_000_000_000n),
        numberToHex(21_000),
        TO.toLowerCase() as `0x${string}`,
        numberToHex(10n ** 17n),
        "0x",
        [],
      ]).slice(2)}`,
      /cannot be higher than the fee cap|above its max fee/,
    ],
    ["trailing bytes", `${serializeTransaction(tx)}00`, /decode|canonical/],
  ])("refuses %s", (_what, raw, message) => {
    const error = errorOf(() => ethereum.importUnsigned(raw));
    expect(error.code).toBe("BAD_INPUT");
    expect(error.message).toMatch(message);
  });
});

describe("solana.importUnsigned", () => {
  const key = ed25519.utils.randomPrivateKey();
  const from = solana.solanaAddress(Buffer.from(ed25519.getPublicKey(key)).toString("hex"));
  const to = solana.solanaAddress(
    Buffer.from(ed25519.getPublicKey(ed25519.utils.randomPrivateKey())).toString("hex"),
  );
  const blockhash = getBase58Decoder().decode(new Uint8Array(32).fill(9)) as Blockhash;

  /** A legacy message built with @solana/kit's own builders, as a wallet backend would. */
  function backendTransaction(version: "legacy" | 0) {
    const message = pipe(
      createTransactionMessage({ version }),
      (m) => setTransactionMessageFeePayer(kitAddress(from), m),
      (m) => setTransactionMessageLifetimeUsingBlockhash({ blockhash, lastValidBlockHeight: 100n }, m),
      (m) =>
        appendTransactionMessageInstructions(
          [
            getTransferSolInstruction({
              source: createNoopSigner(kitAddress(from)),
              destination: kitAddress(to),
              amount: 1_000_000n,
            }),
          ],
          m,
        ),
    );
    return compileTransaction(message);
  }

  it.each(["legacy", 0] as const)("a %s unsigned wire transaction is kept as it is", (version) => {
    const wire = getBase64EncodedWireTransaction(backendTransaction(version));
    const imported = solana.importUnsigned(wire);
    expect(imported).toBe(wire);
    const decoded = solana.decodeUnsigned(imported, { cluster: "localnet", assets: [SOL] });
    expect(decoded).toMatchObject({ from, nonce: blockhash, maxFee: 5000n });
    expect(decoded.transfers).toEqual([{ asset: "SOL", amount: 1_000_000n, destination: to }]);
    expect(solana.blockhashOf(imported)).toBe(blockhash);
  });

  it.each(["legacy", 0] as const)(
    "a %s message alone becomes the unsigned transaction carrying it",
    (version) => {
      const transaction = backendTransaction(version);
      const message = getBase64Decoder().decode(transaction.messageBytes);
      const imported = solana.importUnsigned(message);
      expect(imported).toBe(getBase64EncodedWireTransaction(transaction));
      // What the key signs is the very message the backend made.
      const [request] = solana.signingRequests(imported);
      expect(Buffer.from(request?.data ?? []).equals(Buffer.from(transaction.messageBytes))).toBe(true);
    },
  );

  it("refuses a transaction that is already signed, bytes after it, and what is not a transaction", () => {
    const transaction = backendTransaction(0);
    const signed = getBase64EncodedWireTransaction({
      ...transaction,
      signatures: { [from]: ed25519.sign(new Uint8Array(transaction.messageBytes), key) },
    } as typeof transaction);
    expect(errorOf(() => solana.importUnsigned(signed)).message).toMatch(/already signed/);
    const wire = Buffer.from(getBase64EncodedWireTransaction(transaction), "base64");
    const longer = Buffer.concat([wire, Buffer.from([0])]).toString("base64");
    expect(errorOf(() => solana.importUnsigned(longer)).code).toBe("BAD_INPUT");
    expect(errorOf(() => solana.importUnsigned("aGVsbG8gd29ybGQ=")).message).toMatch(
      /neither an unsigned wire transaction nor a message|not a legacy or v0/,
    );
    expect(errorOf(() => solana.importUnsigned("not base64!")).message).toMatch(/base64/);
  });
});
