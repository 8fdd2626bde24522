// server/custody/ethereum.ts without a chain: addresses against known vectors, address input in words, building
// and decoding ETH and ERC-20 transfers, what decoding refuses, and assembly against viem's own signer (a local
// private key, so the result can be compared byte for byte). The HSM and a real chain are in
// ethereum.integration.test.ts.
import { secp256k1 } from "@noble/curves/secp256k1";
import {
  bytesToHex,
  encodeFunctionData,
  erc20Abi,
  hexToBytes,
  keccak256,
  parseTransaction,
  serializeTransaction,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";
import { AppError } from "@/server/errors";
import {
  assemble,
  buildTransfer,
  decodeSigned,
  decodeUnsigned,
  ERC20_TRANSFER_GAS,
  ethereumAddress,
  type EthereumTransfer,
  parseAddress,
  replaceFees,
  signingRequests,
  suggestFees,
  verifiedParity,
} from "./ethereum";
import type { Asset } from "./types";

const ETH: Asset = { chain: "ethereum", symbol: "ETH", name: "Ether", decimals: 18, kind: "native" };
const USDC: Asset = {
  chain: "ethereum",
  symbol: "USDC",
  name: "USD Coin",
  decimals: 6,
  kind: "erc20",
  contract: "0x1c7D4B196Cb0C7B01d743Fbc6116a902379C7238",
};
const ASSETS = [ETH, USDC];

// Private key 1: the best-known test vector (its address is in every Ethereum test suite).
const KEY_ONE = `0x${"0".repeat(63)}1` as const;
const PUB_ONE = bytesToHex(secp256k1.getPublicKey(hexToBytes(KEY_ONE), false)).slice(2);
const ADDRESS_ONE = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf";
const DEST = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"; // EIP-55's own example

const ethTransfer: EthereumTransfer = {
  chainId: 11155111,
  asset: ETH,
  amount: 1_250_000_000_000_000_000n,
  destination: DEST,
  nonce: 7,
  maxFeePerGas: 30_000_000_000n,
  maxPriorityFeePerGas: 1_000_000_000n,
};

function codeOf(call: () => unknown): string {
  try {
    call();
  } catch (e) {
    if (e instanceof AppError) return `${e.code}: ${e.message}`;
    throw e;
  }
  throw new Error("expected an AppError");
}

describe("ethereumAddress", () => {
  it("derives the EIP-55 address of a public key, with or without 0x", () => {
    expect(ethereumAddress(PUB_ONE)).toBe(ADDRESS_ONE);
    expect(ethereumAddress(`0x${PUB_ONE}`)).toBe(ADDRESS_ONE);
    expect(ethereumAddress(PUB_ONE)).toBe(privateKeyToAccount(KEY_ONE).address);
  });

  it("refuses a compressed or malformed key", () => {
    const compressed = bytesToHex(secp256k1.getPublicKey(hexToBytes(KEY_ONE), true)).slice(2);
    expect(codeOf(() => ethereumAddress(compressed))).toMatch(/^BAD_INPUT: .*65-byte uncompressed/);
    expect(codeOf(() => ethereumAddress("04zz"))).toMatch(/^BAD_INPUT/);
  });
});

describe("parseAddress", () => {
  it("accepts EIP-55 and unchecksummed (all-lower, all-upper) addresses, returning EIP-55", () => {
    expect(parseAddress(DEST)).toEqual({ ok: true, address: DEST });
    expect(parseAddress(` ${DEST.toLowerCase()} `)).toEqual({ ok: true, address: DEST });
    expect(parseAddress(`0x${DEST.slice(2).toUpperCase()}`)).toEqual({ ok: true, address: DEST });
  });

  it("refuses a mixed-case address whose checksum is wrong, in words", () => {
    const flipped = DEST.replace("aAeb", "aaeb");
    const check = parseAddress(flipped);
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.reason).toMatch(/EIP-55 checksum/);
  });

  it("says what is wrong with the shape", () => {
    const reasons = [
      "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
      "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",
      "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg",
      "bc1qxyz",
      "0x0000000000000000000000000000000000000000",
    ].map((input) => {
      const check = parseAddress(input);
      return check.ok ? "ok" : check.reason;
    });
    expect(reasons[0]).toMatch(/starts with 0x/);
    expect(reasons[1]).toMatch(/this one has 39/);
    expect(reasons[2]).toMatch(/only the characters 0-9 and a-f/);
    expect(reasons[3]).toMatch(/0x followed by 40 hexadecimal/);
    expect(reasons[4]).toMatch(/zero address/);
  });
});

