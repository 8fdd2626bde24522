// ethereumRpcClient against real chains: EDR in-process over EIP-1193 (nonces pending vs mined, fees, balances,
// and every BroadcastStatus: pending, confirmed with growing confirmations, failed on a revert, dead when another
// transaction takes the nonce, unknown), and the same client over HTTP against scripts/evm-node.mjs started as a
// child process (URL, funded keys and the test token from its --json line). Transactions here are signed with the
// chain's own test keys by viem: the HSM path is proven in server/custody/ethereum.integration.test.ts.
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { type Hex, keccak256, parseTransaction, toHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildTransfer, REPLACEMENT_BUMP_PERCENT, replaceFees, suggestFees } from "@/server/custody/ethereum";
import { startTestEvm, type TestEvm } from "@/server/custody/testing/evm";
import type { Asset } from "@/server/custody/types";
import { ethereumRpcClient } from "./ethereum-rpc";
import type { EthereumClient } from "./types";

const ETH: Asset = { chain: "ethereum", symbol: "ETH", name: "Ether", decimals: 18, kind: "native" };
const DESTINATION = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

async function signedTransfer(
  client: EthereumClient,
  privateKey: Hex,
  options: { asset?: Asset; amount?: bigint; nonce?: number; tipBoost?: bigint } = {},
): Promise<{ raw: Hex; nonce: number; from: string }> {
  const account = privateKeyToAccount(privateKey);
  const nonce = options.nonce ?? (await client.pendingNonce(account.address));
  const fees = suggestFees(await client.fees());
  const boost = options.tipBoost ?? 0n;
  const unsigned = buildTransfer({
    chainId: await client.chainId(),
    asset: options.asset ?? ETH,
    amount: options.amount ?? 1_000n,
    destination: DESTINATION,
    nonce,
    maxFeePerGas: fees.maxFeePerGas + boost,
    maxPriorityFeePerGas: fees.maxPriorityFeePerGas + boost,
  });
  const raw = await account.signTransaction(parseTransaction(unsigned));
  return { raw, nonce, from: account.address };
}

describe("ethereumRpcClient over EDR (EIP-1193, in process)", () => {
  let evm: TestEvm;
  let key: Hex;
  let sender: string;
  let token: Asset;

  beforeAll(async () => {
    evm = await startTestEvm({ autoMine: false });
    const [first] = evm.accounts;
    if (first === undefined) throw new Error("no funded account");
    key = first.privateKey;
    sender = first.address;
    await evm.setAutoMine(true);
    token = await evm.deployToken({ holder: sender, amount: 5_000_000n });
    await evm.setAutoMine(false);
  });

  it("reads the chain id, fees and balances of ETH and the token", async () => {
    const { client } = evm;
    expect(await client.chainId()).toBe(evm.chainId);
    const fees = await client.fees();
    expect(fees.baseFeePerGas).toBeGreaterThan(0n);
    expect(fees.maxPriorityFeePerGas).toBeGreaterThanOrEqual(0n);
    expect(await client.balance(sender, token)).toBe(5_000_000n);
    expect(await client.balance(DESTINATION, token)).toBe(0n);
    expect(await client.balance(sender, ETH)).toBeGreaterThan(10n ** 21n);
  });

  it("counts pending nonces apart from mined ones; status goes pending → confirmed, confirmations grow", async () => {
    const { client } = evm;
    const mined = await client.minedNonce(sender);
    const tx = await signedTransfer(client, key);
    const txid = await client.broadcast(tx.raw);
    expect(txid).toBe(keccak256(tx.raw));
    expect(await client.pendingNonce(sender)).toBe(mined + 1);
    expect(await client.minedNonce(sender)).toBe(mined);
    expect(await client.status(txid, { from: sender, nonce: tx.nonce })).toEqual({ state: "pending" });

    await evm.mine();
    const confirmed = await client.status(txid, { from: sender, nonce: tx.nonce });
    expect(confirmed).toMatchObject({ state: "confirmed", confirmations: 1 });
    await evm.mine(2);
    expect(await client.status(txid, { from: sender, nonce: tx.nonce })).toEqual({
      ...confirmed,
      confirmations: 3,
    });
    expect(await client.minedNonce(sender)).toBe(mined + 1);
  });

  it("says failed for a mined transaction that reverted (a token transfer above the balance)", async () => {
    const { client } = evm;
    const tx = await signedTransfer(client, key, { asset: token, amount: 9_000_000n });
    const txid = await client.broadcast(tx.raw);
    await evm.mine();
    const status = await client.status(txid, { from: sender, nonce: tx.nonce });
    expect(status).toMatchObject({ state: "failed" });
    expect(await client.balance(sender, token)).toBe(5_000_000n);
  });

  it("says dead once another transaction mined the nonce (a replacement with a higher fee)", async () => {
    const { client } = evm;
    const first = await signedTransfer(client, key, { amount: 1n });
    const firstId = await client.broadcast(first.raw);
    const replacement = await signedTransfer(client, key, {
      amount: 2n,
      nonce: first.nonce,
      tipBoost: 10n ** 10n,
    });
    const replacementId = await client.broadcast(replacement.raw);
    expect(replacementId).not.toBe(firstId);
    await evm.mine();
    expect(await client.status(replacementId, { from: sender, nonce: first.nonce })).toMatchObject({
      state: "confirmed",
    });
    const dead = await client.status(firstId, { from: sender, nonce: first.nonce });
    expect(dead.state).toBe("dead");
    if (dead.state === "dead") expect(dead.reason).toMatch(new RegExp(`Nonce ${first.nonce} of ${sender}`));
  });

  it("takes a speed-up made by replaceFees (10 % more on both fees), refuses a smaller bump, and mines one", async () => {
    const { client } = evm;
    const account = privateKeyToAccount(key);
    const intent = {
      chainId: evm.chainId,
      asset: ETH,
      amount: 3n,
      destination: DESTINATION,
      nonce: await client.pendingNonce(sender),
      ...suggestFees(await client.fees()),
    };
    const unsigned = buildTransfer(intent);
    const original = parseTransaction(unsigned);
    const stuckId = await client.broadcast(await account.signTransaction(original));
    const bump = (fee: bigint | undefined, percent: bigint) => ((fee ?? 0n) * (100n + percent) + 99n) / 100n;
    // Below the node's price bump: replaceFees refuses it, and so does EDR when the bytes are made by hand.
    const tooLittle = {
      maxFeePerGas: bump(original.maxFeePerGas, 5n),
      maxPriorityFeePerGas: bump(original.maxPriorityFeePerGas, 5n),
    };
    expect(() => replaceFees(unsigned, tooLittle)).toThrow(/at least/);
    const underpriced = await account.signTransaction(
      parseTransaction(buildTransfer({ ...intent, ...tooLittle })),
    );
    await expect(client.broadcast(underpriced)).rejects.toThrow(/underpriced|replacement/i);

    const faster = replaceFees(unsigned, {
      maxFeePerGas: bump(original.maxFeePerGas, REPLACEMENT_BUMP_PERCENT),
      maxPriorityFeePerGas: bump(original.maxPriorityFeePerGas, REPLACEMENT_BUMP_PERCENT),
    });
    const fasterId = await client.broadcast(await account.signTransaction(parseTransaction(faster)));
    await evm.mine();
    const nonce = original.nonce ?? -1;
    expect(await client.status(fasterId, { from: sender, nonce })).toMatchObject({ state: "confirmed" });
    expect(await client.status(stuckId, { from: sender, nonce })).toMatchObject({ state: "dead" });
  });

  it("says unknown for a hash the node never saw while the nonce is unused", async () => {
    const nonce = await evm.client.pendingNonce(sender);
    expect(await evm.client.status(toHex(1n, { size: 32 }), { from: sender, nonce })).toEqual({
      state: "unknown",
    });
  });

  it("refuses a transaction for another chain (the node's own check)", async () => {
    const account = privateKeyToAccount(key);
    const unsigned = buildTransfer({
      chainId: 1,
      asset: ETH,
      amount: 1n,
      destination: DESTINATION,
      nonce: await evm.client.pendingNonce(sender),
      maxFeePerGas: 10n ** 10n,
      maxPriorityFeePerGas: 1n,
    });
    await expect(
      evm.client.broadcast(await account.signTransaction(parseTransaction(unsigned))),
    ).rejects.toThrow(/chain/i);
  });
});

