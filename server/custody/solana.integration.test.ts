// Proof by software we did not write: litesvm (the Solana runtime, with the real system, token and associated
// token programs and signature verification) processes our SOL and SPL transfers signed by a real SoftHSM
// Ed25519 key — balances checked — and refuses a transaction whose signature is not the key's, and fails one that
// opens an account with less than the rent-exempt minimum.
import { getBase64EncodedWireTransaction, getTransactionDecoder, type SignatureBytes } from "@solana/kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeHsm } from "@/server/hsm";
import { makeKeyOnToken } from "@/server/hsm/testing/key-on-token";
import { signOnToken } from "@/server/hsm/testing/sign-on-token";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import {
  assemble,
  buildTransfer,
  decodeUnsigned,
  SOLANA_FEES,
  type SolanaConfig,
  type SolanaPriority,
  signingRequests,
  solanaAddress,
  wireBytes,
} from "./solana";
import { createTestSolana, type TestSolana } from "./testing/svm";
import type { Asset } from "./types";

const SOL: Asset = { chain: "solana", symbol: "SOL", name: "Solana", decimals: 9, kind: "native" };

let token: TestToken;
let key: { ref: string; publicKey: string };
let from: string;
let chain: TestSolana;
let usdc: Asset;
let config: SolanaConfig;

beforeAll(async () => {
  token = createTestToken("kw-solana-proof");
  key = await makeKeyOnToken(token, { curve: "ed25519", label: "solana-proof" });
  from = solanaAddress(key.publicKey);
  chain = createTestSolana();
  usdc = chain.createMint({ symbol: "USDC" });
  config = { cluster: "localnet", assets: [SOL, usdc] };
  chain.airdrop(from, 10_000_000_000n);
  await chain.mintTo(from, usdc, 100_000_000n);
});

afterAll(() => {
  closeHsm();
  token?.cleanup();
});

/** A fresh wallet address nobody uses yet (a key on the same token, never signing). */
async function newWallet(): Promise<string> {
  return solanaAddress((await makeKeyOnToken(token, { curve: "ed25519", label: "destination" })).publicKey);
}

async function signed(asset: Asset, destination: string, amount: bigint, priority?: SolanaPriority) {
  const { blockhash, lastValidBlockHeight } = await chain.client.latestBlockhash();
  const built = await buildTransfer({
    from,
    destination,
    asset,
    amount,
    blockhash,
    lastValidBlockHeight,
    priority,
  });
  const signatures = [];
  for (const request of signingRequests(built.unsigned)) {
    expect(request.curve).toBe("ed25519");
    signatures.push(await signOnToken(token, key.ref, request.data));
  }
  return { built, signed: assemble(built.unsigned, signatures, key.publicKey, config) };
}