describe("buildTransfer and decodeUnsigned", () => {
  it("builds an EIP-1559 ETH transfer and decodes it back", () => {
    const unsigned = buildTransfer(ethTransfer);
    expect(unsigned.startsWith("0x02")).toBe(true);
    const tx = parseTransaction(unsigned);
    expect(tx).toMatchObject({
      type: "eip1559",
      chainId: 11155111,
      nonce: 7,
      gas: 21_000n,
      to: DEST.toLowerCase(),
      value: ethTransfer.amount,
    });
    const decoded = decodeUnsigned(unsigned, { assets: ASSETS, from: ADDRESS_ONE });
    expect(decoded).toMatchObject({
      chain: "ethereum",
      network: "11155111",
      from: ADDRESS_ONE,
      transfers: [{ asset: "ETH", amount: ethTransfer.amount, destination: DEST }],
      maxFee: 21_000n * 30_000_000_000n,
      nonce: "7",
    });
    expect(decoded.lines).toContainEqual({ label: "Amount", value: "1.25 ETH" });
    expect(decoded.lines.find((l) => l.label === "Fee at most")?.value).toMatch(/^0\.00063 ETH/);
  });

  it("builds an ERC-20 transfer call to the configured contract and decodes the token, amount and recipient", () => {
    const unsigned = buildTransfer({ ...ethTransfer, asset: USDC, amount: 1_500_000n });
    const tx = parseTransaction(unsigned);
    expect(tx.to).toBe(USDC.contract?.toLowerCase());
    expect(tx.value ?? 0n).toBe(0n);
    expect(tx.gas).toBe(ERC20_TRANSFER_GAS);
    expect(tx.data).toBe(
      encodeFunctionData({ abi: erc20Abi, functionName: "transfer", args: [DEST, 1_500_000n] }),
    );
    const decoded = decodeUnsigned(unsigned, { assets: ASSETS, from: ADDRESS_ONE });
    expect(decoded.transfers).toEqual([{ asset: "USDC", amount: 1_500_000n, destination: DEST }]);
    expect(decoded.lines).toContainEqual({ label: "Amount", value: "1.5 USDC" });
    expect(decoded.lines).toContainEqual({ label: "Token contract", value: USDC.contract });
  });

  it("refuses bad intents with the field named", () => {
    expect(codeOf(() => buildTransfer({ ...ethTransfer, amount: 0n }))).toMatch(
      /^BAD_INPUT: amount must be more than zero/,
    );
    expect(codeOf(() => buildTransfer({ ...ethTransfer, amount: -1n }))).toMatch(/^BAD_INPUT: amount/);
    expect(
      codeOf(() => buildTransfer({ ...ethTransfer, destination: DEST.replace("aAeb", "aaeb") })),
    ).toMatch(/^BAD_INPUT: destination: .*checksum/);
    expect(codeOf(() => buildTransfer({ ...ethTransfer, maxPriorityFeePerGas: 31_000_000_000n }))).toMatch(
      /priority fee/,
    );
    expect(codeOf(() => buildTransfer({ ...ethTransfer, nonce: -1 }))).toMatch(/nonce/);
    expect(codeOf(() => buildTransfer({ ...ethTransfer, asset: { ...ETH, chain: "solana" } }))).toMatch(
      /not on Ethereum/,
    );
    expect(
      codeOf(() => buildTransfer({ ...ethTransfer, asset: USDC, destination: USDC.contract ?? "" })),
    ).toMatch(/own token contract/);
  });

  const base = {
    type: "eip1559",
    chainId: 1,
    nonce: 0,
    gas: 100_000n,
    maxFeePerGas: 10n,
    maxPriorityFeePerGas: 1n,
  } as const;
  const transferData = encodeFunctionData({ abi: erc20Abi, functionName: "transfer", args: [DEST, 5n] });

  it.each([
    [
      "a legacy transaction",
      serializeTransaction({
        type: "legacy",
        chainId: 1,
        nonce: 0,
        gas: 21_000n,
        gasPrice: 10n,
        to: DEST,
        value: 1n,
      }),
      /0x02/,
    ],
    [
      "a call to an unknown contract",
      serializeTransaction({ ...base, to: DEST, data: transferData }),
      /not a configured token/,
    ],
    [
      "ETH sent with a token call",
      serializeTransaction({ ...base, to: USDC.contract as `0x${string}`, value: 1n, data: transferData }),
      /sends ETH along/,
    ],
    [
      "extra calldata after transfer",
      serializeTransaction({ ...base, to: USDC.contract as `0x${string}`, data: `${transferData}00` }),
      /beyond transfer/,
    ],
    [
      "approve instead of transfer",
      serializeTransaction({
        ...base,
        to: USDC.contract as `0x${string}`,
        data: encodeFunctionData({ abi: erc20Abi, functionName: "approve", args: [DEST, 5n] }),
      }),
      /approve, not transfer/,
    ],
    ["contract creation", serializeTransaction({ ...base, data: "0x6000" }), /creates a contract/],
    [
      "an access list",
      serializeTransaction({
        ...base,
        to: DEST,
        value: 1n,
        accessList: [{ address: DEST, storageKeys: [] }],
      }),
      /access list/,
    ],
    ["nothing moved", serializeTransaction({ ...base, to: DEST, value: 0n }), /moves nothing/],
    ["garbage", "0x02deadbeef", /do not decode/],
  ])("decodeUnsigned refuses %s", (_name, raw, message) => {
    expect(codeOf(() => decodeUnsigned(raw, { assets: ASSETS, from: ADDRESS_ONE }))).toMatch(message);
  });

  it("decodeUnsigned refuses a signed transaction", async () => {
    const signed = await privateKeyToAccount(KEY_ONE).signTransaction({ ...base, to: DEST, value: 1n });
    expect(codeOf(() => decodeUnsigned(signed, { assets: ASSETS, from: ADDRESS_ONE }))).toMatch(
      /already signed/,
    );
  });

  it("suggestFees doubles the base fee and adds the tip", () => {
    expect(suggestFees({ baseFeePerGas: 10n, maxPriorityFeePerGas: 2n })).toEqual({
      maxFeePerGas: 22n,
      maxPriorityFeePerGas: 2n,
    });
  });
});

