// Proof by software we did not write: EIP-1559 transactions built by server/custody/ethereum.ts and signed by a
// real SoftHSM secp256k1 key (CKM_ECDSA through the HSM pool: r ‖ s, either S, no recovery id) are accepted and
// mined by EDR (the EVM inside Hardhat) — an ETH transfer and an ERC-20 transfer of OpenZeppelin's ERC20,
// balances checked before and after — while the high-S twin and the wrong-yParity form of an HSM signature are
// refused by the chain and never move the key's funds. One EDR chain and one token for the whole file.
import {
  type Hex,
  hexToBytes,
  keccak256,
  parseTransaction,
  recoverTransactionAddress,
  serializeTransaction,
  type TransactionSerializableEIP1559,
} from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeHsm } from "@/server/hsm";
import { HsmPool } from "@/server/hsm/testing/bench";
import { makeKeyOnToken } from "@/server/hsm/testing/key-on-token";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import {
  assemble,
  buildTransfer,
  decodeUnsigned,
  ethereumAddress,
  signingRequests,
  suggestFees,
} from "./ethereum";
import { startTestEvm, type TestEvm } from "./testing/evm";
import type { Asset } from "./types";

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const ETH: Asset = { chain: "ethereum", symbol: "ETH", name: "Ether", decimals: 18, kind: "native" };
const DESTINATION = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

let token: TestToken;
let pool: HsmPool;
let key: { ref: string; publicKey: string };
let from: string;
let evm: TestEvm;
let usdc: Asset;
let assets: Asset[];

beforeAll(async () => {
  token = createTestToken("kw-ethereum");
  key = await makeKeyOnToken(token, { curve: "secp256k1", label: "ethereum proof" });
  pool = await HsmPool.start(token.config, { size: 1 });
  from = ethereumAddress(key.publicKey);
  evm = await startTestEvm();
  await evm.setBalance(from, 10n ** 18n); // 1 ETH for value and gas
  usdc = await evm.deployToken({ holder: from, amount: 1_000_000_000n }); // 1,000 USDC
  assets = [ETH, usdc];
});

afterAll(async () => {
  await pool?.close();
  closeHsm();
  token?.cleanup();
});

/** The HSM's own signature (64 bytes r ‖ s, as CKM_ECDSA gives it) over the transaction's one digest. */
async function hsmSign(unsigned: string): Promise<Buffer> {
  const [request, ...more] = signingRequests(unsigned);
  if (request === undefined || more.length > 0) throw new Error("expected one signing request");
  return pool.execute({ op: "sign", ref: key.ref, data: request.data });
}

async function unsignedTransfer(asset: Asset, amount: bigint): Promise<Hex> {
  const fees = suggestFees(await evm.client.fees());
  return buildTransfer({
    chainId: await evm.client.chainId(),
    asset,
    amount,
    destination: DESTINATION,
    nonce: await evm.client.pendingNonce(from),
    ...fees,
  });
}

/** The signed transaction with r, s and yParity as given, bypassing assemble (which would refuse or fix them). */
function withSignature(unsigned: Hex, r: bigint, s: bigint, yParity: number): Hex {
  const { r: _r, s: _s, v: _v, yParity: _y, ...fields } = parseTransaction(unsigned);
  return serializeTransaction(fields as TransactionSerializableEIP1559, {
    r: `0x${r.toString(16).padStart(64, "0")}`,
    s: `0x${s.toString(16).padStart(64, "0")}`,
    yParity,
  });
}

async function refusal(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  throw new Error("expected the chain to refuse the transaction");
}

