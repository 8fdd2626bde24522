// Chain reorganisations (issue 14) against a real EVM: EDR, the EVM inside Hardhat, with its evm_snapshot /
// evm_revert taking the chain back to before a block and mining others in its place — the block a withdrawal was
// seen in leaves the chain, as in a reorganisation. On PGlite and PostgreSQL, with a transaction signed by a real
// SoftHSM key and recorded by the executor's recordSigned (its withdrawal.signed event). Shown: a withdrawal seen
// at 1 of 3 confirmations whose block is reorganised away is recorded withdrawal.reorged and not confirmed, the
// node is sent the same signed bytes again, and the same transaction, mined again, is confirmed once at depth in
// its new block; two trackers at once record the reorganisation once; a transaction whose nonce another one took
// on the new chain is reorged, then dead; a reverted transaction is failed only at the configured depth.
import { randomBytes } from "node:crypto";
import { eq } from "drizzle-orm";
import type { Hex } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditEvents, keys, withdrawals } from "@/db/schema";
import { insertExecutedWithdrawal } from "./testing/executed-operation";
import type { EthereumClient } from "@/server/chains/types";
import { decodedToJson } from "@/server/custody";
import * as ethereum from "@/server/custody/ethereum";
import { startTestEvm, type TestEvm } from "@/server/custody/testing/evm";
import type { Asset, SignedTransaction } from "@/server/custody/types";
import { closeHsm } from "@/server/hsm";
import { makeKeyOnToken } from "@/server/hsm/testing/key-on-token";
import { signOnToken } from "@/server/hsm/testing/sign-on-token";
import { createTestToken, type TestToken } from "@/server/hsm/testing/test-token";
import { ensurePolicySeeded } from "@/server/operations/policy-store";
import { testEngines, useTestDatabase } from "@/server/testing/test-db";
import { type TrackerDeps, trackWithdrawals } from "./broadcast";
import { recordSigned } from "./store";

const ETH: Asset = { chain: "ethereum", symbol: "ETH", name: "Ether", decimals: 18, kind: "native" };
const DESTINATION = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

let token: TestToken;
let ecKey: { ref: string; publicKey: string };

beforeAll(async () => {
  token = createTestToken("kw-reorg");
  ecKey = await makeKeyOnToken(token, { curve: "secp256k1", label: "reorg ethereum" });
});
afterAll(() => {
  closeHsm();
  token?.cleanup();
});

