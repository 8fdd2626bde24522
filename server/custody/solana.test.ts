// Unit tests of server/custody/solana.ts with a software Ed25519 key (noble): addresses, parsing, build →
// decode round trips, refusals of shapes Keyward does not build, and assembly refusing a bad signature.
// The proof against a real engine and a real HSM key is solana.integration.test.ts.
import { ed25519 } from "@noble/curves/ed25519";
import {
  findAssociatedTokenPda,
  getTransferCheckedInstruction,
  TOKEN_PROGRAM_ADDRESS,
} from "@solana-program/token";
import { getTransferSolInstruction } from "@solana-program/system";
import {
  address,
  appendTransactionMessageInstructions,
  type Blockhash,
  compileTransaction,
  createNoopSigner,
  createTransactionMessage,
  getBase58Decoder,
  getBase64EncodedWireTransaction,
  pipe,
  setTransactionMessageFeePayer,
  setTransactionMessageLifetimeUsingBlockhash,
} from "@solana/kit";
import { describe, expect, it } from "vitest";
import { AppError } from "@/server/errors";
import * as solana from "./solana";
import {
  assemble,
  buildTransfer,
  decodeUnsigned,
  parseAddress,
  SOLANA_FEES,
  type SolanaConfig,
  signingRequests,
  solanaAddress,
} from "./solana";
import type { Asset } from "./types";

const SOL: Asset = { chain: "solana", symbol: "SOL", name: "Solana", decimals: 9, kind: "native" };
const MINT = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU";
const USDC: Asset = {
  chain: "solana",
  symbol: "USDC",
  name: "USD Coin",
  decimals: 6,
  kind: "spl",
  contract: MINT,
};
const config: SolanaConfig = { cluster: "devnet", assets: [SOL, USDC] };

const secret = ed25519.utils.randomPrivateKey();
const publicKeyHex = Buffer.from(ed25519.getPublicKey(secret)).toString("hex");
const from = solanaAddress(publicKeyHex);
const other = solanaAddress(
  Buffer.from(ed25519.getPublicKey(ed25519.utils.randomPrivateKey())).toString("hex"),
);
const blockhash = getBase58Decoder().decode(new Uint8Array(32).fill(7));

function errorOf(call: () => unknown): AppError {
  try {
    call();
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error("expected an AppError");
}

describe("addresses", () => {
  it("is base58 of the public key's bytes", () => {
    expect(solanaAddress("00".repeat(32))).toBe("11111111111111111111111111111111");
    expect(parseAddress(from)).toEqual({ ok: true, address: from });
    expect(() => solanaAddress("00".repeat(33))).toThrow(/32 bytes/);
  });

  it("says why an input is not an address", () => {
    expect(parseAddress("")).toMatchObject({ ok: false, reason: expect.stringMatching(/empty/) });
    expect(parseAddress(`0${from.slice(1)}`)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/"0", which is not a base58 character/),
    });
    expect(parseAddress(from.slice(0, 20))).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/bytes; a Solana address is 32/),
    });
    expect(parseAddress(`  ${from} `)).toEqual({ ok: true, address: from });
  });

  it("refuses an off-curve address (a token account) unless asked, saying why", async () => {
    const [ata] = await findAssociatedTokenPda({
      owner: address(from),
      mint: address(MINT),
      tokenProgram: TOKEN_PROGRAM_ADDRESS,
    });
    expect(parseAddress(ata)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/program-derived address/),
    });
    expect(parseAddress(ata, { allowOffCurve: true })).toEqual({ ok: true, address: ata });
  });
});