describe("signingRequests and assemble", () => {
  const signDigest = (digest: Uint8Array) =>
    secp256k1.sign(digest, hexToBytes(KEY_ONE), { prehash: false, lowS: true });

  it("asks for keccak256 of the unsigned serialisation and assembles what viem's own signer makes, byte for byte", async () => {
    for (const transfer of [ethTransfer, { ...ethTransfer, asset: USDC, amount: 42n }]) {
      const unsigned = buildTransfer(transfer);
      const [request, ...more] = signingRequests(unsigned);
      expect(more).toEqual([]);
      expect(request?.curve).toBe("secp256k1");
      expect(bytesToHex(request?.data ?? new Uint8Array())).toBe(keccak256(unsigned));
      const signature = signDigest(request?.data ?? new Uint8Array()).toCompactRawBytes();
      const signed = assemble(unsigned, [signature], { publicKey: PUB_ONE, assets: ASSETS });
      const viemSigned = await privateKeyToAccount(KEY_ONE).signTransaction(parseTransaction(unsigned));
      expect(signed.raw).toBe(viemSigned);
      expect(signed.txid).toBe(keccak256(viemSigned));
      expect(signed.decoded.from).toBe(ADDRESS_ONE);
      expect(decodeSigned(signed.raw, ASSETS)).toEqual(signed.decoded);
    }
  });

  it("normalises a high-S signature to its low-S twin (same transaction as from the low-S one)", () => {
    const unsigned = buildTransfer(ethTransfer);
    const [request] = signingRequests(unsigned);
    const low = signDigest(request?.data ?? new Uint8Array());
    const high = new secp256k1.Signature(low.r, secp256k1.CURVE.n - low.s);
    expect(high.hasHighS()).toBe(true);
    const fromHigh = assemble(unsigned, [high.toCompactRawBytes()], { publicKey: PUB_ONE, assets: ASSETS });
    const fromLow = assemble(unsigned, [low.toCompactRawBytes()], { publicKey: PUB_ONE, assets: ASSETS });
    expect(fromHigh.raw).toBe(fromLow.raw);
    const tx = parseTransaction(fromHigh.raw as `0x${string}`);
    expect(BigInt(tx.s ?? "0x0")).toBe(low.s);
  });

  it("finds yParity 0 and 1 by recovery (both occur over a few nonces)", () => {
    const seen = new Set<number>();
    for (let nonce = 0; nonce < 12 && seen.size < 2; nonce++) {
      const unsigned = buildTransfer({ ...ethTransfer, nonce });
      const [request] = signingRequests(unsigned);
      const signature = signDigest(request?.data ?? new Uint8Array());
      const signed = assemble(unsigned, [signature.toCompactRawBytes()], {
        publicKey: PUB_ONE,
        assets: ASSETS,
      });
      const yParity = parseTransaction(signed.raw as `0x${string}`).yParity ?? -1;
      expect(yParity).toBe(signature.recovery);
      seen.add(yParity);
    }
    expect([...seen].sort()).toEqual([0, 1]);
  });

  it("refuses a signature by another key, over other bytes, or malformed", () => {
    const unsigned = buildTransfer(ethTransfer);
    const [request] = signingRequests(unsigned);
    const digest = request?.data ?? new Uint8Array();
    const otherKey = secp256k1
      .sign(digest, hexToBytes(`0x${"0".repeat(63)}2`), { prehash: false })
      .toCompactRawBytes();
    expect(codeOf(() => assemble(unsigned, [otherKey], { publicKey: PUB_ONE, assets: ASSETS }))).toMatch(
      /^INTERNAL: .*does not verify/,
    );
    const otherTx = signingRequests(buildTransfer({ ...ethTransfer, nonce: 8 }))[0]?.data ?? new Uint8Array();
    const otherBytes = signDigest(otherTx).toCompactRawBytes();
    expect(codeOf(() => assemble(unsigned, [otherBytes], { publicKey: PUB_ONE, assets: ASSETS }))).toMatch(
      /does not verify/,
    );
    expect(
      codeOf(() => assemble(unsigned, [new Uint8Array(63)], { publicKey: PUB_ONE, assets: ASSETS })),
    ).toMatch(/64 bytes/);
    expect(
      codeOf(() => assemble(unsigned, [new Uint8Array(64)], { publicKey: PUB_ONE, assets: ASSETS })),
    ).toMatch(/out of range/);
    expect(codeOf(() => assemble(unsigned, [], { publicKey: PUB_ONE, assets: ASSETS }))).toMatch(
      /one signature/,
    );
  });
});