describe("ethereumRpcClient over HTTP, against scripts/evm-node.mjs", () => {
  let node: ChildProcess;
  let started: {
    url: string;
    chainId: number;
    accounts: { address: string; privateKey: Hex }[];
    token: Asset;
  };

  beforeAll(async () => {
    const script = path.resolve(import.meta.dirname, "../../scripts/evm-node.mjs");
    node = spawn(process.execPath, [script, "--port", "0", "--json", "--token-holder", DESTINATION], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const stdout = node.stdout;
    if (stdout === null) throw new Error("no stdout from evm-node");
    const line = await new Promise<string>((resolve, reject) => {
      node.once("exit", (code) => reject(new Error(`evm-node exited (${code}) before printing its URL`)));
      createInterface({ input: stdout }).once("line", resolve);
    });
    started = JSON.parse(line);
  });

  afterAll(async () => {
    if (node?.exitCode === null) {
      const exited = new Promise((resolve) => node.once("exit", resolve));
      node.kill("SIGTERM");
      await exited;
    }
  });

  it("prints its URL, funded keys and the token; serves chain data and mines what is broadcast", async () => {
    expect(started.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const probe = await fetch(started.url);
    expect(probe.status).toBe(200);
    expect(await probe.text()).toMatch(/chain id 31337/);
    const client = ethereumRpcClient({ url: started.url });
    expect(await client.chainId()).toBe(started.chainId);
    expect(await client.balance(DESTINATION, started.token)).toBe(1_000_000_000n);
    const [first] = started.accounts;
    if (first === undefined) throw new Error("no funded account printed");
    // The first account deployed the token: 10,000 ETH less that gas.
    expect(await client.balance(first.address, ETH)).toBeGreaterThan(9_999n * 10n ** 18n);
    const tx = await signedTransfer(client, first.privateKey, { amount: 5n });
    const before = await client.balance(DESTINATION, ETH);
    const txid = await client.broadcast(tx.raw);
    expect(await client.status(txid, { from: first.address, nonce: tx.nonce })).toMatchObject({
      state: "confirmed",
      confirmations: 1,
    });
    expect(await client.balance(DESTINATION, ETH)).toBe(before + 5n);
  });
});