describe("litesvm processes our transfers signed by the HSM", () => {
  it("a SOL transfer: the destination gets the amount, the sender pays it and the 5,000-lamport fee", async () => {
    const destination = await newWallet();
    const before = await chain.client.balance(from, SOL);
    const { built, signed: tx } = await signed(SOL, destination, 1_500_000_000n);
    const txid = await chain.client.broadcast(tx.raw);
    expect(txid).toBe(tx.txid);
    expect(
      await chain.client.status(txid, { lastValidBlockHeight: built.lastValidBlockHeight }),
    ).toMatchObject({
      state: "confirmed",
      confirmations: 1,
    });
    expect(await chain.client.balance(destination, SOL)).toBe(1_500_000_000n);
    expect(await chain.client.balance(from, SOL)).toBe(
      before - 1_500_000_000n - SOLANA_FEES.lamportsPerSignature,
    );
    expect(decodeUnsigned(tx.raw, config).transfers).toEqual([
      { asset: "SOL", amount: 1_500_000_000n, destination },
    ]);
    chain.advance(2n);
    expect(
      await chain.client.status(txid, { lastValidBlockHeight: built.lastValidBlockHeight }),
    ).toMatchObject({
      state: "confirmed",
      confirmations: 3,
    });
  });

  it("an SPL transfer creates the destination's token account, then a second one finds it there", async () => {
    const destination = await newWallet();
    expect(await chain.client.hasTokenAccount(destination, usdc)).toBe(false);
    const lamportsBefore = await chain.client.balance(from, SOL);
    const first = await signed(usdc, destination, 2_500_000n);
    await chain.client.broadcast(first.signed.raw);
    expect(await chain.client.hasTokenAccount(destination, usdc)).toBe(true);
    expect(await chain.client.balance(destination, usdc)).toBe(2_500_000n);
    expect(await chain.client.balance(from, usdc)).toBe(97_500_000n);
    // The fee payer paid the fee and the new token account's rent-exempt deposit: exactly the decoded maxFee.
    expect(await chain.client.balance(from, SOL)).toBe(lamportsBefore - first.signed.decoded.maxFee);

    chain.advance();
    const lamportsBetween = await chain.client.balance(from, SOL);
    const second = await signed(usdc, destination, 500_000n);
    await chain.client.broadcast(second.signed.raw);
    expect(await chain.client.balance(destination, usdc)).toBe(3_000_000n);
    expect(await chain.client.balance(from, usdc)).toBe(97_000_000n);
    expect(await chain.client.balance(from, SOL)).toBe(lamportsBetween - SOLANA_FEES.lamportsPerSignature);
  });

  it("a SOL transfer with a priority fee: the sender pays exactly the decoded maxFee", async () => {
    const destination = await newWallet();
    const before = await chain.client.balance(from, SOL);
    const { signed: tx } = await signed(SOL, destination, 1_000_000_000n, {
      computeUnits: 20_000,
      microLamportsPerUnit: 250_000n,
    });
    expect(tx.decoded.maxFee).toBe(SOLANA_FEES.lamportsPerSignature + 5_000n);
    await chain.client.broadcast(tx.raw);
    expect(await chain.client.balance(destination, SOL)).toBe(1_000_000_000n);
    expect(await chain.client.balance(from, SOL)).toBe(before - 1_000_000_000n - tx.decoded.maxFee);
  });

  it("opening an account with less than the rent-exempt minimum fails in the runtime, and the fee is kept", async () => {
    // Why prepare (server/withdrawals/prepare.ts) refuses such a withdrawal before anyone votes.
    const minimum = await chain.client.rentExemptMinimum(0);
    expect(minimum).toBe(890_880n);
    const destination = await newWallet();
    const before = await chain.client.balance(from, SOL);
    const { built, signed: tx } = await signed(SOL, destination, minimum - 1n);
    const txid = await chain.client.broadcast(tx.raw);
    expect(
      await chain.client.status(txid, { lastValidBlockHeight: built.lastValidBlockHeight }),
    ).toMatchObject({ state: "failed", reason: expect.stringContaining("InsufficientFundsForRent") });
    expect(await chain.client.balance(destination, SOL)).toBe(0n);
    expect(await chain.client.balance(from, SOL)).toBe(before - SOLANA_FEES.lamportsPerSignature);
    // The minimum itself opens it.
    chain.advance(1n);
    await chain.client.broadcast((await signed(SOL, destination, minimum)).signed.raw);
    expect(await chain.client.balance(destination, SOL)).toBe(minimum);
  });

  it("refuses a transaction whose signature is not the key's: assemble first, and litesvm itself", async () => {
    const destination = await newWallet();
    const { blockhash, lastValidBlockHeight } = await chain.client.latestBlockhash();
    const built = await buildTransfer({
      from,
      destination,
      asset: SOL,
      amount: 1_000_000n,
      blockhash,
      lastValidBlockHeight,
    });
    const [request] = signingRequests(built.unsigned);
    if (!request) throw new Error("no signing request");
    // A real HSM signature, but over other bytes (a message with one byte changed).
    const otherMessage = Uint8Array.from(request.data);
    otherMessage[otherMessage.length - 1] = (otherMessage[otherMessage.length - 1] ?? 0) ^ 1;
    const wrong = await signOnToken(token, key.ref, otherMessage);
    expect(() => assemble(built.unsigned, [wrong], key.publicKey, config)).toThrow(/does not verify/);

    // Past our own check, straight to the engine: the wire transaction with that signature put in by hand.
    const transaction = getTransactionDecoder().decode(wireBytes(built.unsigned));
    const forged = getBase64EncodedWireTransaction({
      ...transaction,
      signatures: { [from]: new Uint8Array(wrong) as SignatureBytes },
    });
    const before = await chain.client.balance(from, SOL);
    await expect(chain.client.broadcast(forged)).rejects.toThrow(/refused.*SignatureFailure/);
    expect(await chain.client.balance(destination, SOL)).toBe(0n);
    expect(await chain.client.balance(from, SOL)).toBe(before);
    // And the good signature over the right bytes is accepted.
    const good = assemble(
      built.unsigned,
      [await signOnToken(token, key.ref, request.data)],
      key.publicKey,
      config,
    );
    await chain.client.broadcast(good.raw);
    expect(await chain.client.balance(destination, SOL)).toBe(1_000_000n);
  });
});