describe("build and decode", () => {
  it("decodes a SOL transfer back into exactly its intent", async () => {
    const built = await buildTransfer({
      from,
      destination: other,
      asset: SOL,
      amount: 1_500_000_000n,
      blockhash,
      lastValidBlockHeight: 99n,
    });
    expect(built.lastValidBlockHeight).toBe(99n);
    const decoded = decodeUnsigned(built.unsigned, config);
    expect(decoded).toMatchObject({
      chain: "solana",
      network: "devnet",
      from,
      nonce: blockhash,
      maxFee: SOLANA_FEES.lamportsPerSignature,
      transfers: [{ asset: "SOL", amount: 1_500_000_000n, destination: other }],
    });
    expect(decoded.lines).toContainEqual({ label: "Amount", value: "1.5 SOL" });
  });

  it("decodes an SPL transfer to the destination wallet, with the token account deposit in the fee", async () => {
    const built = await buildTransfer({
      from,
      destination: other,
      asset: USDC,
      amount: 2_500_000n,
      blockhash,
      lastValidBlockHeight: 5n,
    });
    const decoded = decodeUnsigned(built.unsigned, config);
    expect(decoded.transfers).toEqual([{ asset: "USDC", amount: 2_500_000n, destination: other }]);
    expect(decoded.maxFee).toBe(SOLANA_FEES.lamportsPerSignature + SOLANA_FEES.tokenAccountRent);
    expect(decoded.lines).toContainEqual({ label: "Amount", value: "2.5 USDC" });
  });

  it("refuses a token that is not in the asset list", async () => {
    const built = await buildTransfer({
      from,
      destination: other,
      asset: USDC,
      amount: 1n,
      blockhash,
      lastValidBlockHeight: 5n,
    });
    const e = errorOf(() => decodeUnsigned(built.unsigned, { ...config, assets: [SOL] }));
    expect(e.message).toMatch(/mint 4zMMC9.* not in the asset list/);
  });

  it("refuses bad intents with the field named", async () => {
    const intent = { from, destination: other, asset: SOL, amount: 1n, blockhash, lastValidBlockHeight: 5n };
    await expect(buildTransfer({ ...intent, amount: 0n })).rejects.toMatchObject({ field: "amount" });
    await expect(buildTransfer({ ...intent, destination: "nope0" })).rejects.toMatchObject({
      field: "destination",
    });
    await expect(buildTransfer({ ...intent, asset: { ...SOL, chain: "ethereum" } })).rejects.toMatchObject({
      field: "asset",
    });
    await expect(buildTransfer({ ...intent, amount: 1n << 64n })).rejects.toMatchObject({ field: "amount" });
  });

  it("refuses shapes Keyward does not build: a second instruction, a transfer not from the fee payer, another signer", async () => {
    const lifetime = { blockhash: blockhash as Blockhash, lastValidBlockHeight: 5n };
    const wire = (
      feePayer: string,
      instructions: Parameters<typeof appendTransactionMessageInstructions>[0],
    ) =>
      getBase64EncodedWireTransaction(
        compileTransaction(
          pipe(
            createTransactionMessage({ version: 0 }),
            (m) => setTransactionMessageFeePayer(address(feePayer), m),
            (m) => setTransactionMessageLifetimeUsingBlockhash(lifetime, m),
            (m) => appendTransactionMessageInstructions(instructions, m),
          ),
        ),
      );
    const pay = (source: string, amount: bigint) =>
      getTransferSolInstruction({
        source: createNoopSigner(address(source)),
        destination: address(other),
        amount,
      });
    expect(errorOf(() => decodeUnsigned(wire(from, [pay(from, 1n), pay(from, 2n)]), config)).message).toMatch(
      /not a single SOL transfer/,
    );
    expect(errorOf(() => decodeUnsigned(wire(from, [pay(other, 1n)]), config)).message).toMatch(
      /signatures|other than the fee payer/,
    );
    const [source] = await findAssociatedTokenPda({
      owner: address(from),
      mint: address(MINT),
      tokenProgram: TOKEN_PROGRAM_ADDRESS,
    });
    // transferChecked alone: no creation naming the destination wallet.
    const bare = getTransferCheckedInstruction({
      source,
      mint: address(MINT),
      destination: source,
      authority: createNoopSigner(address(from)),
      amount: 1n,
      decimals: 6,
    });
    expect(errorOf(() => decodeUnsigned(wire(from, [bare]), config)).message).toMatch(
      /not a single SOL transfer/,
    );
    expect(errorOf(() => decodeUnsigned("%%%", config)).field).toBe("unsigned");
  });
});