describe.each(testEngines())("chain reorganisations on EDR, %s", (engine) => {
  const db = useTestDatabase(engine);
  let evm: TestEvm;
  let from: string;
  let keyId: string;
  let policyVersion: number;
  /** Every raw transaction the tracker sent to the node, in order. */
  const sent: string[] = [];
  let recording: EthereumClient;
  let at = new Date("2026-12-07T12:00:00Z");
  const clock = () => at;
  const advance = (ms = 1000) => {
    at = new Date(at.getTime() + ms);
  };

  beforeAll(async () => {
    // Blocks only when the test mines them, as a real chain's come on their own time.
    evm = await startTestEvm({ autoMine: false });
    from = ethereum.ethereumAddress(ecKey.publicKey);
    await evm.setBalance(from, 10n ** 18n);
    const real = evm.client;
    // The real client, with what the tracker broadcasts written down (every call goes to EDR).
    recording = {
      chainId: () => real.chainId(),
      pendingNonce: (address) => real.pendingNonce(address),
      minedNonce: (address) => real.minedNonce(address),
      fees: () => real.fees(),
      balance: (address, asset) => real.balance(address, asset),
      broadcast: (raw) => {
        sent.push(raw);
        return real.broadcast(raw);
      },
      status: (txid, s) => real.status(txid, s),
    };
    policyVersion = (await ensurePolicySeeded(db(), at)).version;
    const [key] = await db()
      .insert(keys)
      .values({
        label: "reorg secp256k1",
        curve: "secp256k1",
        state: "active",
        hsmRef: randomBytes(16).toString("hex"),
        publicKey: ecKey.publicKey,
        exportable: "never",
      })
      .returning({ id: keys.id });
    if (!key) throw new Error("key not inserted");
    keyId = key.id;
  });

  const deps = (overrides: Partial<TrackerDeps> = {}): TrackerDeps => ({
    db: db(),
    clock,
    clients: { ethereum: recording },
    confirmations: { ethereum: 3, solana: 1 },
    ...overrides,
  });

  async function signedTransfer(
    nonce: number,
    options: { tip?: bigint; asset?: Asset; amount?: bigint } = {},
  ) {
    const tip = options.tip ?? 10n ** 9n;
    const fees = await evm.client.fees();
    const unsigned = ethereum.buildTransfer({
      chainId: evm.chainId,
      asset: options.asset ?? ETH,
      amount: options.amount ?? 10n ** 15n,
      destination: DESTINATION,
      nonce,
      maxFeePerGas: fees.baseFeePerGas * 2n + tip,
      maxPriorityFeePerGas: tip,
    });
    const sigs = await Promise.all(
      ethereum.signingRequests(unsigned).map((r) => signOnToken(token, ecKey.ref, r.data)),
    );
    const signed = ethereum.assemble(unsigned, sigs, {
      publicKey: ecKey.publicKey,
      assets: [ETH, ...(options.asset ? [options.asset] : [])],
    });
    return { unsigned, signed };
  }

  /** An executed withdrawal operation whose transaction the executor recorded signed (withdrawal.signed). */
  async function executed(nonce: number, built: { unsigned: Hex; signed: SignedTransaction }) {
    const transfer = built.signed.decoded.transfers[0];
    const operationId = await insertExecutedWithdrawal(db(), {
      keyId,
      chain: "ethereum",
      transfer,
      policyVersion,
      at,
    });
    const [row] = await db()
      .insert(withdrawals)
      .values({
        operationId,
        chain: "ethereum",
        network: String(evm.chainId),
        keyId,
        asset: transfer?.asset ?? "",
        nonce: String(nonce),
        unsigned: built.unsigned,
        decoded: decodedToJson(built.signed.decoded),
        state: "built",
      })
      .returning({ id: withdrawals.id });
    if (!row) throw new Error("withdrawal not inserted");
    await db().transaction((tx) =>
      recordSigned(tx, { operationId, withdrawalId: row.id, signed: built.signed }, at),
    );
    return { id: row.id, operationId };
  }

  async function rowOf(id: string) {
    const [r] = await db().select().from(withdrawals).where(eq(withdrawals.id, id));
    if (!r) throw new Error("no row");
    return r;
  }
  async function events(operationId: string) {
    return db()
      .select({ action: auditEvents.action, data: auditEvents.data })
      .from(auditEvents)
      .where(eq(auditEvents.subject, `operation:${operationId}`))
      .orderBy(auditEvents.at, auditEvents.id);
  }
  async function blockHashAt(number: number): Promise<string> {
    const block = (await evm.rpc("eth_getBlockByNumber", [`0x${number.toString(16)}`, false])) as {
      hash: string;
    } | null;
    if (block === null) throw new Error(`no block ${number}`);
    return block.hash;
  }
  async function snapshot(): Promise<string> {
    const id = await evm.rpc("evm_snapshot");
    if (typeof id !== "string") throw new Error("evm_snapshot gave no id");
    return id;
  }
  async function revert(id: string) {
    expect(await evm.rpc("evm_revert", [id])).toBe(true);
  }

  it("a block reorganised away at 1 of 3 confirmations: reorged, not confirmed; the same transaction mined again is confirmed once at depth", async () => {
    const nonce = await evm.client.pendingNonce(from);
    const beforeInclusion = await snapshot();
    const built = await signedTransfer(nonce);
    const w = await executed(nonce, built);
    const sentBefore = sent.length;

    advance();
    await trackWithdrawals(deps());
    expect(await rowOf(w.id)).toMatchObject({ state: "broadcast", confirmations: 0, block: null });

    await evm.mine(1);
    advance();
    await trackWithdrawals(deps());
    const seen = await rowOf(w.id);
    const receipt = await evm.receipt(built.signed.txid);
    if (receipt === null) throw new Error("not mined");
    expect(seen).toMatchObject({
      state: "broadcast",
      confirmations: 1,
      block: receipt.blockHash,
      blockNumber: Number(receipt.blockNumber),
    });

    // The chain goes back to before that block and grows two other blocks: the inclusion is gone, and so is the
    // transaction from the node's pool (EDR reverts the pool with the chain).
    await revert(beforeInclusion);
    await evm.mine(2);
    expect(await blockHashAt(Number(receipt.blockNumber))).not.toBe(receipt.blockHash);
    expect(await evm.receipt(built.signed.txid)).toBeNull();

    // Two trackers at once: the reorganisation is recorded once.
    advance();
    const reports = await Promise.all([trackWithdrawals(deps()), trackWithdrawals(deps())]);
    expect(reports.reduce((n, r) => n + r.reorged, 0)).toBe(1);
    expect(reports.reduce((n, r) => n + r.confirmed, 0)).toBe(0);
    expect(await rowOf(w.id)).toMatchObject({
      state: "broadcast",
      confirmations: 0,
      block: null,
      blockNumber: null,
    });
    const reorged = (await events(w.operationId)).filter((e) => e.action === "withdrawal.reorged");
    expect(reorged).toEqual([
      {
        action: "withdrawal.reorged",
        data: {
          operationId: w.operationId,
          withdrawalId: w.id,
          chain: "ethereum",
          txid: built.signed.txid,
          block: receipt.blockHash,
          blockNumber: Number(receipt.blockNumber),
          confirmations: 1,
          now: null,
        },
      },
    ]);
    // The node lost it with its block: the same signed bytes were sent again (nothing else ever was).
    expect(sent.length - sentBefore).toBeGreaterThanOrEqual(2);
    expect(new Set(sent.slice(sentBefore))).toEqual(new Set([built.signed.raw]));

    // Mined again, in a block of the new chain, and followed to 3 confirmations there.
    await evm.mine(1);
    advance();
    await trackWithdrawals(deps());
    const again = await evm.receipt(built.signed.txid);
    if (again === null) throw new Error("not mined again");
    expect(again.blockHash).not.toBe(receipt.blockHash);
    expect(await rowOf(w.id)).toMatchObject({ state: "broadcast", confirmations: 1, block: again.blockHash });
    await evm.mine(1);
    advance();
    await trackWithdrawals(deps());
    expect(await rowOf(w.id)).toMatchObject({ state: "broadcast", confirmations: 2 });
    await evm.mine(1);
    advance();
    expect((await trackWithdrawals(deps())).confirmed).toBe(1);
    expect(await rowOf(w.id)).toMatchObject({
      state: "confirmed",
      confirmations: 3,
      block: again.blockHash,
      blockNumber: Number(again.blockNumber),
    });
    // Later looks leave it alone.
    await evm.mine(1);
    advance();
    await trackWithdrawals(deps());
    expect((await rowOf(w.id)).state).toBe("confirmed");

    const trail = await events(w.operationId);
    expect(trail.map((e) => e.action)).toEqual([
      "withdrawal.signed",
      "withdrawal.broadcast",
      "withdrawal.reorged",
      "withdrawal.confirmed",
    ]);
    expect(trail[3]?.data).toMatchObject({
      txid: built.signed.txid,
      block: again.blockHash,
      blockNumber: Number(again.blockNumber),
      confirmations: 3,
    });
    // One signed transaction, mined once: the key's nonce moved by one, the transaction is in the confirmed block.
    expect(await evm.client.minedNonce(from)).toBe(nonce + 1);
    expect(new Set(sent.slice(sentBefore))).toEqual(new Set([built.signed.raw]));
  });

  it("after a reorganisation, another transaction takes the nonce on the new chain: reorged, then dead, never re-sent", async () => {
    const nonce = await evm.client.pendingNonce(from);
    const beforeInclusion = await snapshot();
    const ours = await signedTransfer(nonce);
    const w = await executed(nonce, ours);
    const sentBefore = sent.length;
    advance();
    await trackWithdrawals(deps());
    await evm.mine(1);
    advance();
    await trackWithdrawals(deps());
    expect(await rowOf(w.id)).toMatchObject({ state: "broadcast", confirmations: 1 });

    await revert(beforeInclusion);
    // On the new chain the key's nonce goes to another transaction (signed elsewhere with the same key).
    const other = await signedTransfer(nonce, { tip: 5n * 10n ** 9n });
    await evm.client.broadcast(other.signed.raw);
    await evm.mine(1);

    advance();
    expect((await trackWithdrawals(deps())).reorged).toBe(1);
    expect(await rowOf(w.id)).toMatchObject({ state: "broadcast", block: null });
    advance();
    expect((await trackWithdrawals(deps())).dead).toBe(1);
    expect((await rowOf(w.id)).reason).toMatch(/was used by another transaction/);
    expect((await events(w.operationId)).map((e) => e.action)).toEqual([
      "withdrawal.signed",
      "withdrawal.broadcast",
      "withdrawal.reorged",
      "withdrawal.dead",
    ]);
    // Sent once, at the broadcast: a dead transaction is not sent again after the reorganisation.
    expect(sent.slice(sentBefore)).toEqual([ours.signed.raw]);
  });

  it("a reverted transaction is failed only at the configured depth, in its block", async () => {
    const usdc = await evm.deployToken({ holder: from, amount: 5_000_000n });
    const nonce = await evm.client.pendingNonce(from);
    // More than the key holds: mined, and reverted.
    const built = await signedTransfer(nonce, { asset: usdc, amount: 9_000_000n });
    const w = await executed(nonce, built);
    advance();
    await trackWithdrawals(deps());
    await evm.mine(1);
    advance();
    await trackWithdrawals(deps());
    const receipt = await evm.receipt(built.signed.txid);
    expect(receipt?.status).toBe("reverted");
    expect(await rowOf(w.id)).toMatchObject({
      state: "broadcast",
      confirmations: 1,
      block: receipt?.blockHash,
    });
    await evm.mine(2);
    advance();
    expect((await trackWithdrawals(deps())).failed).toBe(1);
    expect(await rowOf(w.id)).toMatchObject({
      state: "failed",
      confirmations: 3,
      block: receipt?.blockHash,
      reason: expect.stringMatching(/reverted/),
    });
    expect((await events(w.operationId)).map((e) => e.action)).toEqual([
      "withdrawal.signed",
      "withdrawal.broadcast",
      "withdrawal.failed",
    ]);
  });
});