describe("verifiedParity", () => {
  it("agrees with noble's verify and recovery on valid and tampered signatures", () => {
    const agree = { valid: 0, refused: 0 };
    for (let i = 0; i < 20; i++) {
      const privateKey = secp256k1.utils.randomPrivateKey();
      const publicKey = secp256k1.getPublicKey(privateKey, false);
      const digest = hexToBytes(keccak256(new Uint8Array([i, 7, 7])));
      const signature = secp256k1.sign(digest, privateKey, { prehash: false, lowS: i % 2 === 0 });
      expect(verifiedParity(digest, signature.r, signature.s, publicKey)).toBe(signature.recovery);
      agree.valid++;
      const other = secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), false);
      const otherDigest = hexToBytes(keccak256(new Uint8Array([i, 8])));
      const tampered: [Uint8Array, bigint, bigint, Uint8Array][] = [
        [otherDigest, signature.r, signature.s, publicKey],
        [digest, signature.r, signature.s, other],
        [digest, signature.r + 1n, signature.s, publicKey],
        [digest, signature.r, signature.s ^ 1n, publicKey],
      ];
      for (const [d, r, sv, key] of tampered) {
        expect(verifiedParity(d, r, sv, key)).toBeNull();
        expect(
          secp256k1.verify(new secp256k1.Signature(r, sv).toCompactRawBytes(), d, key, {
            prehash: false,
            lowS: false,
          }),
        ).toBe(false);
        agree.refused++;
      }
    }
    expect(agree).toEqual({ valid: 20, refused: 80 });
  });

  it("refuses out-of-range values and a point off the curve", () => {
    const digest = new Uint8Array(32).fill(1);
    const publicKey = hexToBytes(`0x${PUB_ONE}`);
    expect(verifiedParity(digest, 0n, 1n, publicKey)).toBeNull();
    expect(verifiedParity(digest, 1n, secp256k1.CURVE.n, publicKey)).toBeNull();
    const offCurve = Uint8Array.from(publicKey);
    offCurve[64] = (offCurve[64] ?? 0) ^ 1;
    expect(verifiedParity(digest, 1n, 1n, offCurve)).toBeNull();
    expect(verifiedParity(new Uint8Array(31), 1n, 1n, publicKey)).toBeNull();
  });
});

describe("replaceFees", () => {
  it("keeps the transfer and nonce, raises both fees, and refuses a bump under 10 %", () => {
    const unsigned = buildTransfer({ ...ethTransfer, asset: USDC, amount: 9n });
    const faster = replaceFees(unsigned, {
      maxFeePerGas: 33_000_000_000n,
      maxPriorityFeePerGas: 1_100_000_000n,
    });
    const before = decodeUnsigned(unsigned, { assets: ASSETS, from: ADDRESS_ONE });
    const after = decodeUnsigned(faster, { assets: ASSETS, from: ADDRESS_ONE });
    expect(after.transfers).toEqual(before.transfers);
    expect(after.nonce).toBe(before.nonce);
    expect(after.maxFee).toBe(ERC20_TRANSFER_GAS * 33_000_000_000n);
    expect(parseTransaction(faster)).toMatchObject({
      maxFeePerGas: 33_000_000_000n,
      maxPriorityFeePerGas: 1_100_000_000n,
    });
    expect(
      codeOf(() =>
        replaceFees(unsigned, { maxFeePerGas: 32_999_999_999n, maxPriorityFeePerGas: 2n * 10n ** 9n }),
      ),
    ).toMatch(/max fee must be at least 33000000000/);
    expect(
      codeOf(() =>
        replaceFees(unsigned, { maxFeePerGas: 40n * 10n ** 9n, maxPriorityFeePerGas: 1_099_999_999n }),
      ),
    ).toMatch(/priority fee must be at least 1100000000/);
  });
});