describe("priority fees", () => {
  it("puts a unit limit and price before the transfer and counts the priority fee in maxFee", async () => {
    const priority = { computeUnits: 50_000, microLamportsPerUnit: 30_001n };
    expect(solana.priorityFee(priority)).toBe(1501n); // ceil(50,000 × 30,001 / 10^6) = ceil(1500.05)
    const built = await buildTransfer({
      from,
      destination: other,
      asset: SOL,
      amount: 5n,
      blockhash,
      lastValidBlockHeight: 5n,
      priority,
    });
    const decoded = decodeUnsigned(built.unsigned, config);
    expect(decoded.maxFee).toBe(SOLANA_FEES.lamportsPerSignature + 1501n);
    expect(decoded.transfers).toEqual([{ asset: "SOL", amount: 5n, destination: other }]);
    expect(decoded.lines).toContainEqual({
      label: "Priority fee",
      value: "0.000001501 SOL at most (50000 compute units at 30001 micro-lamports each)",
    });
    const spl = await buildTransfer({
      from,
      destination: other,
      asset: USDC,
      amount: 5n,
      blockhash,
      lastValidBlockHeight: 5n,
      priority,
    });
    expect(decodeUnsigned(spl.unsigned, config).maxFee).toBe(
      SOLANA_FEES.lamportsPerSignature + 1501n + SOLANA_FEES.tokenAccountRent,
    );
  });

  it("refuses a bad limit, a price without a limit, and a budget instruction twice", async () => {
    const intent = { from, destination: other, asset: SOL, amount: 1n, blockhash, lastValidBlockHeight: 5n };
    await expect(
      buildTransfer({ ...intent, priority: { computeUnits: 0, microLamportsPerUnit: 1n } }),
    ).rejects.toMatchObject({ field: "priority" });
    await expect(
      buildTransfer({ ...intent, priority: { computeUnits: 1_400_001, microLamportsPerUnit: 1n } }),
    ).rejects.toMatchObject({ field: "priority" });
    const lifetime = { blockhash: blockhash as Blockhash, lastValidBlockHeight: 5n };
    const pay = getTransferSolInstruction({
      source: createNoopSigner(address(from)),
      destination: address(other),
      amount: 1n,
    });
    const price = (micro: bigint) => ({
      programAddress: solana.COMPUTE_BUDGET_PROGRAM,
      data: new Uint8Array([3, ...new Uint8Array(new BigUint64Array([micro]).buffer)]),
    });
    const limit = (units: number) => ({
      programAddress: solana.COMPUTE_BUDGET_PROGRAM,
      data: new Uint8Array([2, ...new Uint8Array(new Uint32Array([units]).buffer)]),
    });
    const wire = (instructions: Parameters<typeof appendTransactionMessageInstructions>[0]) =>
      getBase64EncodedWireTransaction(
        compileTransaction(
          pipe(
            createTransactionMessage({ version: 0 }),
            (m) => setTransactionMessageFeePayer(address(from), m),
            (m) => setTransactionMessageLifetimeUsingBlockhash(lifetime, m),
            (m) => appendTransactionMessageInstructions(instructions, m),
          ),
        ),
      );
    expect(errorOf(() => decodeUnsigned(wire([price(1000n), pay]), config)).message).toMatch(
      /price without a unit limit/,
    );
    expect(errorOf(() => decodeUnsigned(wire([limit(10), limit(20), pay]), config)).message).toMatch(/twice/);
    // A hand-made limit + price decodes as buildTransfer's does.
    expect(decodeUnsigned(wire([limit(200_000), price(1_000_000n), pay]), config).maxFee).toBe(
      5000n + 200_000n,
    );
  });
});

describe("sign and assemble", () => {
  it("puts a verifying signature in; the txid is its base58", async () => {
    const built = await buildTransfer({
      from,
      destination: other,
      asset: SOL,
      amount: 10n,
      blockhash,
      lastValidBlockHeight: 5n,
    });
    const [request] = signingRequests(built.unsigned);
    expect(request?.curve).toBe("ed25519");
    const signature = ed25519.sign(request?.data ?? new Uint8Array(), secret);
    const signed = assemble(built.unsigned, [signature], publicKeyHex, config);
    expect(signed.txid).toBe(getBase58Decoder().decode(signature));
    expect(signed.raw).not.toBe(built.unsigned);
    expect(decodeUnsigned(signed.raw, config)).toEqual(signed.decoded);
  });

  it("refuses a signature that does not verify, and a key that is not the fee payer", async () => {
    const built = await buildTransfer({
      from,
      destination: other,
      asset: SOL,
      amount: 10n,
      blockhash,
      lastValidBlockHeight: 5n,
    });
    const [request] = signingRequests(built.unsigned);
    const signature = ed25519.sign(request?.data ?? new Uint8Array(), secret);
    const bad = Uint8Array.from(signature);
    bad[10] = (bad[10] ?? 0) ^ 1;
    expect(errorOf(() => assemble(built.unsigned, [bad], publicKeyHex, config)).message).toMatch(
      /does not verify/,
    );
    const otherKey = Buffer.from(ed25519.getPublicKey(ed25519.utils.randomPrivateKey())).toString("hex");
    expect(errorOf(() => assemble(built.unsigned, [signature], otherKey, config)).message).toMatch(
      /not the fee payer/,
    );
    expect(errorOf(() => assemble(built.unsigned, [], publicKeyHex, config)).field).toBe("signatures");
  });
});