describe("EDR accepts and mines our HSM-signed EIP-1559 transfers", () => {
  it("an ETH transfer: mined with status success, the value moved and the fee paid by the key", async () => {
    const amount = 123_456_789_000_000n; // 0.000123456789 ETH
    const unsigned = await unsignedTransfer(ETH, amount);
    expect(decodeUnsigned(unsigned, { assets, from }).transfers).toEqual([
      { asset: "ETH", amount, destination: DESTINATION },
    ]);
    const before = {
      from: await evm.client.balance(from, ETH),
      to: await evm.client.balance(DESTINATION, ETH),
    };
    const nonceBefore = await evm.client.minedNonce(from);

    const signed = assemble(unsigned, [await hsmSign(unsigned)], { publicKey: key.publicKey, assets });
    expect(await recoverTransactionAddress({ serializedTransaction: signed.raw as `0x02${string}` })).toBe(
      from,
    );
    const txid = await evm.client.broadcast(signed.raw);
    expect(txid).toBe(signed.txid);

    const receipt = await evm.receipt(txid);
    expect(receipt?.status).toBe("success");
    expect(receipt?.type).toBe("eip1559");
    expect(receipt?.from.toLowerCase()).toBe(from.toLowerCase());
    const fee = (receipt?.gasUsed ?? 0n) * (receipt?.effectiveGasPrice ?? 0n);
    expect(fee).toBeGreaterThan(0n);
    expect(fee).toBeLessThanOrEqual(signed.decoded.maxFee);
    expect(await evm.client.balance(DESTINATION, ETH)).toBe(before.to + amount);
    expect(await evm.client.balance(from, ETH)).toBe(before.from - amount - fee);
    expect(await evm.client.minedNonce(from)).toBe(nonceBefore + 1);
    expect(await evm.client.status(txid, { from, nonce: nonceBefore })).toMatchObject({
      state: "confirmed",
      confirmations: 1,
    });
  });

  it("an ERC-20 transfer of OpenZeppelin's ERC20: the tokens moved, the key paid the gas in ETH", async () => {
    const amount = 2_500_000n; // 2.5 USDC
    const unsigned = await unsignedTransfer(usdc, amount);
    expect(decodeUnsigned(unsigned, { assets, from }).transfers).toEqual([
      { asset: "USDC", amount, destination: DESTINATION },
    ]);
    const before = {
      from: await evm.client.balance(from, usdc),
      to: await evm.client.balance(DESTINATION, usdc),
      eth: await evm.client.balance(from, ETH),
    };
    expect(before.from).toBe(1_000_000_000n);

    const signed = assemble(unsigned, [await hsmSign(unsigned)], { publicKey: key.publicKey, assets });
    const txid = await evm.client.broadcast(signed.raw);
    const receipt = await evm.receipt(txid);
    expect(receipt?.status).toBe("success");
    expect(receipt?.to?.toLowerCase()).toBe(usdc.contract?.toLowerCase());
    expect(receipt?.logs).toHaveLength(1); // Transfer(from, to, amount)
    const fee = (receipt?.gasUsed ?? 0n) * (receipt?.effectiveGasPrice ?? 0n);
    expect(await evm.client.balance(from, usdc)).toBe(before.from - amount);
    expect(await evm.client.balance(DESTINATION, usdc)).toBe(before.to + amount);
    expect(await evm.client.balance(from, ETH)).toBe(before.eth - fee);
  });

  it("mines a run of transfers in nonce order, yParity 0 and 1 both met", async () => {
    const parities = new Set<number>();
    // At least 8, then on until both parities were met: 32 HSM signatures of one parity only have odds 2^-31.
    for (let i = 0; i < 32 && (i < 8 || parities.size < 2); i++) {
      const unsigned = await unsignedTransfer(ETH, 1_000n + BigInt(i));
      const signed = assemble(unsigned, [await hsmSign(unsigned)], { publicKey: key.publicKey, assets });
      parities.add(parseTransaction(signed.raw as Hex).yParity ?? -1);
      const receipt = await evm.receipt(await evm.client.broadcast(signed.raw));
      expect(receipt?.status).toBe("success");
    }
    expect([...parities].sort()).toEqual([0, 1]);
  });
});

describe("EDR refuses what a careless assembler would send", () => {
  it("the high-S twin of a valid HSM signature is refused; the same transaction, low-S, is then mined", async () => {
    const unsigned = await unsignedTransfer(ETH, 7_000n);
    const digest = hexToBytes(keccak256(unsigned));
    expect(signingRequests(unsigned)[0]?.data).toEqual(digest);
    const good = assemble(unsigned, [await hsmSign(unsigned)], { publicKey: key.publicKey, assets });
    const tx = parseTransaction(good.raw as Hex);
    const r = BigInt(tx.r ?? "0x0");
    const s = BigInt(tx.s ?? "0x0");
    expect(s <= SECP256K1_N / 2n).toBe(true);
    // Same r, s' = n - s, the recovery bit flipped: mathematically a valid signature by the same key (EIP-2 forbids it).
    const highS = withSignature(unsigned, r, SECP256K1_N - s, 1 - (tx.yParity ?? 0));
    const balance = await evm.client.balance(from, ETH);
    const nonce = await evm.client.minedNonce(from);

    const message = await refusal(evm.client.broadcast(highS));
    expect(message).toMatch(/Invalid Signature/);
    expect(await evm.client.balance(from, ETH)).toBe(balance);
    expect(await evm.client.minedNonce(from)).toBe(nonce);
    // assemble() makes the low-S form from the high-S twin: the very transaction `good` is.
    expect(
      assemble(unsigned, [Buffer.from(hexTwin(r, SECP256K1_N - s), "hex")], {
        publicKey: key.publicKey,
        assets,
      }).raw,
    ).toBe(good.raw);
    expect((await evm.receipt(await evm.client.broadcast(good.raw)))?.status).toBe("success");
  });

  it("the wrong yParity names another sender: the chain refuses it and the key's funds and nonce stay", async () => {
    const unsigned = await unsignedTransfer(ETH, 8_000n);
    const good = assemble(unsigned, [await hsmSign(unsigned)], { publicKey: key.publicKey, assets });
    const tx = parseTransaction(good.raw as Hex);
    const wrong = withSignature(
      unsigned,
      BigInt(tx.r ?? "0x0"),
      BigInt(tx.s ?? "0x0"),
      1 - (tx.yParity ?? 0),
    );
    const recovered = await recoverTransactionAddress({
      serializedTransaction: wrong as `0x02${string}`,
    }).catch(() => null);
    expect(recovered).not.toBe(from);
    const balance = await evm.client.balance(from, ETH);
    const nonce = await evm.client.minedNonce(from);

    const error = await evm.client.broadcast(wrong).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).not.toBeNull();
    // Whoever the wrong bit names holds no ETH (or no such point exists): either way nothing moved from the key.
    expect(String(error instanceof Error ? error.message : error)).toMatch(
      /insufficient funds|signature|invalid/i,
    );
    expect(await evm.client.balance(from, ETH)).toBe(balance);
    expect(await evm.client.minedNonce(from)).toBe(nonce);
  });
});

function hexTwin(r: bigint, s: bigint): string {
  return r.toString(16).padStart(64, "0") + s.toString(16).padStart(64, "0");
}
